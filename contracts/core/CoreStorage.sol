// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ShortString} from "@openzeppelin/contracts/utils/ShortStrings.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {NodeStatus, PriceCheckpoint, GlobalParams} from "../interfaces/IDDCTypes.sol";
import {PriceState} from "../libraries/PriceIndex.sol";
import {Ledger} from "../libraries/LedgerMath.sol";

struct Node {
    address provider;
    uint64 capacity;
    uint16 clusterCount;
    uint64 reserved;
    uint96 rent;
    /// @dev Revenue synced from the node's memberships (at weight changes, exclusions and removals)
    /// and not claimed yet. What a membership earned since its last sync is computed, not stored.
    uint96 claimable;
    address signingKey;
    ShortString engine;
    ShortString version;
    string[] urls;
    /// @dev The clusters holding the node: `clusterCount` ids of 32 bits, packed in one word (at
    /// most {DDCConstants.MAX_CLUSTERS_PER_NODE} = 8), read by {NodeClusters}.
    uint256 clusterIds;
}

/// @dev `rent` is the rent the manager accepted; until schedule `scheduleId` is in force (see
/// {PriceState}), the member is charged `inForceRent` instead.
struct Membership {
    NodeStatus status;
    uint96 rent;
    uint16 position; // index in Cluster.nodes
    uint96 inForceRent;
    uint24 scheduleId;
    uint8 nodeSlot; // index in Node.clusters
    uint8 vNodes; // tokens.length, kept in the first slot for revenue accounting
    uint64[] tokens;
    /// @dev The cluster's revenue per weight when the member last synced (what it earned up to
    /// then is in its node's `claimable`).
    uint256 accCheckpoint;
    /// @dev When the provider may take the node out of the cluster (0: no request to leave).
    uint40 leaveAt;
}

struct VNode {
    NodeId node;
    uint32 position; // index in Cluster.tokens
}

struct Cluster {
    address manager;
    uint8 replicationFactor;
    uint16 qosThreshold;
    uint16 managementFeeBps;
    uint32 priceNotice;
    /// @dev Bumped when a new manager accepts: operators and validators are kept per generation,
    /// so a handover clears both in O(1).
    uint32 generation;
    address pendingManager;
    uint64 unitSize;
    uint64 reservedPerVNode;
    // Eras: from `anchorStart` on, era `anchorEra + k` starts at `anchorStart + k × eraLength`.
    // The era just before the anchor lasted `prevEraLength`.
    uint32 anchorEra;
    uint40 anchorStart;
    uint32 eraLength;
    uint32 prevEraLength;
    PriceState price;
    PriceCheckpoint[] checkpoints;
    uint256 revenuePool;
    /// @dev Revenue per weight unit (scaled by {DDCConstants.ACC_SCALE}) distributed so far, the
    /// part of the last distribution below one scaled unit (carried), the next era that may be
    /// distributed, the largest replication factor in force since the last distribution (it caps
    /// that distribution's exclusions), the number of open buckets that can be billed (cap > 0:
    /// while there is one, a price increase waits its notice and the cluster keeps its replicas),
    /// the reserve (only the manager moves it), and the revenue per weight when each price schedule
    /// came into force (members' weights change then).
    uint256 accPerWeight;
    uint256 accCarry;
    uint32 nextEra;
    uint8 exclusionFactor;
    uint64 billableBuckets;
    uint256 reserve;
    mapping(uint24 schedule => uint256) accAtApply;
    NodeId[] nodes;
    uint64[] tokens;
    mapping(NodeId node => Membership) members;
    mapping(uint64 token => VNode) ring;
    mapping(uint32 generation => EnumerableSet.AddressSet) validators;
    mapping(uint32 generation => EnumerableSet.AddressSet) operators;
    /// @dev Every bucket created in the cluster, in creation order (closed ones included), so that
    /// a cluster's settlement scan costs what its own buckets cost.
    BucketId[] buckets;
}

/// @dev Slot 0 (read by every settlement): owner | cluster | closed. Slot 1: the unit figures.
struct Bucket {
    address owner;
    ClusterId cluster;
    bool closed;
    /// @dev 1 + the last era a usage report covered (0: never).
    uint32 reportedEras;
    uint64 reserved;
    uint64 measured;
    uint64 billed;
    uint64 cap;
}

/// @notice All state of the core, in one struct so that the core and its linked logic libraries
/// (which run in the core's context through DELEGATECALL) share it.
struct CoreStorage {
    GlobalParams params;
    uint32 nodeCount;
    uint32 clusterCount;
    uint64 bucketCount;
    mapping(NodeId node => Node) nodes;
    mapping(address key => NodeId) nodeByKey;
    mapping(address provider => mapping(address manager => bool)) trust;
    mapping(ClusterId cluster => Cluster) clusters;
    mapping(BucketId bucket => Bucket) buckets;
    mapping(BucketId bucket => mapping(address account => uint256 roles)) bucketRoles;
    /// @dev Keyed by `owner | cluster << 160` (one hash per look-up, see {Lookup.ledger}).
    mapping(uint256 key => Ledger) ledgers;
    /// @dev Internal balances: network fees (fee destination) and management fees (managers).
    mapping(address account => uint256) balances;
}

