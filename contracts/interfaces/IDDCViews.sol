// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {
    NodeView,
    NodeStatus,
    ClusterView,
    PriceCheckpoint,
    BucketView,
    BucketStatus,
    BucketRole,
    LedgerView,
    GlobalParams
} from "./IDDCTypes.sol";
import {IDDCCore} from "./IDDCCore.sol";

/// @title The DDC core's views.
/// @notice Served at the core's address (the core forwards them to its views extension). Anyone may
/// call them; they change nothing. Live figures (prices, indices, ledgers, statuses) are computed for
/// the current block, announced price increases included once due, so they need nobody to act first.
interface IDDCViews {
    // ─────────────────────────────────────────── views ────────────────────────────────────────────

    /// @notice The global parameters governance moves (network fee, fee destination, unlock delay,
    /// grace period).
    /// @return The parameters in force.
    function globalParams() external view returns (GlobalParams memory);

    /// @notice How many nodes were ever registered: ids run from 1 to this count (removed nodes
    /// included, see {getNode}).
    /// @return The highest node id.
    function nodeCount() external view returns (uint256);

    /// @notice How many clusters were ever created: ids run from 1 to this count.
    /// @return The highest cluster id.
    function clusterCount() external view returns (uint256);

    /// @notice How many buckets were ever created: ids run from 1 to this count (closed ones
    /// included).
    /// @return The highest bucket id.
    function bucketCount() external view returns (uint256);

    /// @notice A node: its provider, key, capacity and reservations, asked rent, clusters and stored
    /// parameters.
    /// @dev Reverts with {IDDCCore.NodeNotFound} for an unknown or removed node.
    /// @param node The node.
    /// @return The node as clients see it.
    function getNode(NodeId node) external view returns (NodeView memory);

    /// @notice The node that signs with `key`.
    /// @param key A signing key.
    /// @return The node's id, 0 if no node holds the key.
    function nodeByKey(address key) external view returns (NodeId);

    /// @notice Whether `provider` trusts `manager` to add its nodes to the manager's clusters.
    /// @param provider The provider.
    /// @param manager The manager.
    /// @return True if trusted.
    function isManagerTrusted(address provider, address manager) external view returns (bool);

    /// @notice A cluster: manager and pending manager, settings, reservation and allocation, size,
    /// price now and any announced increase, index, revenue pool and bucket counts.
    /// @dev Reverts with {IDDCCore.ClusterNotFound} for an unknown cluster.
    /// @param cluster The cluster.
    /// @return The cluster as clients see it.
    function getCluster(ClusterId cluster) external view returns (ClusterView memory);

    /// @notice The cluster's members (at most {DDCConstants.MAX_NODES_PER_CLUSTER}). The order is
    /// storage order: a removal moves the last member into the removed one's place.
    /// @dev Reverts with {IDDCCore.ClusterNotFound} for an unknown cluster.
    /// @param cluster The cluster.
    /// @return The members' ids.
    function clusterNodes(ClusterId cluster) external view returns (NodeId[] memory);

    /// @notice A member's status, accepted rent and vNodes.
    /// @dev Reverts with {IDDCCore.ClusterNotFound} or {IDDCCore.ClusterNodeNotMember}.
    /// @param cluster The cluster.
    /// @param node The member.
    /// @return status Active or Offline.
    /// @return rent The rent the manager accepted for it, per vNode per month per unit (it may not be
    /// in force yet: see {clusterNodeTerms}).
    /// @return tokens The ring positions of its vNodes, in the order {IDDCCore.clusterReplaceNode}
    /// hands them over.
    function clusterNodeInfo(
        ClusterId cluster,
        NodeId node
    ) external view returns (NodeStatus status, uint96 rent, uint64[] memory tokens);

