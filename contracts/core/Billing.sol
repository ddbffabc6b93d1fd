// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClusterId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../libraries/LedgerMath.sol";
import {Cluster, Bucket} from "./CoreStorage.sol";

/// @notice The one billing rule of a bucket, shared by the owner's changes (reservation, cap,
/// close) and the operators' usage reports: what a bucket is billed for, how its units enter its
/// ledger and its cluster, and what the ledger must keep to be allowed more.
/// @dev Internal: compiled into the bucket and usage logic. Callers settle the ledger first, so a
/// change of units is never retroactive.
library Billing {
    using PriceIndex for PriceState;

    /// @dev A bucket's billed units: `max(reserved, measured)`, never above `cap`.
    function billedOf(uint64 reserved, uint64 measured, uint64 cap) internal pure returns (uint64 billed) {
        billed = reserved > measured ? reserved : measured;
        if (billed > cap) billed = cap;
    }

    /// @dev Bills `b` for `billed` units from now on: moves the difference in and out of its
    /// ledger's units and its cluster's allocation. Returns the billed units before.
    function bill(Cluster storage c, Ledger storage l, Bucket storage b, uint64 billed) internal returns (uint64 old) {
        old = b.billed;
        if (billed == old) return old;
        if (billed > old) {
            uint64 grow = billed - old;
            l.units += grow;
            c.price.allocated += grow;
        } else {
            uint64 shrink = old - billed;
            l.units -= shrink;
            c.price.allocated -= shrink;
        }
        b.billed = billed;
    }

    /// @dev Sets the most `b` can be billed for to `cap` in its ledger and cluster: the ledger's
    /// `capUnits` (what the runway is kept on) and the cluster's count of open billable buckets (a
    /// bucket is billable while its cap is above 0). Returns the cap before.
    function setCap(Cluster storage c, Ledger storage l, Bucket storage b, uint64 cap) internal returns (uint64 old) {
        old = b.cap;
        if (cap == old) return old;
        l.capUnits = l.capUnits - old + cap;
        if (old == 0) ++c.billableBuckets;
        else if (cap == 0) --c.billableBuckets;
        b.cap = cap;
    }

    /// @dev Takes a closed bucket out of its ledger and cluster: its billed units, its cap, and its
    /// place among the billable buckets. Returns the units it was billed for.
    function remove(Cluster storage c, Ledger storage l, Bucket storage b) internal returns (uint64 billed) {
        billed = b.billed;
        l.units -= billed;
        c.price.allocated -= billed;
        uint64 cap = b.cap;
        if (cap != 0) {
            l.capUnits -= cap;
            --c.billableBuckets;
        }
    }

    /// @dev Reverts unless the cluster holds every replica: a cluster with fewer nodes than its
    /// replication factor takes no new billing.
    function requireReplicas(Cluster storage c, ClusterId cluster) internal view {
        uint256 nodes = c.nodes.length;
        require(nodes >= c.replicationFactor, IDDCCore.ClusterBelowReplication(cluster, nodes, c.replicationFactor));
    }

    /// @dev Reverts unless the (settled) ledger of `owner` keeps the runway of everything its open
    /// buckets can be billed for (`capUnits`, at the price the cluster is heading to). Debt leaves
    /// nothing available.
    function requireRunway(
        Cluster storage c,
        Ledger storage l,
        address owner,
        ClusterId cluster,
        uint256 grace
    ) internal view {
        (uint256 balance, , ) = LedgerMath.unpack(l.hot);
        uint256 available = l.debt == 0 ? balance : 0;
        uint256 runway = LedgerMath.runway(l.capUnits, c.price.target(), grace);
        require(available >= runway, IDDCCore.LedgerInsufficientRunway(owner, cluster, available, runway));
    }
}