/// @notice Where {CoreStorage} lives: an ERC-7201 namespace, so that the core, its linked logic
/// libraries and its views extension (all running in the core's context) find the same state.
library CoreStorageLib {
    /// @custom:storage-location erc7201:ddc.storage.Core
    /// keccak256(abi.encode(uint256(keccak256("ddc.storage.Core")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 internal constant SLOT = 0x5f1d333405c5d8cebbd6d325654ec9da1d27f6de63e95067c82ab6b27c161b00;

    function load() internal pure returns (CoreStorage storage s) {
        assembly ("memory-safe") {
            s.slot := SLOT
        }
    }
}

/// @notice The list of a node's clusters, packed in {Node.clusterIds}: entry `i` is bits
/// `[32i, 32i + 32)`, the length is {Node.clusterCount}; entries past the length are zero.
library NodeClusters {
    uint256 private constant MASK = type(uint32).max;

    function at(uint256 packed, uint256 i) internal pure returns (ClusterId) {
        return ClusterId.wrap(uint32(packed >> (32 * i)));
    }

    /// @dev Appends `cluster` as entry `count` (the caller checks `count < 8`).
    function push(Node storage n, ClusterId cluster) internal returns (uint8 slot) {
        uint256 count = n.clusterCount;
        n.clusterIds |= uint256(ClusterId.unwrap(cluster)) << (32 * count);
        n.clusterCount = uint16(count + 1);
        return uint8(count);
    }

    /// @dev Removes entry `slot` (swap-and-pop); returns the cluster moved into `slot` and whether
    /// one moved (the caller updates that membership's `nodeSlot`).
    function remove(Node storage n, uint256 slot) internal returns (ClusterId moved, bool didMove) {
        uint256 last = n.clusterCount - 1;
        uint256 packed = n.clusterIds;
        moved = at(packed, last);
        packed &= ~(MASK << (32 * last));
        if (slot != last) {
            packed = (packed & ~(MASK << (32 * slot))) | (uint256(ClusterId.unwrap(moved)) << (32 * slot));
            didMove = true;
        }
        n.clusterIds = packed;
        n.clusterCount = uint16(last);
    }
}

/// @notice Look-ups that check existence and the caller, shared by the core and its libraries.
library Lookup {
    using EnumerableSet for EnumerableSet.AddressSet;

    function existingNode(CoreStorage storage s, NodeId node) internal view returns (Node storage n) {
        n = s.nodes[node];
        require(n.provider != address(0), IDDCCore.NodeNotFound(node));
    }

    function providedNode(CoreStorage storage s, NodeId node) internal view returns (Node storage n) {
        n = existingNode(s, node);
        require(n.provider == msg.sender, IDDCCore.NodeNotProvider(node, msg.sender));
    }

    function existingCluster(CoreStorage storage s, ClusterId cluster) internal view returns (Cluster storage c) {
        c = s.clusters[cluster];
        require(c.manager != address(0), IDDCCore.ClusterNotFound(cluster));
    }

    function managedCluster(CoreStorage storage s, ClusterId cluster) internal view returns (Cluster storage c) {
        c = existingCluster(s, cluster);
        require(msg.sender == c.manager, IDDCCore.ClusterNotManager(cluster, msg.sender));
    }

    function member(Cluster storage c, ClusterId cluster, NodeId node) internal view returns (Membership storage m) {
        m = c.members[node];
        require(m.status != NodeStatus.None, IDDCCore.ClusterNodeNotMember(cluster, node));
    }

    function existingBucket(CoreStorage storage s, BucketId bucket) internal view returns (Bucket storage b) {
        b = s.buckets[bucket];
        require(b.owner != address(0), IDDCCore.BucketNotFound(bucket));
    }

    function ownedBucket(CoreStorage storage s, BucketId bucket) internal view returns (Bucket storage b) {
        b = existingBucket(s, bucket);
        require(b.owner == msg.sender, IDDCCore.BucketNotOwner(bucket, msg.sender));
    }

    function ownedOpenBucket(CoreStorage storage s, BucketId bucket) internal view returns (Bucket storage b) {
        b = ownedBucket(s, bucket);
        require(!b.closed, IDDCCore.BucketIsClosed(bucket));
    }

    /// @dev The ledger of `owner` in `cluster`.
    function ledger(CoreStorage storage s, address owner, ClusterId cluster) internal view returns (Ledger storage) {
        return s.ledgers[uint256(uint160(owner)) | (uint256(ClusterId.unwrap(cluster)) << 160)];
    }

    /// @dev The cluster, if the caller is its manager or one of its operators.
    function operatedCluster(CoreStorage storage s, ClusterId cluster) internal view returns (Cluster storage c) {
        c = existingCluster(s, cluster);
        require(
            msg.sender == c.manager || c.operators[c.generation].contains(msg.sender),
            IDDCCore.ClusterNotOperator(cluster, msg.sender)
        );
    }

    function checkRange(bytes32 name, uint256 value, uint256 min, uint256 max) internal pure {
        require(value >= min && value <= max, IDDCCore.DDCParameterOutOfRange(name, value, min, max));
    }
}
