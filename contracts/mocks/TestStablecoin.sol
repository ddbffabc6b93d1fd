// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice The payment token of local networks: a 6-decimal stablecoin with EIP-2612 permits,
/// minted by its owner (the deployer) to demo parties and tests. Live networks use a real one.
contract TestStablecoin is ERC20, ERC20Permit, Ownable {
    constructor(address owner_) ERC20("DDC Test Dollar", "tUSD") ERC20Permit("DDC Test Dollar") Ownable(owner_) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
