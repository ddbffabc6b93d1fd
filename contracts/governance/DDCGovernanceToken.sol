// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";
import {Time} from "@openzeppelin/contracts/utils/types/Time.sol";

/// @title The DDC governance token: voting power in the DAO that manages clusters and the core's
/// global parameters.
/// @notice A plain OpenZeppelin ERC20Votes + ERC20Permit token with a fixed supply minted once to
/// `holder`. Its clock is the block timestamp (`CLOCK_MODE() == "mode=timestamp"`), so voting
/// periods mean the same on every chain, L2s included. Holders delegate (to themselves or
/// others) to vote; votes acquired after a proposal's snapshot do not count for it.
contract DDCGovernanceToken is ERC20, ERC20Permit, ERC20Votes {
    /// @notice Mints the whole, fixed supply to `holder`.
    /// @param name_ The token's name (also its EIP-712 domain name, for permits).
    /// @param symbol_ Its symbol.
    /// @param holder The account the whole supply is minted to.
    /// @param supply The fixed supply, in token units.
    constructor(
        string memory name_,
        string memory symbol_,
        address holder,
        uint256 supply
    ) ERC20(name_, symbol_) ERC20Permit(name_) {
        _mint(holder, supply);
    }

    /// @notice The block timestamp (EIP-6372).
    /// @return The clock now.
    function clock() public view override returns (uint48) {
        return Time.timestamp();
    }

    /// @notice Says the clock is the block timestamp (EIP-6372).
    /// @return "mode=timestamp".
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() public pure override returns (string memory) {
        return "mode=timestamp";
    }

    /// @notice The next permit nonce of `owner` (EIP-2612).
    /// @param owner The account.
    /// @return Its nonce.
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }
}
