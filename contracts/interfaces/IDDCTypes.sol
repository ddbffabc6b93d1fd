// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";

/// @notice Constants shared by the core, its libraries and its clients.
library DDCConstants {
    /// @dev The billing month: every rent is quoted per vNode per month per unit.
    uint256 internal constant MONTH = 30 days;
    /// @dev Basis points: 10_000 is 100 %.
    uint256 internal constant BPS = 10_000;

    /// @dev Caps on global parameters, fixed in code: governance moves within them, never past them.
    uint256 internal constant MAX_NETWORK_FEE_BPS = 1_000; // 10 %
    uint256 internal constant MAX_MANAGEMENT_FEE_BPS = 2_000; // 20 %
    uint256 internal constant MAX_UNLOCK_DELAY = 30 days;
    uint256 internal constant MIN_GRACE_PERIOD = 1 hours;
    uint256 internal constant MAX_GRACE_PERIOD = 90 days;
    uint256 internal constant MIN_ERA_LENGTH = 10 minutes;
    uint256 internal constant MAX_ERA_LENGTH = 30 days;
    uint256 internal constant MAX_PRICE_NOTICE = 90 days;
    /// @dev The shortest notice of a price increase, whatever the parameters say.
    uint256 internal constant MIN_PRICE_NOTICE = 1 days;
    /// @dev The highest price a cluster may head to (per unit per month): the index then needs
    /// over 30,000 years to pass its 120 bits, so no settlement or withdrawal can ever overflow.
    uint256 internal constant MAX_CLUSTER_PRICE = 1 << 80;
    /// @dev Scale of a cluster's revenue per weight unit.
    uint256 internal constant ACC_SCALE = 1e24;
    /// @dev A node is in at most this many clusters (claims loop over them).
    uint256 internal constant MAX_CLUSTERS_PER_NODE = 8;

    /// @dev Bounds that keep every loop over a manager-grown set under the block gas cap.
    uint256 internal constant MAX_NODES_PER_CLUSTER = 512;
    uint256 internal constant MAX_VNODES_PER_CLUSTER = 2_048;
    uint256 internal constant MAX_VNODES_PER_NODE = 64;
    uint256 internal constant MAX_VALIDATORS = 64;
    uint256 internal constant MAX_OPERATORS = 16;
    uint256 internal constant MAX_REPLICATION_FACTOR = 16;
    uint256 internal constant MAX_URLS = 4;
    uint256 internal constant MAX_URL_LENGTH = 256;
    /// @dev `bucketSettlePayment` accepts at most this many buckets (proven under 16,777,216 gas).
    uint256 internal constant MAX_SETTLE_BATCH = 1_200;
    /// @dev `clusterReportUsage` accepts at most this many buckets (proven under 16,777,216 gas).
    uint256 internal constant MAX_USAGE_BATCH = 300;
}

/// @notice A node's status inside one cluster, set by the cluster's manager.
enum NodeStatus {
    None,
    Active,
    Offline
}

/// @notice A bucket's status, derived from its ledger: nobody has to act for it to change.
enum BucketStatus {
    None,
    Active,
    InArrears,
    Suspended,
    Closed
}

/// @notice Roles an owner grants on a bucket. The owner holds both implicitly.
enum BucketRole {
    Writer,
    Reader
}

/// @notice What a provider says about a node. `engine` and `version` are short (≤ 31 bytes) and
/// stored; `urls` are stored (bounded); `metadata` is emitted only.
struct NodeParams {
    string engine;
    string version;
    string[] urls;
    string metadata;
}

/// @notice A node as clients see it.
struct NodeView {
    NodeId id;
    address provider;
    address signingKey;
    uint64 capacity;
    uint64 reserved;
    uint96 rent;
    uint16 clusterCount;
    string engine;
    string version;
    string[] urls;
}

/// @notice The settings a manager chooses for a cluster.
/// @param replicationFactor Copies of every key, on distinct nodes.
/// @param eraLength Seconds per era (QoS measurement and distribution period).
/// @param qosThreshold The score (0..10_000) a node needs in an era to be eligible.
/// @param managementFeeBps The manager's share of each distribution, in basis points.
/// @param priceNotice Notice before a price increase applies; the unlock delay applies if longer.
struct ClusterParams {
    uint8 replicationFactor;
    uint32 eraLength;
    uint16 qosThreshold;
    uint16 managementFeeBps;
    uint32 priceNotice;
}

/// @notice A cluster as clients see it.
struct ClusterView {
    ClusterId id;
    address manager;
    address pendingManager;
    ClusterParams params;
    uint64 unitSize;
    uint64 reservedPerVNode;
    uint64 allocated;
    uint16 nodeCount;
    uint16 vNodeCount;
    uint96 price;
    uint96 pendingPrice;
    uint40 pendingPriceAt;
    uint256 index;
    uint256 revenuePool;
    uint64 billableBuckets;
    uint64 bucketCount;
    uint8 exclusionFactor;
}

/// @notice One point of the price index: from `time` on, the index grows by `price` per second
/// from `index`. The index is `∫ price dt`, with `price` the cluster's rent per unit per month.
struct PriceCheckpoint {
    uint40 time;
    uint120 index;
    uint96 price;
}

/// @notice A bucket as clients see it.
struct BucketView {
    BucketId id;
    address owner;
    ClusterId cluster;
    bool closed;
    uint64 reserved;
    uint64 measured;
    uint64 billed;
    uint64 cap;
    BucketStatus status;
}

/// @notice A ledger (one owner in one cluster) as clients see it, with live figures.
/// @param units What the owner's open buckets in the cluster are billed for (Σ billed units).
/// @param capUnits What they can be billed for (Σ caps): the runway is kept on these.
/// @param owed Rent accrued since the last settlement, not yet charged.
/// @param free What a withdrawal could take now (after settling and keeping the runway).
/// @param coveredUntil When the balance runs out at the scheduled prices (max uint40 if never).
/// @param arrearsSince When the balance ran out, 0 if it has not.
struct LedgerView {
    uint256 balance;
    uint256 debt;
    uint64 units;
    uint256 owed;
    uint256 free;
    uint256 runway;
    uint256 unlockAmount;
    uint40 unlockAt;
    uint40 coveredUntil;
    uint40 arrearsSince;
    uint64 capUnits;
}

/// @notice Global parameters, moved by governance within the caps of {DDCConstants}.
struct GlobalParams {
    uint16 networkFeeBps;
    address feeDestination;
    uint32 unlockDelay;
    uint32 gracePeriod;
}
