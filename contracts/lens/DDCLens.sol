// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {IDDC} from "../interfaces/IDDCViews.sol";
import {NodeView, ClusterView, BucketView, LedgerView, NodeStatus} from "../interfaces/IDDCTypes.sol";

/// @title DDCLens
/// @notice Read-only helpers for clients (apps, storage nodes, explorers): paged and filtered lists,
/// the ring in order, and which nodes hold a key. It holds no state and only calls the core's views.
/// @dev Lists are paged by cursor: pass `cursor` 0 to start, then the returned `next` until it is 0.
/// A call scans at most {MAX_SCAN} ids and returns at most that many items (a larger `limit` is
/// lowered to it), so it stays cheap whatever the filter.
contract DDCLens {
    /// @notice The most ids one list call looks at.
    uint256 public constant MAX_SCAN = 100;
    /// @notice The most bucket ids one {settlementPage} call looks at. A bucket costs about
    /// 33,000 gas (its view and its ledger's, with live accrual): 300 stay well within the
    /// 16,777,216 gas a node allows one call (EIP-7825).
    uint256 public constant MAX_SETTLEMENT_SCAN = 300;
    /// @notice The most node ids one {replacementCandidates} call looks at.
    uint256 public constant MAX_CANDIDATE_SCAN = 500;

    /// @notice What the manager bot needs to decide whether a bucket's ledger is due for settlement.
    /// @param bucket The bucket.
    /// @param owner Its owner.
    /// @param units The units it is billed for.
    /// @param owed Rent accrued and not settled yet by the owner's ledger in this cluster (all its
    /// buckets), in token units.
    /// @param coveredUntil When that ledger's balance runs out (max uint40 if never).
    struct BucketSettlement {
        BucketId bucket;
        address owner;
        uint64 units;
        uint256 owed;
        uint40 coveredUntil;
    }

    /// @notice The core whose views the lens reads.
    IDDC public immutable core;

    /// @notice Binds the lens to a core.
    /// @param core_ The core's address.
    constructor(IDDC core_) {
        core = core_;
    }

    /// @notice Nodes, optionally of one provider (`provider` 0 = any). Removed nodes are skipped.
    /// @param cursor The first node id to look at (0: from the start).
    /// @param limit The most items to return (at most {MAX_SCAN}).
    /// @param provider Only this provider's nodes, or 0 for all.
    /// @return items The nodes found, in id order.
    /// @return next The cursor of the next call, 0 at the end.
    function listNodes(
        uint256 cursor,
        uint256 limit,
        address provider
    ) external view returns (NodeView[] memory items, uint256 next) {
        (uint256 id, uint256 end) = _window(cursor, core.nodeCount());
        limit = _cap(limit);
        items = new NodeView[](limit);
        uint256 found;
        for (; id <= end && found < limit; ++id) {
            try core.getNode(NodeId.wrap(uint32(id))) returns (NodeView memory n) {
                if (provider == address(0) || n.provider == provider) items[found++] = n;
            } catch {} // removed
        }
        next = id <= core.nodeCount() ? id : 0;
        assembly ("memory-safe") {
            mstore(items, found)
        }
    }

    /// @notice Clusters, optionally of one manager (`manager` 0 = any).
    /// @param cursor The first cluster id to look at (0: from the start).
    /// @param limit The most items to return (at most {MAX_SCAN}).
    /// @param manager Only this manager's clusters, or 0 for all.
    /// @return items The clusters found, in id order.
    /// @return next The cursor of the next call, 0 at the end.
    function listClusters(
        uint256 cursor,
        uint256 limit,
        address manager
    ) external view returns (ClusterView[] memory items, uint256 next) {
        (uint256 id, uint256 end) = _window(cursor, core.clusterCount());
        limit = _cap(limit);
        items = new ClusterView[](limit);
        uint256 found;
        for (; id <= end && found < limit; ++id) {
            ClusterView memory c = core.getCluster(ClusterId.wrap(uint32(id)));
            if (manager == address(0) || c.manager == manager) items[found++] = c;
        }
        next = id <= core.clusterCount() ? id : 0;
        assembly ("memory-safe") {
            mstore(items, found)
        }
    }

    /// @notice Buckets, optionally of one owner and/or in one cluster (0 = any); closed ones only
    /// if `includeClosed`.
    /// @dev With a cluster, the cursor walks that cluster's own bucket index (so other clusters'
    /// buckets cost nothing); without, it walks bucket ids across all clusters.
    /// @param cursor Where to start (0: from the start): a bucket id, or with a cluster a position
    /// in its index; pass the returned `next` to continue.
    /// @param limit The most items to return (at most {MAX_SCAN}).
    /// @param owner Only this owner's buckets, or 0 for all.
    /// @param cluster Only buckets in this cluster, or 0 for all.
    /// @param includeClosed Whether closed buckets are listed.
    /// @return items The buckets found, in id order.
    /// @return next The cursor of the next call, 0 at the end.
    function listBuckets(
        uint256 cursor,
        uint256 limit,
        address owner,
        ClusterId cluster,
        bool includeClosed
    ) external view returns (BucketView[] memory items, uint256 next) {
        limit = _cap(limit);
        items = new BucketView[](limit);
        uint256 found;
        if (ClusterId.unwrap(cluster) != 0) {
            uint256 from = cursor == 0 ? 0 : cursor - 1;
            (BucketId[] memory ids, uint256 total) = core.clusterBuckets(cluster, from, MAX_SCAN);
            uint256 i;
            for (; i < ids.length && found < limit; ++i) {
                BucketView memory b = core.getBucket(ids[i]);
                if ((owner == address(0) || b.owner == owner) && (includeClosed || !b.closed)) items[found++] = b;
            }
            next = from + i < total ? from + i + 1 : 0;
        } else {
            (uint256 id, uint256 end) = _window(cursor, core.bucketCount());
            for (; id <= end && found < limit; ++id) {
                BucketView memory b = core.getBucket(BucketId.wrap(uint64(id)));
                if ((owner == address(0) || b.owner == owner) && (includeClosed || !b.closed)) items[found++] = b;
            }
            next = id <= core.bucketCount() ? id : 0;
        }
        assembly ("memory-safe") {
            mstore(items, found)
        }
    }

    /// @notice A cluster's members with their number of vNodes and status, in one call.
    /// @dev Reverts with {IDDCCore.ClusterNotFound} for an unknown cluster.
    /// @param cluster The cluster.
    /// @return nodes The members, in the core's storage order.
    /// @return vNodes The vNodes each holds.
    /// @return status The status of each.
    function clusterMembers(
        ClusterId cluster
    ) external view returns (NodeId[] memory nodes, uint256[] memory vNodes, NodeStatus[] memory status) {
        nodes = core.clusterNodes(cluster);
        vNodes = new uint256[](nodes.length);
        status = new NodeStatus[](nodes.length);
        for (uint256 i = 0; i < nodes.length; ++i) {
            (NodeStatus s, , uint64[] memory tokens) = core.clusterNodeInfo(cluster, nodes[i]);
            (vNodes[i], status[i]) = (tokens.length, s);
        }
    }

    /// @notice Nodes that could replace a member of `cluster`: registered, not members, with
    /// whether their provider trusts the cluster's manager and their free capacity; node ids
    /// `cursor`… ({MAX_CANDIDATE_SCAN} a call, `next` 0 at the end).
    /// @param cluster The cluster.
    /// @param cursor The first node id to look at (0: from the start).
    /// @return nodes The candidates found, in id order.
    /// @return trusted Whether each one's provider trusts the cluster's manager.
    /// @return free Each one's capacity not reserved by any cluster, in units.
    /// @return next The cursor of the next call, 0 at the end.
    function replacementCandidates(
        ClusterId cluster,
        uint256 cursor
    ) external view returns (NodeId[] memory nodes, bool[] memory trusted, uint256[] memory free, uint256 next) {
        address manager = core.getCluster(cluster).manager;
        uint256 count = core.nodeCount();
        uint256 id = cursor == 0 ? 1 : cursor;
        uint256 end = id + MAX_CANDIDATE_SCAN - 1;
        if (end > count) end = count;
        uint256 size = end >= id ? end - id + 1 : 0;
        (nodes, trusted, free) = (new NodeId[](size), new bool[](size), new uint256[](size));
        uint256 found;
        for (; id <= end; ++id) {
            NodeId node = NodeId.wrap(uint32(id));
            try core.getNode(node) returns (NodeView memory n) {
                try core.clusterNodeInfo(cluster, node) {
                    continue; // a member
                } catch {}
                (nodes[found], trusted[found]) = (node, core.isManagerTrusted(n.provider, manager));
                free[found++] = n.capacity - n.reserved;
            } catch {} // removed
        }
        next = id <= count ? id : 0;
        assembly ("memory-safe") {
            mstore(nodes, found)
            mstore(trusted, found)
            mstore(free, found)
        }
    }

    /// @notice The open buckets of `cluster` among its buckets `cursor`… in creation order (its own
    /// index: other clusters' buckets cost nothing here), at most {MAX_SETTLEMENT_SCAN} a call,
    /// `next` 0 at the end; each with its ledger's rent owed and coverage.
    /// @dev Reverts with {IDDCCore.ClusterNotFound} for an unknown cluster.
    /// @param cluster The cluster.
    /// @param cursor The position of the first bucket in the cluster's index, plus one (0: from the
    /// start).
    /// @return items The open buckets found, in creation order.
    /// @return next The cursor of the next call, 0 at the end.
    function settlementPage(
        ClusterId cluster,
        uint256 cursor
    ) external view returns (BucketSettlement[] memory items, uint256 next) {
        uint256 from = cursor == 0 ? 0 : cursor - 1;
        (BucketId[] memory ids, uint256 total) = core.clusterBuckets(cluster, from, MAX_SETTLEMENT_SCAN);
        items = new BucketSettlement[](ids.length);
        uint256 found;
        for (uint256 i = 0; i < ids.length; ++i) {
            BucketView memory b = core.getBucket(ids[i]);
            if (b.closed) continue;
            LedgerView memory l = core.getLedger(b.owner, cluster);
            items[found++] = BucketSettlement(b.id, b.owner, b.billed, l.owed, l.coveredUntil);
        }
        uint256 end = from + ids.length;
        next = end < total ? end + 1 : 0;
        assembly ("memory-safe") {
            mstore(items, found)
        }
    }

    /// @notice The ring in token order, with the node of each vNode.
    /// @param cluster The cluster.
    /// @return tokens The vNodes' ring positions, ascending.
    /// @return nodes The node of each vNode.
    function ring(ClusterId cluster) public view returns (uint64[] memory tokens, NodeId[] memory nodes) {
        (tokens, nodes) = core.clusterRing(cluster);
        _sort(tokens, nodes, 0, int256(tokens.length) - 1);
    }

    /// @notice The ring position of a key: the top 64 bits of `keccak256(key)`.
    /// @param key The key (an object's key within its bucket).
    /// @return The key's token on the ring.
    function keyToken(bytes calldata key) public pure returns (uint64) {
        return uint64(uint256(keccak256(key)) >> 192);
    }

    /// @notice The nodes holding `key`: the node of the first vNode at or after the key's token
    /// (wrapping around), then the next distinct nodes along the ring, `replicationFactor` in all
    /// (fewer if the cluster has fewer nodes).
    /// @param cluster The cluster.
    /// @param key The key.
    /// @return holders The nodes holding the key's replicas, the primary first.
    function nodesForKey(ClusterId cluster, bytes calldata key) external view returns (NodeId[] memory holders) {
        (uint64[] memory tokens, NodeId[] memory nodes) = ring(cluster);
        uint256 n = tokens.length;
        uint256 want = core.getCluster(cluster).params.replicationFactor;
        uint256 distinct = core.clusterNodes(cluster).length;
        if (want > distinct) want = distinct;
        holders = new NodeId[](want);
        if (n == 0) return holders;
        uint64 t = keyToken(key);
        uint256 start = 0;
        while (start < n && tokens[start] < t) ++start;
        uint256 found;
        for (uint256 step = 0; step < n && found < want; ++step) {
            NodeId candidate = nodes[(start + step) % n];
            bool seen;
            for (uint256 j = 0; j < found; ++j) {
                if (holders[j] == candidate) {
                    seen = true;
                    break;
                }
            }
            if (!seen) holders[found++] = candidate;
        }
    }

    function _cap(uint256 limit) private pure returns (uint256) {
        return limit > MAX_SCAN ? MAX_SCAN : limit;
    }

    function _window(uint256 cursor, uint256 count) private pure returns (uint256 id, uint256 end) {
        id = cursor == 0 ? 1 : cursor;
        end = id + MAX_SCAN - 1;
        if (end > count) end = count;
    }

    function _sort(uint64[] memory tokens, NodeId[] memory nodes, int256 lo, int256 hi) private pure {
        while (lo < hi) {
            uint64 pivot = tokens[uint256(lo + (hi - lo) / 2)];
            int256 i = lo;
            int256 j = hi;
            while (i <= j) {
                while (tokens[uint256(i)] < pivot) ++i;
                while (tokens[uint256(j)] > pivot) --j;
                if (i <= j) {
                    (tokens[uint256(i)], tokens[uint256(j)]) = (tokens[uint256(j)], tokens[uint256(i)]);
                    (nodes[uint256(i)], nodes[uint256(j)]) = (nodes[uint256(j)], nodes[uint256(i)]);
                    ++i;
                    --j;
                }
            }
            // Recurse into the smaller side, loop over the larger.
            if (j - lo < hi - i) {
                _sort(tokens, nodes, lo, j);
                lo = i;
            } else {
                _sort(tokens, nodes, i, hi);
                hi = j;
            }
        }
    }
}