    /// @notice The rent per vNode the member is charged now (its accepted rent once any announced
    /// increase is in force) and when its provider may take it out (0: no request to leave).
    /// @dev Reverts with {IDDCCore.ClusterNotFound} or {IDDCCore.ClusterNodeNotMember}. The member's
    /// weight in distributions is `rentInForce × its vNodes`.
    /// @param cluster The cluster.
    /// @param node The member.
    /// @return rentInForce The rent charged now, per vNode per month per unit.
    /// @return leaveAt From when its provider may take it out with {IDDCCore.nodeLeaveCluster}.
    function clusterNodeTerms(
        ClusterId cluster,
        NodeId node
    ) external view returns (uint96 rentInForce, uint40 leaveAt);

    /// @notice The ring's tokens in storage order (the lens sorts them) and the node of each.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}. At most {DDCConstants.MAX_VNODES_PER_CLUSTER}
    /// entries; {DDCLens.ring} returns them sorted.
    /// @param cluster The cluster.
    /// @return tokens The vNodes' ring positions.
    /// @return nodes The node of each vNode.
    function clusterRing(ClusterId cluster) external view returns (uint64[] memory tokens, NodeId[] memory nodes);

    /// @notice The operators the current manager named (a handover clears them). The manager itself
    /// is not listed.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @return The operators, at most {DDCConstants.MAX_OPERATORS}.
    function clusterOperators(ClusterId cluster) external view returns (address[] memory);

    /// @notice Whether `account` is one of the operators the current manager named (false for the
    /// manager itself unless named, and for an unknown cluster).
    /// @param cluster The cluster.
    /// @param account The account.
    /// @return True if it is an operator.
    function isClusterOperator(ClusterId cluster, address account) external view returns (bool);

    /// @notice The validators the current manager named (a handover clears them): the addresses
    /// whose signed QoS reports count for the cluster's eras.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @return The validators, at most {DDCConstants.MAX_VALIDATORS}.
    function clusterValidators(ClusterId cluster) external view returns (address[] memory);

