// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";

/// @notice Constants shared by the core, its libraries and its clients: the billing month, the caps
/// on parameters that governance and managers move within, and the bounds that keep every loop and
/// batch under the block gas limit.
library DDCConstants {
    /// @dev The billing month: every rent is quoted per vNode per month per unit.
    uint256 internal constant MONTH = 30 days;
    /// @dev Basis points: 10_000 is 100 %.
    uint256 internal constant BPS = 10_000;

    /// @dev The highest network fee (10 %): caps on global parameters are fixed in code; governance
    /// moves within them, never past them.
    uint256 internal constant MAX_NETWORK_FEE_BPS = 1_000; // 10 %
    /// @dev The highest management fee a cluster may take (20 %).
    uint256 internal constant MAX_MANAGEMENT_FEE_BPS = 2_000; // 20 %
    /// @dev The longest unlock delay.
    uint256 internal constant MAX_UNLOCK_DELAY = 30 days;
    /// @dev The shortest grace period.
    uint256 internal constant MIN_GRACE_PERIOD = 1 hours;
    /// @dev The longest grace period.
    uint256 internal constant MAX_GRACE_PERIOD = 90 days;
    /// @dev The shortest era.
    uint256 internal constant MIN_ERA_LENGTH = 10 minutes;
    /// @dev The longest era.
    uint256 internal constant MAX_ERA_LENGTH = 30 days;
    /// @dev The longest price notice a cluster may set.
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

    /// @dev The most nodes in one cluster (bounds keep every loop over a manager-grown set under the
    /// block gas cap).
    uint256 internal constant MAX_NODES_PER_CLUSTER = 512;
    /// @dev The most vNodes in one cluster.
    uint256 internal constant MAX_VNODES_PER_CLUSTER = 2_048;
    /// @dev The most vNodes one node holds in one cluster.
    uint256 internal constant MAX_VNODES_PER_NODE = 64;
    /// @dev The most validators of one cluster.
    uint256 internal constant MAX_VALIDATORS = 64;
    /// @dev The most operators of one cluster.
    uint256 internal constant MAX_OPERATORS = 16;
    /// @dev The highest replication factor.
    uint256 internal constant MAX_REPLICATION_FACTOR = 16;
    /// @dev The most URLs a node lists.
    uint256 internal constant MAX_URLS = 4;
    /// @dev The longest URL, in bytes.
    uint256 internal constant MAX_URL_LENGTH = 256;
    /// @dev `bucketSettlePayment` accepts at most this many buckets (proven under 16,777,216 gas).
    uint256 internal constant MAX_SETTLE_BATCH = 1_200;
    /// @dev `clusterReportUsage` accepts at most this many buckets (proven under 16,777,216 gas).
    uint256 internal constant MAX_USAGE_BATCH = 300;
}

/// @notice A node's status inside one cluster, set by the cluster's manager with
/// {IDDCCore.clusterSetNodeStatus}.
/// @dev `None`: not a member. `Active`: a member in service (the status on joining); only an Active
/// member may take vNodes in a replacement. `Offline`: a member the manager marked out of service
/// (it keeps its vNodes, weight and revenue until replaced or removed).
enum NodeStatus {
    None,
    Active,
    Offline
}

/// @notice A bucket's status, derived from its ledger: nobody has to act for it to change.
/// @dev `None`: never returned for an existing bucket. `Active`: the ledger covers its rent; served
/// fully. `InArrears`: the ledger's balance ran out (from that second); served for reading only.
/// `Suspended`: in arrears for longer than the grace period; not served, and anyone may evict it.
/// `Closed`: closed by its owner or evicted.
enum BucketStatus {
    None,
    Active,
    InArrears,
    Suspended,
    Closed
}

/// @notice Roles an owner grants on a bucket. The owner holds both implicitly.
/// @dev `Writer`: may write objects. `Reader`: may read them.
enum BucketRole {
    Writer,
    Reader
}

/// @notice What a provider says about a node. `engine` and `version` are short (≤ 31 bytes) and
/// stored; `urls` are stored (bounded); `metadata` is emitted only.
/// @param engine The storage engine the node runs (≤ 31 bytes).
/// @param version Its version (≤ 31 bytes).
/// @param urls Where the node serves, at most {DDCConstants.MAX_URLS} of at most
/// {DDCConstants.MAX_URL_LENGTH} bytes each.
/// @param metadata Anything else (emitted in {IDDCCore.NodeCreated} and {IDDCCore.NodeParamsChanged},
/// not stored).
struct NodeParams {
    string engine;
    string version;
    string[] urls;
    string metadata;
}

/// @notice A node as clients see it ({IDDCViews.getNode}).
/// @param id The node's id.
/// @param provider Its provider.
/// @param signingKey The key it signs with.
/// @param capacity Its capacity, in units.
/// @param reserved The units its clusters reserve on it (each: units per vNode × its vNodes there).
/// @param rent The rent it asks, per vNode per month per unit (each cluster charges the rent its
/// manager accepted).
/// @param clusterCount How many clusters hold it.
/// @param engine Its storage engine.
/// @param version The engine's version.
/// @param urls Where it serves.
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

