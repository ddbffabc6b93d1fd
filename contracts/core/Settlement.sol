// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ClusterId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {DDCConstants, PriceCheckpoint, BucketStatus} from "../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../libraries/LedgerMath.sol";
import {CoreStorage, Cluster, Bucket} from "./CoreStorage.sol";

/// @notice Settling a ledger against its cluster's price index, and a ledger's live figures.
/// @dev Internal: compiled into the core (the batch hot path) and into the bucket logic.
library Settlement {
    using SafeCast for uint256;
    using PriceIndex for PriceState;

    /// @dev A ledger as it would be if settled now.
    struct Live {
        uint256 balance;
        uint256 accrued;
        uint256 runway;
        uint256 free;
        uint40 coveredUntil;
        uint40 arrearsSince;
    }

    /// @dev Settles a ledger against `indexNow` (the cluster's index now, from `p`). Pays
    /// `min(accrued + debt, balance)`; the rest becomes debt. Returns what was paid and the debt.
    function settle(
        Ledger storage l,
        PriceState memory p,
        PriceCheckpoint[] storage checkpoints,
        uint256 indexNow
    ) internal returns (uint256 paid, uint256 debt) {
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        uint256 oldDebt = l.debt;
        uint256 units = l.units;
        (uint256 accrued, uint256 newRemainder) = LedgerMath.accrued(units, checkpoint, remainder, indexNow);
        uint256 obligation = accrued + oldDebt;
        if (obligation <= balance) {
            paid = obligation;
        } else {
            paid = balance;
            unchecked {
                // obligation > balance.
                debt = obligation - balance;
            }
        }
        unchecked {
            // paid <= balance in both branches.
            l.hot = LedgerMath.pack(balance - paid, indexNow, newRemainder);
        }
        if (debt != oldDebt) {
            if (debt == 0) {
                l.debt = 0;
                l.arrearsSince = 0;
            } else if (oldDebt == 0) {
                // units > 0 here, since accrued > balance >= 0.
                uint256 ranOut = PriceIndex.timeAtIndex(
                    p,
                    checkpoints,
                    runOutIndex(balance, checkpoint, remainder, units)
                );
                l.debt = debt.toUint112();
                l.arrearsSince = uint40(ranOut);
            } else {
                l.debt = debt.toUint112();
            }
        }
    }

    /// @dev The first index at which a ledger of `balance` (net of debt), checkpointed at
    /// `checkpoint` with `remainder`, owes more than its balance.
    function runOutIndex(
        uint256 balance,
        uint256 checkpoint,
        uint256 remainder,
        uint256 units
    ) internal pure returns (uint256) {
        return checkpoint + Math.ceilDiv((balance + 1) * DDCConstants.MONTH - remainder, units);
    }

    /// @dev Settles one ledger outside a batch, credits the pool and emits {LedgerSettled}.
    function settleOne(address owner, ClusterId cluster, Cluster storage c, Ledger storage l) internal {
        PriceState memory p = c.price;
        (uint256 paid, uint256 debt) = settle(l, p, c.checkpoints, p.indexAt(block.timestamp));
        c.revenuePool += paid;
        emit IDDCCore.LedgerSettled(owner, cluster, paid, debt);
    }

    function live(Cluster storage c, Ledger storage l, uint256 grace) internal view returns (Live memory v) {
        PriceState memory p = c.price;
        uint256 indexNow = p.indexAt(block.timestamp);
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        uint256 units = l.units;
        (uint256 accrued, uint256 newRemainder) = LedgerMath.accrued(units, checkpoint, remainder, indexNow);
        v.balance = balance;
        v.accrued = accrued;
        v.runway = LedgerMath.runway(units, p.target(), grace);
        uint256 obligation = accrued + l.debt;
        if (obligation > balance) {
            v.arrearsSince = l.debt != 0
                ? l.arrearsSince
                : uint40(
                    PriceIndex.timeAtIndex(p, c.checkpoints, runOutIndex(balance, checkpoint, remainder, units))
                );
            v.coveredUntil = v.arrearsSince;
        } else {
            uint256 left = balance - obligation;
            v.free = left > v.runway ? left - v.runway : 0;
            v.coveredUntil = units == 0
                ? type(uint40).max
                : _coveredUntil(p, c.checkpoints, runOutIndex(left, indexNow, newRemainder, units));
        }
    }

    function _coveredUntil(
        PriceState memory p,
        PriceCheckpoint[] storage checkpoints,
        uint256 runOutIndex
    ) internal view returns (uint40) {
        return uint40(Math.min(PriceIndex.timeAtIndex(p, checkpoints, runOutIndex), type(uint40).max));
    }

    function bucketStatus(CoreStorage storage s, Bucket storage b) internal view returns (BucketStatus) {
        if (b.closed) return BucketStatus.Closed;
        uint256 grace = s.params.gracePeriod;
        Live memory v = live(s.clusters[b.cluster], s.ledgers[b.owner][b.cluster], grace);
        if (v.arrearsSince == 0) return BucketStatus.Active;
        return
            block.timestamp >= uint256(v.arrearsSince) + grace
                ? BucketStatus.Suspended
                : BucketStatus.InArrears;
    }
}
