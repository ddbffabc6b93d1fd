// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {ClusterId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {DDCConstants} from "../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {Cluster, Membership, Node} from "./CoreStorage.sol";

/// @notice A cluster's price index written up to now, and each member's share of distributed
/// revenue. A member's weight is the rent it is charged (in force) times its vNodes; the weights
/// add up to the cluster's price in force. When a price schedule comes into force, the members of
/// that schedule change weight: the revenue per weight at that moment is recorded, so a member's
/// revenue splits exactly there.
/// @dev Internal: compiled into the libraries that need it.
library Accrual {
    using PriceIndex for PriceState;

    /// @dev Writes the price index up to now, applying a due increase (and saying so).
    function accruePrice(ClusterId cluster, Cluster storage c) internal returns (uint256 indexNow) {
        bool applied;
        uint96 before;
        (indexNow, applied, before) = c.price.accrue(c.checkpoints);
        if (applied) {
            c.accAtApply[c.price.appliedId] = c.accPerWeight;
            emit IDDCCore.ClusterPriceChanged(cluster, before, c.price.price, indexNow);
        }
    }

    /// @dev Records the revenue per weight for a schedule that came into force at once.
    function recordApplied(Cluster storage c, uint24 appliedBefore) internal {
        uint24 applied = c.price.appliedId;
        if (applied != appliedBefore) c.accAtApply[applied] = c.accPerWeight;
    }

    /// @dev The rent per vNode a member is charged now.
    function inForce(Cluster storage c, Membership storage m) internal view returns (uint256) {
        uint24 id = m.scheduleId;
        return id <= c.price.appliedId ? m.rent : m.inForceRent;
    }

    /// @dev What a member earned between its checkpoint and revenue per weight `acc`, rounded down
    /// (at most one token unit per sync stays in the core as dust).
    function pendingTo(Cluster storage c, Membership storage m, uint256 acc) internal view returns (uint256) {
        uint256 cp = m.accCheckpoint;
        if (acc <= cp) return 0;
        uint256 k = m.vNodes;
        uint24 id = m.scheduleId;
        uint256 rent = m.rent;
        if (id == 0) return (rent * k * (acc - cp)) / DDCConstants.ACC_SCALE;
        if (id > c.price.appliedId) return (uint256(m.inForceRent) * k * (acc - cp)) / DDCConstants.ACC_SCALE;
        uint256 split = c.accAtApply[id];
        if (split <= cp) return (rent * k * (acc - cp)) / DDCConstants.ACC_SCALE;
        if (split > acc) split = acc;
        return (uint256(m.inForceRent) * k * (split - cp) + rent * k * (acc - split)) / DDCConstants.ACC_SCALE;
    }

    /// @dev What the member earned since its last sync, up to now; moves its checkpoint to now.
    function claimFrom(Cluster storage c, Membership storage m) internal returns (uint256 earned) {
        uint256 acc = c.accPerWeight;
        earned = pendingTo(c, m, acc);
        m.accCheckpoint = acc;
        if (m.scheduleId != 0 && m.scheduleId <= c.price.appliedId) m.scheduleId = 0;
    }

    /// @dev Adds what the member earned up to `acc` to its node's claimable revenue and moves its
    /// checkpoint.
    function syncTo(Cluster storage c, Membership storage m, Node storage n, uint256 acc) internal {
        uint256 earned = pendingTo(c, m, acc);
        if (earned != 0) n.claimable = SafeCast.toUint96(n.claimable + earned);
        m.accCheckpoint = acc;
        // A schedule in force no longer matters to this member: its rent is in force.
        if (m.scheduleId != 0 && m.scheduleId <= c.price.appliedId) m.scheduleId = 0;
    }
}
