// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {IDDCViews} from "../interfaces/IDDCViews.sol";
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
} from "../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {CoreStorage, CoreStorageLib, Cluster, Bucket, Membership, Lookup} from "./CoreStorage.sol";
import {NodeLogic} from "./logic/NodeLogic.sol";
import {ClusterLogic} from "./logic/ClusterLogic.sol";
import {BucketLogic} from "./logic/BucketLogic.sol";
import {RevenueLogic} from "./logic/RevenueLogic.sol";

/// @title DDCViews
/// @notice The views of {IDDCViews}. {DDCCore} forwards them here by DELEGATECALL, so they read the
/// core's state; called at this contract's own address they read an empty state.
contract DDCViews is IDDCViews {
    using Lookup for CoreStorage;
    using Lookup for Cluster;
    using PriceIndex for PriceState;
    using EnumerableSet for EnumerableSet.AddressSet;

    // ─────────────────────────────────────────── views ────────────────────────────────────────────

    /// @inheritdoc IDDCViews
    function globalParams() external view returns (GlobalParams memory) {
        return _st().params;
    }

    /// @inheritdoc IDDCViews
    function nodeCount() external view returns (uint256) {
        return _st().nodeCount;
    }

    /// @inheritdoc IDDCViews
    function clusterCount() external view returns (uint256) {
        return _st().clusterCount;
    }

    /// @inheritdoc IDDCViews
    function bucketCount() external view returns (uint256) {
        return _st().bucketCount;
    }

    /// @inheritdoc IDDCViews
    function getNode(NodeId node) external view returns (NodeView memory) {
        return NodeLogic.get(_st(), node);
    }

    /// @inheritdoc IDDCViews
    function nodeByKey(address key) external view returns (NodeId) {
        return _st().nodeByKey[key];
    }

    /// @inheritdoc IDDCViews
    function isManagerTrusted(address provider, address manager) external view returns (bool) {
        return _st().trust[provider][manager];
    }

    /// @inheritdoc IDDCViews
    function getCluster(ClusterId cluster) external view returns (ClusterView memory) {
        return ClusterLogic.get(_st(), cluster);
    }

    /// @inheritdoc IDDCViews
    function clusterNodes(ClusterId cluster) external view returns (NodeId[] memory) {
        return _st().existingCluster(cluster).nodes;
    }

    /// @inheritdoc IDDCViews
    function clusterNodeInfo(
        ClusterId cluster,
        NodeId node
    ) external view returns (NodeStatus status, uint96 rent, uint64[] memory tokens) {
        Membership storage m = _st().existingCluster(cluster).member(cluster, node);
        return (m.status, m.rent, m.tokens);
    }

    /// @inheritdoc IDDCViews
    function clusterNodeTerms(
        ClusterId cluster,
        NodeId node
    ) external view returns (uint96 rentInForce, uint40 leaveAt) {
        Cluster storage c = _st().existingCluster(cluster);
        Membership storage m = c.member(cluster, node);
        PriceState memory p = c.price;
        uint24 id = m.scheduleId;
        // In force once its schedule applied, or fell due (even if nobody wrote it down yet).
        bool due = id <= p.appliedId || (id == p.scheduleId && p.pendingAt != 0 && block.timestamp >= p.pendingAt);
        return (due ? m.rent : m.inForceRent, m.leaveAt);
    }

    /// @inheritdoc IDDCViews
    function clusterRing(ClusterId cluster) external view returns (uint64[] memory, NodeId[] memory) {
        return ClusterLogic.ring(_st(), cluster);
    }

    /// @inheritdoc IDDCViews
    function clusterOperators(ClusterId cluster) external view returns (address[] memory) {
        Cluster storage c = _st().existingCluster(cluster);
        return c.operators[c.generation].values();
    }

    /// @inheritdoc IDDCViews
    function isClusterOperator(ClusterId cluster, address account) public view returns (bool) {
        Cluster storage c = _st().clusters[cluster];
        return c.operators[c.generation].contains(account);
    }

    /// @inheritdoc IDDCViews
    function clusterValidators(ClusterId cluster) external view returns (address[] memory) {
        Cluster storage c = _st().existingCluster(cluster);
        return c.validators[c.generation].values();
    }

    /// @inheritdoc IDDCViews
    function clusterBuckets(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (BucketId[] memory page, uint256 total) {
        BucketId[] storage all = _st().existingCluster(cluster).buckets;
        total = all.length;
        uint256 end = _pageEnd(from, count, total);
        page = new BucketId[](end - from);
        for (uint256 i = from; i < end; ++i) page[i - from] = all[i];
    }

    /// @inheritdoc IDDCViews
    function clusterEra(ClusterId cluster) external view returns (uint32, uint40, uint40) {
        return ClusterLogic.era(_st(), cluster);
    }

    /// @inheritdoc IDDCViews
    function clusterPriceIndex(ClusterId cluster) external view returns (uint256) {
        PriceState memory p = _st().existingCluster(cluster).price;
        return p.indexAt(block.timestamp);
    }

    /// @inheritdoc IDDCViews
    function clusterPriceCheckpoints(ClusterId cluster) external view returns (PriceCheckpoint[] memory) {
        return _st().existingCluster(cluster).checkpoints;
    }

    /// @inheritdoc IDDCViews
    function clusterPriceCheckpointsPage(
        ClusterId cluster,
        uint256 from,
        uint256 count
    ) external view returns (PriceCheckpoint[] memory page, uint256 total) {
        PriceCheckpoint[] storage all = _st().existingCluster(cluster).checkpoints;
        total = all.length;
        uint256 end = _pageEnd(from, count, total);
        page = new PriceCheckpoint[](end - from);
        for (uint256 i = from; i < end; ++i) page[i - from] = all[i];
    }

    /// @inheritdoc IDDCViews
    function getBucket(BucketId bucket) external view returns (BucketView memory) {
        return BucketLogic.get(_st(), bucket);
    }

    /// @inheritdoc IDDCViews
    function bucketStatus(BucketId bucket) external view returns (BucketStatus) {
        return BucketLogic.status(_st(), bucket);
    }

    /// @inheritdoc IDDCViews
    function bucketHasRole(BucketId bucket, address account, BucketRole role) external view returns (bool) {
        Bucket storage b = _st().existingBucket(bucket);
        return account == b.owner || (_st().bucketRoles[bucket][account] >> uint8(role)) & 1 == 1;
    }

    /// @inheritdoc IDDCViews
    function nodeRevenue(NodeId node) external view returns (uint256) {
        return RevenueLogic.revenueOf(_st(), node);
    }

    /// @inheritdoc IDDCViews
    function accountBalance(address account) external view returns (uint256) {
        return _st().balances[account];
    }

    /// @inheritdoc IDDCViews
    function clusterRevenue(
        ClusterId cluster
    ) external view returns (uint256 reserve, uint256 revenuePerWeight, uint32 nextEra) {
        Cluster storage c = _st().existingCluster(cluster);
        return (c.reserve, c.accPerWeight, c.nextEra);
    }

    /// @inheritdoc IDDCViews
    function getLedger(address owner, ClusterId cluster) external view returns (LedgerView memory) {
        return BucketLogic.ledger(_st(), owner, cluster);
    }

    /// @inheritdoc IDDCViews
    function rentCoveredUntil(address owner, ClusterId cluster) external view returns (uint40) {
        return BucketLogic.coveredUntil(_st(), owner, cluster);
    }

    /// @inheritdoc IDDCViews
    function accountFreeBalance(address owner, ClusterId cluster) external view returns (uint256) {
        return BucketLogic.freeBalance(_st(), owner, cluster);
    }

    /// @dev The end of page `[from, from + count)` of a list of `total` items (`from` if past it).
    function _pageEnd(uint256 from, uint256 count, uint256 total) private pure returns (uint256) {
        return from >= total ? from : (total - from < count ? total : from + count);
    }

    function _st() private pure returns (CoreStorage storage) {
        return CoreStorageLib.load();
    }
}
