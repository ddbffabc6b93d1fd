// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {DDCConstants} from "../interfaces/IDDCTypes.sol";

/// @notice One owner's money in one cluster.
/// @dev Bit layout:
///   hot (slot 0, written by a settlement that moves money):
///     amount (112) | checkpoint (120) << 112 | remainder (23) << 232 | lazy (1) << 255
///   slot 1 (read by settlements; written only when explicit debt is recorded or repaid):
///     debt (112) | units (64) << 112 | arrearsSince (40) << 176
///   slot 2: unlockAmount (112) | unlockAt (40) | capUnits (64)
/// `checkpoint` is the cluster's price index at the last settlement; `remainder` is the part of
/// `units × Δindex` below one token unit × MONTH (< 2^22), carried to the next settlement so that
/// settling k times charges exactly what settling once does.
///
/// Two modes. Normal (`lazy` = 0): `amount` is the balance, `debt` the recorded debt. In arrears
/// (`lazy` = 1), set by a batch settlement that ran the balance out: the checkpoint stays where it
/// was, `amount` is what was paid since it, and the debt is derived, exactly:
/// `debt + floor((units × (index − checkpoint) + remainder) / MONTH) − amount`. So a ledger going
/// into arrears costs one slot write, and a ledger already in arrears none. Any other operation on
/// the ledger first turns it back to normal mode, recording the debt and when it began.
///
/// `units` is what the owner's open buckets are billed for (Σ billed); `capUnits` is what they can
/// be billed for (Σ cap, and a bucket's billed units never pass its cap): the runway is kept on
/// `capUnits`, so a pay-per-use bucket (reservation 0) needs its runway before it is ever billed.
struct Ledger {
    uint256 hot;
    uint112 debt;
    uint64 units;
    uint40 arrearsSince;
    uint112 unlockAmount;
    uint40 unlockAt;
    uint64 capUnits;
}

/// @notice The rent arithmetic of a ledger. Rounding always favours the owner by less than one
/// token unit, and that fraction is carried, never lost: nobody gains value from rounding.
library LedgerMath {
    using SafeCast for uint256;

    uint256 internal constant MASK_64 = (1 << 64) - 1;
    uint256 internal constant MASK_112 = (1 << 112) - 1;
    uint256 internal constant MASK_120 = (1 << 120) - 1;
    uint256 internal constant MASK_23 = (1 << 23) - 1;
    uint256 internal constant LAZY = 1 << 255;

    /// @dev Unpacks the hot slot of a ledger in normal mode (or the fields of one in arrears mode).
    function unpack(uint256 hot) internal pure returns (uint256 amount, uint256 checkpoint, uint256 remainder) {
        amount = hot & MASK_112;
        checkpoint = (hot >> 112) & MASK_120;
        remainder = (hot >> 232) & MASK_23;
    }

    /// @dev Packs the hot slot in normal mode; reverts if the balance passes 112 bits or the index
    /// 120 bits.
    function pack(uint256 balance, uint256 checkpoint, uint256 remainder) internal pure returns (uint256) {
        return uint256(balance.toUint112()) | (uint256(checkpoint.toUint120()) << 112) | (remainder << 232);
    }

    /// @dev Rent accrued by `units` as the index moved from `checkpoint` to `indexNow`, rounded
    /// down (towards the owner), with the new remainder (< MONTH, so it fits 24 bits).
    function accrued(
        uint256 units,
        uint256 checkpoint,
        uint256 remainder,
        uint256 indexNow
    ) internal pure returns (uint256 amount, uint256 newRemainder) {
        uint256 scaled = units * (indexNow - checkpoint) + remainder;
        amount = scaled / DDCConstants.MONTH;
        newRemainder = scaled % DDCConstants.MONTH;
    }

    /// @dev The balance a ledger keeps while it has open buckets: `units × price × grace / MONTH`,
    /// rounded up (towards the providers' safety).
    function runway(uint256 units, uint256 price, uint256 grace) internal pure returns (uint256) {
        uint256 scaled = units * price * grace;
        return scaled == 0 ? 0 : (scaled - 1) / DDCConstants.MONTH + 1;
    }
}
