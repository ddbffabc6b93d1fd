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
/// @notice Served at the core's address (the core forwards them to its views extension).
interface IDDCViews {
    // ─────────────────────────────────────────── views ────────────────────────────────────────────

    function globalParams() external view returns (GlobalParams memory);

    function nodeCount() external view returns (uint256);

    function clusterCount() external view returns (uint256);

    function bucketCount() external view returns (uint256);

    function getNode(NodeId node) external view returns (NodeView memory);

    function nodeByKey(address key) external view returns (NodeId);

    function isManagerTrusted(address provider, address manager) external view returns (bool);

    function getCluster(ClusterId cluster) external view returns (ClusterView memory);

    function clusterNodes(ClusterId cluster) external view returns (NodeId[] memory);

    function clusterNodeInfo(
        ClusterId cluster,
        NodeId node
    ) external view returns (NodeStatus status, uint96 rent, uint64[] memory tokens);

    /// @notice The rent per vNode the member is charged now (its accepted rent once any announced
    /// increase is in force) and when its provider may take it out (0: no request to leave).
    function clusterNodeTerms(
        ClusterId cluster,
        NodeId node
    ) external view returns (uint96 rentInForce, uint40 leaveAt);

    /// @notice The ring's tokens in storage order (the lens sorts them) and the node of each.
    function clusterRing(ClusterId cluster) external view returns (uint64[] memory tokens, NodeId[] memory nodes);

    function clusterOperators(ClusterId cluster) external view returns (address[] memory);

    function isClusterOperator(ClusterId cluster, address account) external view returns (bool);

    function clusterValidators(ClusterId cluster) external view returns (address[] memory);

    /// @notice The cluster's buckets `[from, from + count)` in creation order (closed ones
    /// included; fewer at the end) and how many it has in all.
    function clusterBuckets(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (BucketId[] memory page, uint256 total);

    /// @notice The era containing now: `start ≤ now < end`.
    function clusterEra(ClusterId cluster) external view returns (uint32 era, uint40 start, uint40 end);

    /// @notice The index now (`∫ price dt`, price per unit per month), pending increases included.
    function clusterPriceIndex(ClusterId cluster) external view returns (uint256);

    /// @notice Every checkpoint of the cluster's price index (grows with each price change; use
    /// {clusterPriceCheckpointsPage} once it is long).
    function clusterPriceCheckpoints(ClusterId cluster) external view returns (PriceCheckpoint[] memory);

    /// @notice Checkpoints `[from, from + count)` (fewer at the end) and how many there are in all.
    function clusterPriceCheckpointsPage(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (PriceCheckpoint[] memory page, uint256 total);

    function getBucket(BucketId bucket) external view returns (BucketView memory);

    function bucketStatus(BucketId bucket) external view returns (BucketStatus);

    function bucketHasRole(BucketId bucket, address account, BucketRole role) external view returns (bool);

    /// @notice What a node can claim now (all its clusters and ended memberships).
    function nodeRevenue(NodeId node) external view returns (uint256);

    /// @notice An account's internal balance (network or management fees).
    function accountBalance(address account) external view returns (uint256);

    /// @notice A cluster's reserve, revenue per weight unit (scaled by 1e24), and the next era
    /// that may be distributed.
    function clusterRevenue(
        ClusterId cluster
    ) external view returns (uint256 reserve, uint256 revenuePerWeight, uint32 nextEra);

    function getLedger(address owner, ClusterId cluster) external view returns (LedgerView memory);

    function rentCoveredUntil(address owner, ClusterId cluster) external view returns (uint40);

    function accountFreeBalance(address owner, ClusterId cluster) external view returns (uint256);
}

/// @notice Everything the core answers at its address: actions, events, errors and views.
interface IDDC is IDDCCore, IDDCViews {}