    /// @notice The cluster's buckets `[from, from + count)` in creation order (closed ones
    /// included; fewer at the end) and how many it has in all.
    /// @dev The cluster's own bucket index: scanning one cluster costs what its buckets cost, whatever
    /// the other clusters hold. Reverts with {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @param from The position of the first bucket (0 is the cluster's first bucket).
    /// @param count The most buckets to return.
    /// @return page The buckets' ids (empty once `from` passes the end).
    /// @return total How many buckets the cluster has.
    function clusterBuckets(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (BucketId[] memory page, uint256 total);

    /// @notice The era containing now: `start ≤ now < end`. An era is closed (may be reported and
    /// distributed) once `block.timestamp ≥ end`; a new era length applies from the next era.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}. Eras are numbered from 0 at the cluster's creation.
    /// @param cluster The cluster.
    /// @return era The era's number.
    /// @return start When it started.
    /// @return end When it ends.
    function clusterEra(ClusterId cluster) external view returns (uint32 era, uint40 start, uint40 end);

    /// @notice The index now (`∫ price dt`, price per unit per month), pending increases included.
    /// @dev One unit over `[t0, t1]` owes `(index(t1) − index(t0)) / MONTH` token units. Reverts with
    /// {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @return The index, in token units × seconds per unit-month.
    function clusterPriceIndex(ClusterId cluster) external view returns (uint256);

    /// @notice Every checkpoint of the cluster's price index (grows with each price change; use
    /// {clusterPriceCheckpointsPage} once it is long).
    /// @dev The first checkpoint is the cluster's creation (index 0, price 0). Reverts with
    /// {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @return The checkpoints, oldest first.
    function clusterPriceCheckpoints(ClusterId cluster) external view returns (PriceCheckpoint[] memory);

    /// @notice Checkpoints `[from, from + count)` (fewer at the end) and how many there are in all.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @param from The position of the first checkpoint (0 is the oldest).
    /// @param count The most checkpoints to return.
    /// @return page The checkpoints, oldest first (empty once `from` passes the end).
    /// @return total How many checkpoints there are.
    function clusterPriceCheckpointsPage(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (PriceCheckpoint[] memory page, uint256 total);

    /// @notice A bucket: owner, cluster, reservation, last measured units, billed units, cap and
    /// status now.
    /// @dev Reverts with {IDDCCore.BucketNotFound}.
    /// @param bucket The bucket.
    /// @return The bucket as clients see it.
    function getBucket(BucketId bucket) external view returns (BucketView memory);

    /// @notice A bucket's status now, derived from its ledger: Active; InArrears from the second its
    /// ledger's balance ran out; Suspended once the grace period has passed since then; Closed.
    /// @dev Reverts with {IDDCCore.BucketNotFound}. Storage nodes serve Active buckets fully and
    /// InArrears buckets for reading only.
    /// @param bucket The bucket.
    /// @return The status.
    function bucketStatus(BucketId bucket) external view returns (BucketStatus);

    /// @notice Whether `account` holds `role` on the bucket (the owner holds both).
    /// @dev Says nothing of the bucket's status: a closed bucket keeps its grants; check
    /// {bucketStatus} too. Reverts with {IDDCCore.BucketNotFound}.
    /// @param bucket The bucket.
    /// @param account The account.
    /// @param role Writer or Reader.
    /// @return True if the account holds the role.
    function bucketHasRole(BucketId bucket, address account, BucketRole role) external view returns (bool);

    /// @notice What a node can claim now (all its clusters and ended memberships).
    /// @dev Each membership's share rounded down, as {IDDCCore.claim} pays it. Reverts with
    /// {IDDCCore.NodeNotFound}.
    /// @param node The node.
    /// @return The amount, in token units.
    function nodeRevenue(NodeId node) external view returns (uint256);

    /// @notice An account's internal balance (network or management fees).
    /// @param account The account.
    /// @return The balance, in token units (withdrawn with {IDDCCore.withdrawBalance}).
    function accountBalance(address account) external view returns (uint256);

    /// @notice A cluster's reserve, revenue per weight unit (scaled by 1e24), and the next era
    /// that may be distributed.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param cluster The cluster.
    /// @return reserve The reserve, in token units (moved by the manager only).
    /// @return revenuePerWeight The revenue per weight unit distributed so far, scaled by
    /// {DDCConstants.ACC_SCALE}.
    /// @return nextEra The first era {IDDCCore.clusterDistributeRevenues} accepts.
    function clusterRevenue(
        ClusterId cluster
    ) external view returns (uint256 reserve, uint256 revenuePerWeight, uint32 nextEra);

    /// @notice A ledger (one owner in one cluster) with its live figures: balance, debt, units, rent
    /// owed, runway, what is free, the pending unlock, coverage and arrears.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}. A ledger never used reads as zeros (covered for
    /// ever).
    /// @param owner The owner.
    /// @param cluster The cluster.
    /// @return The ledger as clients see it.
    function getLedger(address owner, ClusterId cluster) external view returns (LedgerView memory);

    /// @notice When the ledger's balance runs out at the scheduled prices (announced increases
    /// included): the first second at which it no longer covers the rent. For a ledger already out,
    /// the second it ran out.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param owner The owner.
    /// @param cluster The cluster.
    /// @return The time, max uint40 if never (no units billed, or a price of 0).
    function rentCoveredUntil(address owner, ClusterId cluster) external view returns (uint40);

    /// @notice What a withdrawal could take now if it were unlocked: the balance less the rent owed,
    /// the debt and the runway (`ceil(capUnits × price × gracePeriod / MONTH)` at the price the
    /// cluster heads to), 0 if they exceed it. It is also the most {IDDCCore.accountUnlock} accepts
    /// now.
    /// @dev Reverts with {IDDCCore.ClusterNotFound}.
    /// @param owner The owner.
    /// @param cluster The cluster.
    /// @return The amount, in token units.
    function accountFreeBalance(address owner, ClusterId cluster) external view returns (uint256);
}

/// @notice Everything the core answers at its address: actions, events, errors and views. Clients use
/// this ABI at the core's address.
interface IDDC is IDDCCore, IDDCViews {}
