// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @notice A 6-decimal stablecoin whose owner can blacklist addresses, as some real stablecoins do:
/// a transfer (or mint) to or from a blacklisted address reverts.
contract BlacklistToken is ERC20, Ownable {
    /// @dev `account` is blacklisted: it can neither send nor receive.
    error BlacklistedAccount(address account);

    event BlacklistChanged(address indexed account, bool blacklisted);

    mapping(address account => bool) public isBlacklisted;

    constructor(address owner_) ERC20("Blacklist Dollar", "bUSD") Ownable(owner_) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    function setBlacklisted(address account, bool blacklisted) external onlyOwner {
        isBlacklisted[account] = blacklisted;
        emit BlacklistChanged(account, blacklisted);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (isBlacklisted[from]) revert BlacklistedAccount(from);
        if (isBlacklisted[to]) revert BlacklistedAccount(to);
        super._update(from, to, value);
    }
}
