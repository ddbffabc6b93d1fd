// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

import {ClusterId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {DDCConstants, PriceCheckpoint, BucketStatus} from "../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../libraries/LedgerMath.sol";
import {CoreStorage, Cluster, Bucket, Lookup} from "./CoreStorage.sol";

/// @notice Settling a ledger against its cluster's price index, and a ledger's live figures.
/// @dev Internal: compiled into the core (the batch hot path) and into the bucket logic.
library Settlement {
    using SafeCast for uint256;
    using PriceIndex for PriceState;

    /// @dev A ledger as it would be if settled now.
    struct Live {
        uint256 balance;
        uint256 debt;
        uint256 accrued;
        uint256 runway;
        uint256 free;
        uint40 coveredUntil;
        uint40 arrearsSince;
    }

    /// @dev Batch settlement (the hot path) against `indexNow`, the cluster's index now (from `p`;
    /// the caller checks once that it fits 120 bits). Pays `min(accrued + debt, balance)`. A ledger
    /// that cannot pay everything goes into arrears mode (see {Ledger}): one slot write, no time
    /// look-up; a ledger already in arrears mode pays nothing and is not written. Returns what was
    /// paid and the debt after.
    function settleBatch(Ledger storage l, uint256 indexNow) internal returns (uint256 paid, uint256 debt) {
        uint256 hot;
        uint256 cold;
        assembly ("memory-safe") {
            hot := sload(l.slot)
            cold := sload(add(l.slot, 1))
        }
        uint256 amount = hot & LedgerMath.MASK_112;
        uint256 oldDebt = cold & LedgerMath.MASK_112;
        unchecked {
            uint256 checkpoint = (hot >> 112) & LedgerMath.MASK_120;
            uint256 units = (cold >> 112) & LedgerMath.MASK_64;
            // The index never decreases, so indexNow >= checkpoint; units < 2^64, the difference
            // < 2^120, the remainder < 2^23: `scaled` < 2^185, `obligation` < 2^186.
            uint256 scaled = units * (indexNow - checkpoint) + ((hot >> 232) & LedgerMath.MASK_23);
            uint256 obligation = scaled / DDCConstants.MONTH + oldDebt;
            if (hot & LedgerMath.LAZY != 0) {
                // In arrears: nothing to pay with, nothing to write. `amount` was paid since the
                // checkpoint, and obligation >= amount since the ledger ran out. (The batch record
                // holds 112 bits: a larger debt is reported as the largest.)
                debt = obligation - amount;
                return (0, debt > LedgerMath.MASK_112 ? LedgerMath.MASK_112 : debt);
            }
            if (obligation <= amount) {
                paid = obligation;
                // amount - paid < 2^112, indexNow < 2^120 (checked by the caller), remainder < 2^22.
                hot = (amount - paid) | (indexNow << 112) | ((scaled % DDCConstants.MONTH) << 232);
                assembly ("memory-safe") {
                    sstore(l.slot, hot)
                }
                if (oldDebt != 0) {
                    // The recorded debt is repaid: clear it and its start, keep the units.
                    cold = units << 112;
                    assembly ("memory-safe") {
                        sstore(add(l.slot, 1), cold)
                    }
                }
            } else {
                // The whole balance is paid; the checkpoint stays, `amount` now counts as paid.
                paid = amount;
                debt = obligation - amount;
                if (debt > LedgerMath.MASK_112) debt = LedgerMath.MASK_112; // for the record only
                hot |= LedgerMath.LAZY;
                assembly ("memory-safe") {
                    sstore(l.slot, hot)
                }
            }
        }
    }

    /// @dev Settles one ledger and leaves it in normal mode (debt recorded with its start), for the
    /// operations that change a ledger's balance or units. Returns what was paid and the debt after.
    function settle(
        Ledger storage l,
        PriceState memory p,
        PriceCheckpoint[] storage checkpoints,
        uint256 indexNow
    ) internal returns (uint256 paid, uint256 debt) {
        (uint256 amount, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        bool lazy = l.hot & LedgerMath.LAZY != 0;
        uint256 oldDebt = l.debt;
        uint256 units = l.units;
        (uint256 accrued, uint256 newRemainder) = LedgerMath.accrued(units, checkpoint, remainder, indexNow);
        uint256 obligation = accrued + oldDebt;
        uint256 balance = lazy ? 0 : amount;
        if (lazy) {
            // `amount` was already paid out of the accrued rent.
            obligation -= amount;
        }
        if (obligation <= balance) {
            paid = obligation;
        } else {
            paid = balance;
            debt = obligation - balance;
        }
        l.hot = LedgerMath.pack(balance - paid, indexNow, newRemainder);
        if (debt != oldDebt) {
            uint256 since = l.arrearsSince;
            if (debt == 0) {
                since = 0;
            } else if (oldDebt == 0) {
                // The balance ran out (units > 0 here, since rent accrued past it).
                since = PriceIndex.timeAtIndex(p, checkpoints, runOutIndex(amount, checkpoint, remainder, units));
            }
            // Debt past 112 bits (never payable) is kept at the largest value rather than revert.
            l.debt = uint112(debt > LedgerMath.MASK_112 ? LedgerMath.MASK_112 : debt);
            l.arrearsSince = uint40(since);
        }
    }

    /// @dev The first index at which a ledger checkpointed at `checkpoint` with `remainder` has
    /// accrued more than `amount`.
    function runOutIndex(
        uint256 amount,
        uint256 checkpoint,
        uint256 remainder,
        uint256 units
    ) internal pure returns (uint256) {
        unchecked {
            // amount < 2^112 and MONTH < 2^22; remainder < MONTH; units > 0 (callers check).
            return checkpoint + ((amount + 1) * DDCConstants.MONTH - remainder + units - 1) / units;
        }
    }

    /// @dev What a withdrawal could take now, without writing anything: the balance less what the
    /// ledger owes now (rent accrued since the checkpoint and recorded debt) and less the runway of
    /// its caps at the price the cluster heads to, as {settle} then the withdrawal compute it. A
    /// ledger in arrears mode has nothing left to pay with, so nothing is free.
    function freeNow(Cluster storage c, Ledger storage l, uint256 grace) internal view returns (uint256) {
        uint256 hot = l.hot;
        if (hot & LedgerMath.LAZY != 0) return 0;
        PriceState memory p = c.price;
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(hot);
        (uint256 accrued, ) = LedgerMath.accrued(l.units, checkpoint, remainder, p.indexAt(block.timestamp));
        uint256 kept = accrued + l.debt + LedgerMath.runway(l.capUnits, p.target(), grace);
        return balance > kept ? balance - kept : 0;
    }

    /// @dev Settles one ledger outside a batch (normal mode after), credits the pool and emits
    /// {LedgerSettled}.
    function settleOne(address owner, ClusterId cluster, Cluster storage c, Ledger storage l) internal {
        PriceState memory p = c.price;
        (uint256 paid, uint256 debt) = settle(l, p, c.checkpoints, p.indexAt(block.timestamp));
        c.revenuePool += paid;
        emit IDDCCore.LedgerSettled(owner, cluster, paid, debt);
    }

    /// @dev Whether a ledger in normal mode without recorded debt owes more than its balance now
    /// (it ran out and no settlement has recorded it yet).
    function ranOutUnrecorded(Cluster storage c, Ledger storage l) internal view returns (bool) {
        if (l.debt != 0) return false;
        PriceState memory p = c.price;
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        (uint256 accrued, ) = LedgerMath.accrued(l.units, checkpoint, remainder, p.indexAt(block.timestamp));
        return accrued > balance;
    }

    /// @dev The ledger's figures as if it were settled now.
    function live(Cluster storage c, Ledger storage l, uint256 grace) internal view returns (Live memory v) {
        PriceState memory p = c.price;
        uint256 indexNow = p.indexAt(block.timestamp);
        (uint256 amount, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        bool lazy = l.hot & LedgerMath.LAZY != 0;
        uint256 recordedDebt = l.debt;
        uint256 units = l.units;
        (uint256 accrued, uint256 newRemainder) = LedgerMath.accrued(units, checkpoint, remainder, indexNow);
        v.runway = LedgerMath.runway(l.capUnits, p.target(), grace);
        if (lazy) {
            // In arrears mode everything accrued since the checkpoint, less what was paid, is debt.
            v.debt = recordedDebt + accrued - amount;
        } else {
            v.balance = amount;
            v.debt = recordedDebt;
            v.accrued = accrued;
        }
        uint256 obligation = v.accrued + v.debt;
        if (obligation > v.balance) {
            v.arrearsSince =
                recordedDebt != 0
                    ? l.arrearsSince
                    : uint40(
                        PriceIndex.timeAtIndex(p, c.checkpoints, runOutIndex(amount, checkpoint, remainder, units))
                    );
            v.coveredUntil = v.arrearsSince;
        } else {
            uint256 left = v.balance - obligation;
            v.free = left > v.runway ? left - v.runway : 0;
            v.coveredUntil =
                units == 0
                    ? type(uint40).max
                    : _coveredUntil(p, c.checkpoints, runOutIndex(left, indexNow, newRemainder, units));
        }
    }

    function _coveredUntil(
        PriceState memory p,
        PriceCheckpoint[] storage checkpoints,
        uint256 index
    ) private view returns (uint40) {
        return uint40(Math.min(PriceIndex.timeAtIndex(p, checkpoints, index), type(uint40).max));
    }

    function bucketStatus(CoreStorage storage s, Bucket storage b) internal view returns (BucketStatus) {
        if (b.closed) return BucketStatus.Closed;
        uint256 grace = s.params.gracePeriod;
        Live memory v = live(s.clusters[b.cluster], Lookup.ledger(s, b.owner, b.cluster), grace);
        if (v.arrearsSince == 0) return BucketStatus.Active;
        return block.timestamp >= uint256(v.arrearsSince) + grace ? BucketStatus.Suspended : BucketStatus.InArrears;
    }
}
