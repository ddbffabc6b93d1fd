// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {DDCConstants, NodeStatus, GlobalParams} from "../../interfaces/IDDCTypes.sol";
import {CoreStorage, Node, Cluster, Membership, Lookup, NodeClusters} from "../CoreStorage.sol";
import {Accrual} from "../Accrual.sol";
import {ClusterLogic} from "./ClusterLogic.sol";

/// @notice Providers' money: distribution of a cluster's revenue pool to its nodes by weight (O(1)
/// in the number of nodes: a revenue-per-weight accumulator), claims, fee balances and the reserve.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL). Token transfers are the core's.
library RevenueLogic {
    using Lookup for CoreStorage;

    struct Split {
        uint256 amount;
        uint256 networkFee;
        uint256 managementFee;
        uint256 toNodes;
        uint256 toReserve;
    }

    function distribute(
        CoreStorage storage s,
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligible,
        bytes32 evidenceHash
    ) external {
        Cluster storage c = s.operatedCluster(cluster);
        (uint32 current, , ) = ClusterLogic.era_(c);
        require(era < current, IDDCCore.ClusterEraNotClosed(cluster, era, current));
        require(era >= c.nextEra, IDDCCore.ClusterEraAlreadyDistributed(cluster, era, c.nextEra));
        c.nextEra = era + 1;
        require(
            ineligible.length <= DDCConstants.MAX_NODES_PER_CLUSTER,
            IDDCCore.DDCBatchTooLarge(ineligible.length, DDCConstants.MAX_NODES_PER_CLUSTER)
        );
        // Weights in force now: a schedule that fell due comes into force first.
        Accrual.accruePrice(cluster, c);

        Split memory split;
        split.amount = c.revenuePool;
        c.revenuePool = 0;
        GlobalParams memory g = s.params;
        split.networkFee = (split.amount * g.networkFeeBps) / DDCConstants.BPS;
        split.managementFee = (split.amount * c.managementFeeBps) / DDCConstants.BPS;
        if (split.networkFee != 0) s.balances[g.feeDestination] += split.networkFee;
        if (split.managementFee != 0) s.balances[c.manager] += split.managementFee;
        uint256 rest = split.amount - split.networkFee - split.managementFee;

        _credit(s, c, cluster, era, ineligible, rest, split);
        c.reserve += split.toReserve;
        emit IDDCCore.RevenuesDistributed(
            cluster,
            era,
            evidenceHash,
            split.amount,
            split.networkFee,
            split.managementFee,
            split.toNodes,
            split.toReserve,
            ineligible
        );
    }

    /// @dev Raises the revenue per weight by `rest` over the weight in force (all to the reserve
    /// if there is no weight), less the ineligible nodes' shares, which go to the reserve.
    function _credit(
        CoreStorage storage s,
        Cluster storage c,
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligible,
        uint256 rest,
        Split memory split
    ) private {
        uint256 weight = c.price.price;
        uint256 acc0 = c.accPerWeight;
        uint256 inc;
        if (weight != 0) {
            // The part below one scaled unit per weight is carried to the next distribution.
            uint256 scaled = rest * DDCConstants.ACC_SCALE + c.accCarry;
            inc = scaled / weight;
            c.accCarry = scaled % weight;
            c.accPerWeight = acc0 + inc;
        }
        uint256 excluded = _exclude(s, c, cluster, era, ineligible, acc0, acc0 + inc);
        if (weight == 0) {
            split.toReserve = rest;
        } else {
            split.toReserve = (excluded * inc) / DDCConstants.ACC_SCALE;
            split.toNodes = ((weight - excluded) * inc) / DDCConstants.ACC_SCALE;
        }
    }

    /// @dev Syncs each ineligible member up to before this distribution, moves its checkpoint past
    /// it, and returns their total weight. Ids must increase; non-members are skipped (and not
    /// counted against the cap of `nodes − factor` members, where the factor is the largest in
    /// force since the previous distribution; from now on it is the one in force).
    function _exclude(
        CoreStorage storage s,
        Cluster storage c,
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligible,
        uint256 acc0,
        uint256 acc1
    ) private returns (uint256 excluded) {
        uint256 last;
        uint256 members;
        for (uint256 i = 0; i < ineligible.length; ++i) {
            NodeId id = ineligible[i];
            require(NodeId.unwrap(id) > last, IDDCCore.ClusterIneligibleNotIncreasing(cluster, id));
            last = NodeId.unwrap(id);
            Membership storage m = c.members[id];
            if (m.status == NodeStatus.None) {
                emit IDDCCore.DistributionNodeSkipped(cluster, era, id);
                continue;
            }
            ++members;
            Accrual.syncTo(c, m, s.nodes[id], acc0);
            m.accCheckpoint = acc1;
            excluded += Accrual.inForce(c, m) * m.vNodes;
        }
        uint256 nodes = c.nodes.length;
        uint8 factor = c.exclusionFactor;
        uint256 maxExcluded = nodes > factor ? nodes - factor : 0;
        require(members <= maxExcluded, IDDCCore.ClusterTooManyExclusions(cluster, members, maxExcluded));
        uint8 current = c.replicationFactor;
        if (factor != current) c.exclusionFactor = current;
    }

    /// @dev The manager takes `amount` out of the reserve (the core pays it).
    function withdrawReserve(CoreStorage storage s, ClusterId cluster, uint256 amount) external {
        Cluster storage c = s.managedCluster(cluster);
        uint256 reserve = c.reserve;
        require(amount <= reserve, IDDCCore.ClusterReserveInsufficient(cluster, reserve, amount));
        c.reserve = reserve - amount;
    }

    /// @dev What a node can claim now.
    function revenueOf(CoreStorage storage s, NodeId id) external view returns (uint256 amount) {
        Node storage n = s.existingNode(id);
        amount = n.claimable;
        uint256 count = n.clusterCount;
        for (uint256 j = 0; j < count; ++j) {
            Cluster storage c = s.clusters[NodeClusters.at(n.clusterIds, j)];
            amount += Accrual.pendingTo(c, c.members[id], c.accPerWeight);
        }
    }
}
