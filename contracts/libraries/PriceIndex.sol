// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {PriceCheckpoint} from "../interfaces/IDDCTypes.sol";

/// @notice A cluster's price over time.
/// @dev Bit layout (two slots):
///   slot 0: index (120) | updatedAt (40) | price (96)
///   slot 1: pendingPrice (96) | pendingAt (40) | allocated (64) | scheduleId (24) | appliedId (24)
/// `index` is `∫ price dt` up to `updatedAt`; `price` is the rent per unit per month in force since
/// then. A scheduled increase (`pendingPrice` from `pendingAt`, 0 = none) is part of the function
/// even before anyone writes it down, so every view and every settlement sees it at its time.
/// Each announced increase has an id (`scheduleId`); `appliedId` is the last one in force, so a
/// member whose rent change belongs to schedule `k` pays its new rent once `k <= appliedId`.
struct PriceState {
    uint120 index;
    uint40 updatedAt;
    uint96 price;
    uint96 pendingPrice;
    uint40 pendingAt;
    uint64 allocated;
    uint24 scheduleId;
    uint24 appliedId;
}

library PriceIndex {
    using SafeCast for uint256;

    /// @dev The index at `t` (`t ≥ p.updatedAt`).
    function indexAt(PriceState memory p, uint256 t) internal pure returns (uint256) {
        uint256 pendingAt = p.pendingAt;
        if (pendingAt != 0 && t > pendingAt) {
            return p.index + p.price * (pendingAt - p.updatedAt) + uint256(p.pendingPrice) * (t - pendingAt);
        }
        return p.index + uint256(p.price) * (t - p.updatedAt);
    }

    /// @dev The price in force at `t` (`t ≥ p.updatedAt`).
    function priceAt(PriceState memory p, uint256 t) internal pure returns (uint256) {
        return p.pendingAt != 0 && t >= p.pendingAt ? p.pendingPrice : p.price;
    }

    /// @dev The price the cluster is heading to: the pending one if any, else the current one.
    function target(PriceState memory p) internal pure returns (uint256) {
        return p.pendingAt != 0 ? p.pendingPrice : p.price;
    }

    /// @dev Writes the index up to now, applying a due increase (with its checkpoint).
    /// Returns the index now and whether a due increase was applied (old price, new price).
    function accrue(
        PriceState storage self,
        PriceCheckpoint[] storage checkpoints
    ) internal returns (uint256 indexNow, bool applied, uint96 oldPrice) {
        PriceState memory p = self;
        indexNow = indexAt(p, block.timestamp);
        oldPrice = p.price;
        if (p.pendingAt != 0 && block.timestamp >= p.pendingAt) {
            uint256 indexThen = indexAt(p, p.pendingAt);
            checkpoints.push(PriceCheckpoint(p.pendingAt, indexThen.toUint120(), p.pendingPrice));
            self.price = p.pendingPrice;
            self.pendingPrice = 0;
            self.pendingAt = 0;
            self.appliedId = p.scheduleId;
            applied = true;
        }
        self.index = indexNow.toUint120();
        self.updatedAt = uint40(block.timestamp);
    }

    /// @dev Sets the price in force now to `inForce` (a decrease or no change: callers subtract only
    /// what is in force) and the price the cluster is heading to to `newTarget` (call {accrue}
    /// first). When `atOnce` (no open bucket of the cluster can be billed: nobody pays the price
    /// yet), or nothing is left to wait for, `newTarget` applies at once and every announced change
    /// with it. Otherwise the difference waits `notice`: a new target at or
    /// below the announced one keeps the announced time; one above it announces the whole new
    /// target `notice` from now, never earlier than announced.
    /// @return scheduledAt 0 if everything is in force now, else when `newTarget` applies.
    /// @return schedule The id of the pending schedule (0 if none).
    function setPrices(
        PriceState storage self,
        PriceCheckpoint[] storage checkpoints,
        uint256 inForce,
        uint256 newTarget,
        uint256 notice,
        bool atOnce
    ) internal returns (uint40 scheduledAt, uint24 schedule) {
        uint96 next = newTarget.toUint96();
        PriceState memory p = self;
        uint96 current = inForce.toUint96();
        if (atOnce || next <= current) current = next;
        if (current != p.price) {
            checkpoints.push(PriceCheckpoint(uint40(block.timestamp), p.index, current));
            self.price = current;
        }
        if (next == current) {
            self.pendingPrice = 0;
            self.pendingAt = 0;
            self.appliedId = p.scheduleId;
            return (0, 0);
        }
        scheduledAt = (block.timestamp + notice).toUint40();
        schedule = p.scheduleId;
        if (p.pendingAt == 0) {
            schedule += 1;
            self.scheduleId = schedule;
        } else if (next <= p.pendingPrice || scheduledAt < p.pendingAt) {
            // What was announced keeps its time: never earlier, and no later for no more.
            scheduledAt = p.pendingAt;
        }
        self.pendingPrice = next;
        self.pendingAt = scheduledAt;
    }

    /// @dev The first time the index reaches `idx` (rounded up to a whole second); max uint40 if
    /// it never does. Where the index stood still at exactly `idx` (a price of 0), the end of that
    /// stretch rather than its start: a run-out found there is dated later, in the owner's favour.
    /// Walks back through the checkpoints (binary search) only when `idx` lies before `updatedAt`.
    function timeAtIndex(
        PriceState memory p,
        PriceCheckpoint[] storage checkpoints,
        uint256 idx
    ) internal view returns (uint256) {
        unchecked {
            // Indices are < 2^121 and prices < 2^96, times < 2^40: no sum or product below overflows.
            if (idx >= p.index) {
                uint256 delta = idx - p.index;
                uint256 pendingAt = p.pendingAt;
                if (pendingAt != 0) {
                    uint256 beforePending = uint256(p.price) * (pendingAt - p.updatedAt);
                    // A pending price is an increase, so it is > 0.
                    if (delta > beforePending) return pendingAt + _ceilDiv(delta - beforePending, p.pendingPrice);
                }
                if (delta == 0) return p.updatedAt;
                if (p.price == 0) return type(uint40).max;
                return p.updatedAt + _ceilDiv(delta, p.price);
            }
            // The last checkpoint whose index is <= idx (checkpoints are sorted by time and index).
            uint256 low = 0;
            uint256 high = checkpoints.length;
            while (low < high) {
                uint256 mid = (low + high) >> 1;
                if (checkpoints[mid].index <= idx) low = mid + 1;
                else high = mid;
            }
            if (low == 0) return 0;
            PriceCheckpoint memory cp = checkpoints[low - 1];
            return cp.price == 0 ? cp.time : cp.time + _ceilDiv(idx - cp.index, cp.price);
        }
    }

    /// @dev `ceil(a / b)` for b > 0 (callers guarantee it) and a + b < 2^256.
    function _ceilDiv(uint256 a, uint256 b) private pure returns (uint256) {
        unchecked {
            return (a + b - 1) / b;
        }
    }
}