/// @notice The settings a manager chooses for a cluster, each within a range fixed in
/// {DDCConstants}.
/// @param replicationFactor Copies of every key, on distinct nodes (1 to
/// {DDCConstants.MAX_REPLICATION_FACTOR}); not lowered while the cluster has a billable bucket.
/// @param eraLength Seconds per era (QoS measurement and distribution period), from
/// {DDCConstants.MIN_ERA_LENGTH} to {DDCConstants.MAX_ERA_LENGTH}.
/// @param qosThreshold The score (0..10_000) a node needs in an era to be eligible.
/// @param managementFeeBps The manager's share of each distribution, in basis points (at most
/// {DDCConstants.MAX_MANAGEMENT_FEE_BPS}).
/// @param priceNotice Notice before a price increase applies; the unlock delay applies if longer, and
/// never less than {DDCConstants.MIN_PRICE_NOTICE} (at most {DDCConstants.MAX_PRICE_NOTICE}).
struct ClusterParams {
    uint8 replicationFactor;
    uint32 eraLength;
    uint16 qosThreshold;
    uint16 managementFeeBps;
    uint32 priceNotice;
}

/// @notice A cluster as clients see it ({IDDCViews.getCluster}).
/// @param id The cluster's id.
/// @param manager Its manager.
/// @param pendingManager The manager proposed, 0 if none.
/// @param params Its settings.
/// @param unitSize Bytes per unit.
/// @param reservedPerVNode The units reserved on each vNode.
/// @param allocated The units its open buckets are billed for (Σ billed units).
/// @param nodeCount Its members.
/// @param vNodeCount Its vNodes.
/// @param price The price in force now, per unit per month (Σ of the rents charged for its vNodes).
/// @param pendingPrice The price of an announced increase, 0 if none.
/// @param pendingPriceAt When it applies, 0 if none.
/// @param index The price index now.
/// @param revenuePool Rent settled and not distributed yet, in token units.
/// @param billableBuckets Its open buckets that can be billed (cap above 0): while there is one,
/// price increases wait their notice and the replicas are kept.
/// @param bucketCount All buckets ever created in it (its bucket index, closed ones included).
/// @param exclusionFactor The largest replication factor in force since the previous distribution:
/// the next distribution excludes at most `nodeCount − exclusionFactor` members.
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
/// @param time When the price changed.
/// @param index The index then.
/// @param price The price from then on, per unit per month.
struct PriceCheckpoint {
    uint40 time;
    uint120 index;
    uint96 price;
}

/// @notice A bucket as clients see it ({IDDCViews.getBucket}).
/// @param id The bucket's id.
/// @param owner Its owner.
/// @param cluster Its cluster.
/// @param closed Whether it is closed.
/// @param reserved The owner's reservation, in units.
/// @param measured The units the last usage report measured (0 if never reported; may pass the cap).
/// @param billed What its ledger is charged for: `min(cap, max(reserved, measured))`.
/// @param cap The most it can be billed for (0: not billable).
/// @param status Its status now.
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

/// @notice A ledger (one owner in one cluster) as clients see it, with live figures
/// ({IDDCViews.getLedger}).
/// @param balance The balance, in token units, before `owed` is paid (0 once a settlement ran it
/// out).
/// @param debt The debt as the last settlement recorded it or, for a ledger a settlement batch ran
/// out, everything accrued and unpaid up to now.
/// @param units What the owner's open buckets in the cluster are billed for (Σ billed units).
/// @param owed Rent accrued since the last settlement, not yet charged (rounded down, the remainder
/// carried; 0 for a ledger a settlement batch ran out, whose rent is in `debt`).
/// @param free What a withdrawal could take now (after settling and keeping the runway).
/// @param runway What the ledger keeps for its open buckets: `ceil(capUnits × price × gracePeriod /
/// MONTH)` at the price the cluster heads to.
/// @param unlockAmount The amount unlocked for withdrawal.
/// @param unlockAt From when it may be withdrawn (0: nothing unlocked).
/// @param coveredUntil When the balance runs out at the scheduled prices (max uint40 if never).
/// @param arrearsSince When the balance ran out, 0 if it has not.
/// @param capUnits What they can be billed for (Σ caps): the runway is kept on these.
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
/// @param networkFeeBps The network's share of each distribution, in basis points (at most
/// {DDCConstants.MAX_NETWORK_FEE_BPS}).
/// @param feeDestination The account whose internal balance receives the network fee.
/// @param unlockDelay Seconds between an unlock and the withdrawal (at most
/// {DDCConstants.MAX_UNLOCK_DELAY}); also the least notice of a price increase.
/// @param gracePeriod Seconds a bucket stays InArrears before it is Suspended, and the rent a ledger
/// keeps as runway (from {DDCConstants.MIN_GRACE_PERIOD} to {DDCConstants.MAX_GRACE_PERIOD}).
struct GlobalParams {
    uint16 networkFeeBps;
    address feeDestination;
    uint32 unlockDelay;
    uint32 gracePeriod;
}
