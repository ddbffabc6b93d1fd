// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {NodeParams, NodeStatus, ClusterParams, BucketRole, BucketStatus} from "./IDDCTypes.sol";

/// @title The DDC core: who provides storage, who manages it, who uses it, and who pays whom.
/// @notice Providers register nodes and trust managers; a manager builds a cluster from vNodes on
/// a ring; owners create buckets in a cluster and pay rent from a ledger per (owner, cluster).
///
/// Money (owner side). A cluster's price is the sum of the rents of its vNodes, quoted per unit per
/// month (30 days). The cluster integrates its price over time into an index `I(t) = ∫ price dt`; a
/// ledger of `u` units owes `floor(u × (I_now − I_checkpoint) / MONTH)`, the remainder carried, so k
/// settlements pay exactly what one does (the rounding never favours the pool that claims the rent).
/// Settlement is permissionless: each named ledger pays `min(owed + debt, balance)` into the
/// cluster's revenue pool, the shortfall becomes debt, repaid first by the next deposit (which
/// settles at once). A bucket is billed `min(cap, max(reservation, measured))` units, and a ledger
/// keeps a runway of `grace period × price` on the caps of its open buckets (`LedgerView.capUnits`),
/// so neither a withdrawal nor a pay-per-use bucket escapes rent.
///
/// Price increases (a node added, a higher rent accepted, a dearer replacement) apply at once only
/// while the cluster has no open billable bucket (one with a cap above 0, reserved or pay-per-use);
/// otherwise they apply after a notice of `max(priceNotice, unlockDelay, 1 day)`, so an owner can
/// always leave before paying a price it did not accept. Decreases apply at once.
///
/// Replicas. While the cluster has a billable bucket its replication factor cannot be lowered, and
/// no removal may leave it with fewer nodes than the factor; a cluster below its factor takes no new
/// billing (no allocation or cap increase).
///
/// Money (provider side). Distribution splits a cluster's pool into the network fee and the
/// management fee (internal balances), the nodes' revenue (by weight: the rent each is charged) and
/// the ineligible nodes' shares (the cluster's reserve); at most `nodes − F` members are excluded
/// from one distribution, `F` the largest replication factor in force since the previous one.
/// Providers claim, pull never push.
///
/// Roles. A cluster's manager makes the structural decisions; its operators (cleared, with its
/// validators, when a new manager accepts) may report usage and distribute. `PARAMETERS_ROLE` moves
/// the global parameters within caps fixed in code; `PAUSER_ROLE` pauses creation, allocation,
/// settlement and distribution, never deposits, withdrawals or claims.
///
/// Conservation: the core's token balance equals the sum of ledger balances, revenue pools, fee
/// balances, reserves and the nodes' unclaimed revenue, plus rounding dust of less than one token
/// unit per membership sync and two per distribution.
interface IDDCCore {
    // ─────────────────────────────────────────── errors ───────────────────────────────────────────

    /// @notice A zero amount where a positive one is needed: a deposit or a withdrawal of 0.
    error DDCZeroAmount();

    /// @notice The zero address where a real one is needed.
    /// @param what What the address is for, by name: "token", "views", "admin", "feeDestination",
    /// "manager", "signingKey", "operator", "validator", "account", "owner" or "to".
    error DDCZeroAddress(bytes32 what);

    /// @notice A batch longer than its documented maximum: {DDCConstants.MAX_SETTLE_BATCH} buckets to
    /// settle, {DDCConstants.MAX_USAGE_BATCH} buckets in a usage report, or
    /// {DDCConstants.MAX_NODES_PER_CLUSTER} ineligible nodes in a distribution.
    /// @param length The batch's length.
    /// @param max The most it may hold.
    error DDCBatchTooLarge(uint256 length, uint256 max);

    /// @notice Two arrays of one call that must have the same length do not: a usage report's
    /// buckets and measured units, or a replacement's nodes and the replaced node's vNodes.
    /// @param length The length of the first array (buckets, replacements).
    /// @param otherLength The length it must match (measured units, the replaced node's vNodes).
    error DDCLengthMismatch(uint256 length, uint256 otherLength);

    /// @notice A parameter outside the range fixed in code (see {DDCConstants}).
    /// @param name The parameter, by name (e.g. "networkFeeBps", "replicationFactor").
    /// @param value The value asked.
    /// @param min The smallest value allowed.
    /// @param max The largest value allowed.
    error DDCParameterOutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);

    /// @notice `node` does not exist: never created, or removed.
    /// @param node The node named.
    error NodeNotFound(NodeId node);

    /// @notice Only the node's provider may do this.
    /// @param node The node named.
    /// @param caller The caller, who is not its provider.
    error NodeNotProvider(NodeId node, address caller);

    /// @notice A signing key already held by a node (keys are unique across all nodes).
    /// @param key The key asked.
    /// @param holder The node holding it.
    error NodeKeyInUse(address key, NodeId holder);

    /// @notice A node still in clusters cannot be removed.
    /// @param node The node named.
    /// @param clusters How many clusters hold it.
    error NodeInClusters(NodeId node, uint256 clusters);

    /// @notice A node already in {DDCConstants.MAX_CLUSTERS_PER_NODE} clusters cannot join another.
    /// @param node The node named.
    /// @param max The most clusters a node may be in.
    error NodeTooManyClusters(NodeId node, uint256 max);

    /// @notice A node with unclaimed revenue cannot be removed: its provider claims it first.
    /// @param node The node named.
    /// @param amount Its unclaimed revenue, in token units.
    error NodeHasRevenue(NodeId node, uint256 amount);

    /// @notice A node's capacity would not hold what clusters reserve on it: a capacity lowered
    /// below its reservations, or vNodes added or handed to it, or a larger reservation per vNode,
    /// past its capacity.
    /// @param node The node named.
    /// @param capacity Its capacity (the new one asked, for a change of capacity), in units.
    /// @param required The units reserved on it (that would be, for a change of reservation).
    error NodeCapacityExceeded(NodeId node, uint256 capacity, uint256 required);

    /// @notice More URLs than {DDCConstants.MAX_URLS}.
    /// @param count The number of URLs given.
    /// @param max The most a node may have.
    error NodeTooManyUrls(uint256 count, uint256 max);

    /// @notice `engine` or `version` longer than the 31 bytes stored.
    /// @param field "engine" or "version".
    /// @param length Its length, in bytes.
    /// @param max The longest allowed (31).
    error NodeStringTooLong(bytes32 field, uint256 length, uint256 max);

    /// @notice A URL longer than {DDCConstants.MAX_URL_LENGTH} bytes.
    /// @param index The URL's position in `urls`.
    /// @param length Its length, in bytes.
    /// @param max The longest allowed.
    error NodeUrlTooLong(uint256 index, uint256 length, uint256 max);

    /// @notice The node's provider does not trust the cluster's current manager, so the manager
    /// cannot add the node or hand it vNodes.
    /// @param node The node named.
    /// @param provider Its provider.
    /// @param manager The cluster's manager.
    error NodeManagerNotTrusted(NodeId node, address provider, address manager);

    /// @notice `cluster` does not exist.
    /// @param cluster The cluster named.
    error ClusterNotFound(ClusterId cluster);

    /// @notice Only the cluster's manager may do this.
    /// @param cluster The cluster named.
    /// @param caller The caller, who is not its manager.
    error ClusterNotManager(ClusterId cluster, address caller);

    /// @notice Only the proposed manager may accept the cluster (and there must be one).
    /// @param cluster The cluster named.
    /// @param caller The caller, who is not the pending manager.
    error ClusterNotPendingManager(ClusterId cluster, address caller);

    /// @notice Only the manager or one of the current manager's operators may do this.
    /// @param cluster The cluster named.
    /// @param caller The caller, neither manager nor operator.
    error ClusterNotOperator(ClusterId cluster, address caller);

    /// @notice Eras are distributed once each, in increasing order: `era` is before the next one
    /// that may be distributed.
    /// @param cluster The cluster named.
    /// @param era The era asked.
    /// @param nextEra The first era that may be distributed.
    error ClusterEraAlreadyDistributed(ClusterId cluster, uint256 era, uint256 nextEra);

    /// @notice A distribution names more ineligible members than `nodes − F`, `F` the largest
    /// replication factor in force since the previous distribution (named nodes that are not
    /// members are skipped, not counted).
    /// @param cluster The cluster named.
    /// @param count The members named ineligible.
    /// @param max The most that may be excluded.
    error ClusterTooManyExclusions(ClusterId cluster, uint256 count, uint256 max);

    /// @notice Ineligible nodes must be named by strictly increasing ids (so none twice, none 0).
    /// @param cluster The cluster named.
    /// @param node The first node out of order.
    error ClusterIneligibleNotIncreasing(ClusterId cluster, NodeId node);

    /// @notice A withdrawal from the cluster's reserve larger than the reserve.
    /// @param cluster The cluster named.
    /// @param reserve The reserve, in token units.
    /// @param requested The amount asked.
    error ClusterReserveInsufficient(ClusterId cluster, uint256 reserve, uint256 requested);

    /// @notice A usage report or a distribution for an era that has not ended yet.
    /// @param cluster The cluster named.
    /// @param era The era asked.
    /// @param currentEra The era in progress (see {IDDCViews.clusterEra}).
    error ClusterEraNotClosed(ClusterId cluster, uint256 era, uint256 currentEra);

    /// @notice The node is already a member of the cluster.
    /// @param cluster The cluster named.
    /// @param node The node named.
    error ClusterNodeAlreadyMember(ClusterId cluster, NodeId node);

    /// @notice The node is not a member of the cluster (or the status asked is `None`).
    /// @param cluster The cluster named.
    /// @param node The node named.
    error ClusterNodeNotMember(ClusterId cluster, NodeId node);

    /// @notice A ring position already held by a vNode of the cluster (possibly of the same call).
    /// @param cluster The cluster named.
    /// @param token The position asked.
    /// @param holder The node whose vNode holds it.
    error ClusterTokenTaken(ClusterId cluster, uint64 token, NodeId holder);

    /// @notice A node would hold no vNode, or more than {DDCConstants.MAX_VNODES_PER_NODE}, in the
    /// cluster.
    /// @param cluster The cluster named.
    /// @param count The vNodes it would hold.
    /// @param max The most a node may hold in one cluster.
    error ClusterTokensInvalid(ClusterId cluster, uint256 count, uint256 max);

    /// @notice The cluster already has {DDCConstants.MAX_NODES_PER_CLUSTER} nodes.
    /// @param cluster The cluster named.
    /// @param max The most nodes a cluster may have.
    error ClusterTooManyNodes(ClusterId cluster, uint256 max);

    /// @notice The cluster would pass {DDCConstants.MAX_VNODES_PER_CLUSTER} vNodes.
    /// @param cluster The cluster named.
    /// @param max The most vNodes a cluster may have.
    error ClusterTooManyVNodes(ClusterId cluster, uint256 max);

    /// @notice A replacement must be another node, and a member taking vNodes must be Active, not
    /// leaving, and charged its accepted rent (no announced increase pending for it).
    /// @param cluster The cluster named.
    /// @param node The node replaced.
    /// @param replacement The replacement refused.
    error ClusterReplacementInvalid(ClusterId cluster, NodeId node, NodeId replacement);

    /// @notice A replacement would raise the price in force while the cluster has a billable bucket
    /// (members taking vNodes keep the rent they are charged; new members wait the notice for more).
    /// @param cluster The cluster named.
    /// @param price The price in force, per unit per month.
    /// @param newPrice The price in force the replacement would set.
    error ClusterReplacementRaisesPrice(ClusterId cluster, uint256 price, uint256 newPrice);

    /// @notice The node's provider has already asked to leave the cluster.
    /// @param cluster The cluster named.
    /// @param node The node named.
    /// @param leaveAt When it may leave.
    error ClusterNodeAlreadyLeaving(ClusterId cluster, NodeId node, uint256 leaveAt);

    /// @notice The node's provider has not asked to leave the cluster (nothing to cancel or carry
    /// out).
    /// @param cluster The cluster named.
    /// @param node The node named.
    error ClusterNodeNotLeaving(ClusterId cluster, NodeId node);

    /// @notice The provider asked to leave, but the notice has not passed.
    /// @param cluster The cluster named.
    /// @param node The node named.
    /// @param leaveAt When the notice ends.
    error ClusterNodeLeaveNotDue(ClusterId cluster, NodeId node, uint256 leaveAt);

    /// @notice The cluster would have, or has, fewer nodes than its replication factor: a removal
    /// (or a replacement onto fewer nodes) or a higher factor while the cluster has a billable
    /// bucket, or new billing (an allocation, a higher cap) in a cluster below its factor.
    /// @param cluster The cluster named.
    /// @param nodes The nodes it would have (has, for new billing).
    /// @param replicationFactor The replication factor (the one asked, for a change of parameters).
    error ClusterBelowReplication(ClusterId cluster, uint256 nodes, uint256 replicationFactor);

    /// @notice The replication factor cannot be lowered while the cluster has an open bucket that can
    /// be billed (owners pay for the replicas).
    /// @param cluster The cluster named.
    /// @param factor The replication factor in force.
    /// @param requested The lower factor asked.
    error ClusterReplicationInUse(ClusterId cluster, uint256 factor, uint256 requested);

    /// @notice A reservation per vNode below the units the cluster's buckets are billed for.
    /// @param cluster The cluster named.
    /// @param reservation The units per vNode asked.
    /// @param allocated The billed units of the cluster's open buckets.
    error ClusterReservationBelowAllocation(ClusterId cluster, uint256 reservation, uint256 allocated);

    /// @notice An owner's change would bill the cluster's buckets for more units than it reserves on
    /// each vNode.
    /// @param cluster The cluster named.
    /// @param reserved The units reserved per vNode.
    /// @param required The billed units of the cluster's open buckets after the change.
    error ClusterCapacityExceeded(ClusterId cluster, uint256 reserved, uint256 required);

    /// @notice A cluster cannot have a unit of 0 bytes.
    error ClusterUnitSizeZero();

    /// @notice The node asks the rent the cluster already charges it: nothing to accept.
    /// @param cluster The cluster named.
    /// @param node The node named.
    /// @param rent The rent, per vNode per month per unit.
    error ClusterRentUnchanged(ClusterId cluster, NodeId node, uint256 rent);

    /// @notice The cluster's operators or validators would pass their maximum
    /// ({DDCConstants.MAX_OPERATORS}, {DDCConstants.MAX_VALIDATORS}).
    /// @param cluster The cluster named.
    /// @param set "operators" or "validators".
    /// @param max The most the set may hold.
    error ClusterTooManyMembers(ClusterId cluster, bytes32 set, uint256 max);

    /// @notice The price the cluster heads to would pass {DDCConstants.MAX_CLUSTER_PRICE}.
    /// @param cluster The cluster named.
    /// @param price The price it would head to, per unit per month.
    /// @param max The highest price allowed.
    error ClusterPriceTooHigh(ClusterId cluster, uint256 price, uint256 max);

    /// @notice `bucket` does not exist.
    /// @param bucket The bucket named.
    error BucketNotFound(BucketId bucket);

    /// @notice Only the bucket's owner may do this.
    /// @param bucket The bucket named.
    /// @param caller The caller, who is not its owner.
    error BucketNotOwner(BucketId bucket, address caller);

    /// @notice The bucket is closed.
    /// @param bucket The bucket named.
    error BucketIsClosed(BucketId bucket);

    /// @notice A batch for one cluster names a bucket of another cluster.
    /// @param bucket The bucket named.
    /// @param cluster The cluster of the batch.
    error BucketNotInCluster(BucketId bucket, ClusterId cluster);

    /// @notice A cap below the bucket's reservation.
    /// @param bucket The bucket named.
    /// @param cap The cap asked, in units.
    /// @param reserved The bucket's reservation, in units.
    error BucketCapBelowReservation(BucketId bucket, uint256 cap, uint256 reserved);

    /// @notice A cap below the units the last usage report measured (capped by the cap they were
    /// measured under): they stay billable until a report measures less.
    /// @param bucket The bucket named.
    /// @param cap The cap asked, in units.
    /// @param measured The lowest cap allowed: `min(measured units, cap before)`.
    error BucketCapBelowMeasured(BucketId bucket, uint256 cap, uint256 measured);

    /// @notice Only a Suspended bucket can be evicted.
    /// @param bucket The bucket named.
    /// @param status Its status now.
    error BucketNotSuspended(BucketId bucket, BucketStatus status);

    /// @notice An allocation or a cap the ledger cannot keep a runway for: after settling, its
    /// balance (0 while it has debt) is below `ceil(capUnits × price × gracePeriod / MONTH)`, at the
    /// price the cluster heads to.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param available The balance available, in token units.
    /// @param required The runway needed, in token units.
    error LedgerInsufficientRunway(address owner, ClusterId cluster, uint256 available, uint256 required);

    /// @notice An unlock or a withdrawal larger than what is free after settling and keeping the
    /// runway.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param free What could be withdrawn, in token units.
    /// @param requested The amount asked.
    error LedgerInsufficientFree(address owner, ClusterId cluster, uint256 free, uint256 requested);

    /// @notice A withdrawal with nothing unlocked, or before the unlock delay has passed.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param unlockAt When the unlock takes effect (0: nothing unlocked).
    error LedgerLocked(address owner, ClusterId cluster, uint256 unlockAt);

    /// @notice The price the cluster heads to is above what the owner accepted.
    /// @param cluster The cluster named.
    /// @param price The price it heads to, per unit per month.
    /// @param maxPrice The most the owner accepted.
    error LedgerPriceAboveLimit(ClusterId cluster, uint256 price, uint256 maxPrice);

    /// @notice A withdrawal larger than the unlocked amount.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param unlocked The amount unlocked, in token units.
    /// @param requested The amount asked.
    error LedgerUnlockExceeded(address owner, ClusterId cluster, uint256 unlocked, uint256 requested);

    /// @notice A withdrawal from an internal balance (network or management fees) larger than the
    /// balance.
    /// @param account The account withdrawing.
    /// @param balance Its internal balance, in token units.
    /// @param requested The amount asked.
    error DDCInsufficientBalance(address account, uint256 balance, uint256 requested);

    /// @notice A deposit through which no token arrived (the token moved nothing in).
    /// @param payer The account paying.
    /// @param amount The amount asked.
    error LedgerNothingReceived(address payer, uint256 amount);

    // ─────────────────────────────────────────── events ───────────────────────────────────────────

    /// @notice A node was registered.
    /// @param node The new node's id.
    /// @param provider Its provider (the caller).
    /// @param signingKey The key the node signs with.
    /// @param capacity Its capacity, in units.
    /// @param rent The rent it asks, per vNode per month per unit.
    /// @param params Its engine, version, URLs and metadata (the metadata is only emitted).
    event NodeCreated(
        NodeId indexed node,
        address indexed provider,
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams params
    );

    /// @notice A node's engine, version, URLs and metadata were replaced.
    /// @param node The node.
    /// @param params The new parameters.
    event NodeParamsChanged(NodeId indexed node, NodeParams params);

    /// @notice A node's signing key was replaced (its id stays).
    /// @param node The node.
    /// @param oldKey The key it signed with (free from now on).
    /// @param newKey The key it signs with now.
    event NodeKeyRotated(NodeId indexed node, address oldKey, address newKey);

    /// @notice A node asks a new rent; each cluster holding it charges it only once its manager
    /// accepts it with {clusterAcceptNodeRent}.
    /// @param node The node.
    /// @param oldRent The rent it asked before, per vNode per month per unit.
    /// @param newRent The rent it asks now.
    event NodeRentChanged(NodeId indexed node, uint96 oldRent, uint96 newRent);

    /// @notice A node's capacity changed.
    /// @param node The node.
    /// @param oldCapacity Its capacity before, in units.
    /// @param newCapacity Its capacity now.
    event NodeCapacityChanged(NodeId indexed node, uint64 oldCapacity, uint64 newCapacity);

    /// @notice A node was removed; its id is not reused and its signing key is free.
    /// @param node The node.
    /// @param provider Its provider.
    event NodeRemoved(NodeId indexed node, address indexed provider);

    /// @notice A provider trusts a manager: the manager may add the provider's nodes to its clusters.
    /// @param provider The provider.
    /// @param manager The manager trusted.
    event ManagerTrusted(address indexed provider, address indexed manager);

    /// @notice A provider no longer trusts a manager (nodes already in its clusters stay).
    /// @param provider The provider.
    /// @param manager The manager no longer trusted.
    event ManagerDistrusted(address indexed provider, address indexed manager);

    /// @notice A cluster was created (era 0 starts now, the price is 0).
    /// @param cluster The new cluster's id.
    /// @param manager Its manager.
    /// @param params Its settings.
    /// @param unitSize Bytes per unit, fixed forever.
    event ClusterCreated(ClusterId indexed cluster, address indexed manager, ClusterParams params, uint64 unitSize);

    /// @notice A cluster's settings changed.
    /// @param cluster The cluster.
    /// @param params The new settings (a new era length applies from the next era).
    event ClusterParamsChanged(ClusterId indexed cluster, ClusterParams params);

    /// @notice A node joined a cluster with vNodes on its ring.
    /// @param cluster The cluster.
    /// @param node The node.
    /// @param tokens The ring positions of its vNodes.
    /// @param rent The rent accepted for it (its asked rent), per vNode per month per unit.
    event ClusterNodeAdded(ClusterId indexed cluster, NodeId indexed node, uint64[] tokens, uint96 rent);

    /// @notice A node left a cluster with its vNodes (the manager's removal, or the provider's after
    /// its notice). It keeps what it earned so far and earns nothing after.
    /// @param cluster The cluster.
    /// @param node The node.
    /// @param tokens The ring positions freed.
    event ClusterNodeRemoved(ClusterId indexed cluster, NodeId indexed node, uint64[] tokens);

    /// @notice A node was replaced: `tokens[i]` (its vNodes) now belongs to `replacements[i]`;
    /// replacements that were not members joined. The node's membership ended as in
    /// {ClusterNodeRemoved}.
    /// @param cluster The cluster.
    /// @param node The node replaced.
    /// @param tokens Its vNodes' ring positions.
    /// @param replacements The node taking each of them.
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the decision.
    event ClusterNodeReplaced(
        ClusterId indexed cluster,
        NodeId indexed node,
        uint64[] tokens,
        NodeId[] replacements,
        bytes32 evidenceHash
    );

    /// @notice A node's provider announced that it leaves a cluster.
    /// @param cluster The cluster.
    /// @param node The node.
    /// @param leaveAt From when the provider may take it out.
    event ClusterNodeLeaveRequested(ClusterId indexed cluster, NodeId indexed node, uint40 leaveAt);

    /// @notice A node's provider withdrew its request to leave a cluster.
    /// @param cluster The cluster.
    /// @param node The node.
    event ClusterNodeLeaveCancelled(ClusterId indexed cluster, NodeId indexed node);

    /// @notice The manager set a member's status.
    /// @param cluster The cluster.
    /// @param node The node.
    /// @param status Its status now (Active or Offline).
    event ClusterNodeStatusChanged(ClusterId indexed cluster, NodeId indexed node, NodeStatus status);

    /// @notice The manager accepted a member's asked rent (an increase is charged once in force).
    /// @param cluster The cluster.
    /// @param node The node.
    /// @param oldRent The rent accepted before, per vNode per month per unit.
    /// @param newRent The rent accepted now.
    event ClusterNodeRentAccepted(ClusterId indexed cluster, NodeId indexed node, uint96 oldRent, uint96 newRent);

    /// @notice The units reserved on each vNode of a cluster changed.
    /// @param cluster The cluster.
    /// @param oldPerVNode The units reserved per vNode before.
    /// @param newPerVNode The units reserved per vNode now.
    event ClusterResourceReserved(ClusterId indexed cluster, uint64 oldPerVNode, uint64 newPerVNode);

    /// @notice The cluster's price in force changed and a checkpoint of the index was written: a
    /// change applied at once, or an announced increase written down once due.
    /// @param cluster The cluster.
    /// @param oldPrice The price in force before, per unit per month.
    /// @param newPrice The price in force now.
    /// @param index The price index when the change was recorded (an announced increase took effect
    /// at its announced time: see {IDDCViews.clusterPriceCheckpoints}).
    event ClusterPriceChanged(ClusterId indexed cluster, uint96 oldPrice, uint96 newPrice, uint256 index);

    /// @notice A price increase is announced: it applies at `effectiveAt` unless superseded. Emitted
    /// again when the announced price or time changes.
    /// @param cluster The cluster.
    /// @param currentPrice The price in force until then, per unit per month.
    /// @param newPrice The price from `effectiveAt` on.
    /// @param effectiveAt When it applies.
    event ClusterPriceScheduled(ClusterId indexed cluster, uint96 currentPrice, uint96 newPrice, uint40 effectiveAt);

    /// @notice An announced increase will not happen as announced: the price came into force at
    /// once at another level (the increase was withdrawn, or the cluster had no billable bucket).
    /// @param cluster The cluster.
    /// @param cancelledPrice The price that was announced.
    /// @param cancelledAt When it was to apply.
    event ClusterPriceScheduleCancelled(ClusterId indexed cluster, uint96 cancelledPrice, uint40 cancelledAt);

    /// @notice The manager proposed a successor, who takes over by accepting.
    /// @param cluster The cluster.
    /// @param manager The manager now.
    /// @param pendingManager The manager proposed.
    event ClusterManagerProposed(ClusterId indexed cluster, address indexed manager, address indexed pendingManager);

    /// @notice A new manager accepted the cluster. Operators and validators were cleared; providers
    /// must trust `newManager` before their nodes can be added or take vNodes.
    /// @param cluster The cluster.
    /// @param oldManager The manager before.
    /// @param newManager The manager now.
    event ClusterManagerChanged(ClusterId indexed cluster, address indexed oldManager, address indexed newManager);

    /// @notice The manager named or dropped an operator.
    /// @param cluster The cluster.
    /// @param operator The operator.
    /// @param enabled True if named, false if dropped.
    event ClusterOperatorSet(ClusterId indexed cluster, address indexed operator, bool enabled);

    /// @notice The manager named or dropped a validator.
    /// @param cluster The cluster.
    /// @param validator The validator.
    /// @param enabled True if named, false if dropped.
    event ClusterValidatorSet(ClusterId indexed cluster, address indexed validator, bool enabled);

    /// @notice A bucket was created (no reservation, no cap: nothing billed yet).
    /// @param bucket The new bucket's id.
    /// @param owner Its owner (the caller).
    /// @param cluster Its cluster.
    /// @param params The engine settings (only emitted).
    event BucketCreated(BucketId indexed bucket, address indexed owner, ClusterId indexed cluster, string params);

    /// @notice A bucket's reservation or cap was set, and it is billed for `billed` units from now on.
    /// @param bucket The bucket.
    /// @param reserved Its reservation, in units.
    /// @param cap The most it can be billed for, in units.
    /// @param billed What its ledger is charged for: `min(cap, max(reserved, measured))`.
    event BucketAllocated(BucketId indexed bucket, uint64 reserved, uint64 cap, uint64 billed);

    /// @notice The owner granted a role on a bucket.
    /// @param bucket The bucket.
    /// @param account The account granted.
    /// @param role The role.
    event BucketRoleGranted(BucketId indexed bucket, address indexed account, BucketRole role);

    /// @notice The owner revoked a role on a bucket.
    /// @param bucket The bucket.
    /// @param account The account revoked.
    /// @param role The role.
    event BucketRoleRevoked(BucketId indexed bucket, address indexed account, BucketRole role);

    /// @notice A bucket was closed (by its owner, or evicted): its accrual stopped and its units and
    /// cap left its ledger and cluster.
    /// @param bucket The bucket.
    /// @param unitsFreed The units it was billed for.
    event BucketClosed(BucketId indexed bucket, uint64 unitsFreed);

    /// @notice A Suspended bucket was closed by `by`; its ledger keeps its debt. Follows
    /// {BucketClosed}.
    /// @param bucket The bucket.
    /// @param by The caller who evicted it.
    /// @param unitsFreed The units it was billed for.
    event BucketEvicted(BucketId indexed bucket, address indexed by, uint64 unitsFreed);

    /// @notice Tokens were credited to a ledger.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param payer The account the tokens came from (the caller).
    /// @param amount What arrived and was credited, in token units (before any debt it repaid).
    event Deposited(address indexed owner, ClusterId indexed cluster, address indexed payer, uint256 amount);

    /// @notice An owner announced a withdrawal (replacing any earlier one).
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param amount The amount unlocked, in token units (0: cancelled).
    /// @param unlockAt From when it may be withdrawn (0 if cancelled).
    event UnlockRequested(address indexed owner, ClusterId indexed cluster, uint256 amount, uint40 unlockAt);

    /// @notice Tokens left a ledger.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param to The recipient.
    /// @param amount The amount, in token units.
    event Withdrawn(address indexed owner, ClusterId indexed cluster, address indexed to, uint256 amount);

    /// @notice A usage report for `era`: the buckets recorded, with the units each is billed for from
    /// now on. Buckets skipped are in {UsageReportSkipped}.
    /// @param cluster The cluster.
    /// @param era The era measured.
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the report.
    /// @param buckets The buckets recorded, in batch order.
    /// @param billed The billed units of each.
    event UsageReported(
        ClusterId indexed cluster,
        uint32 indexed era,
        bytes32 evidenceHash,
        BucketId[] buckets,
        uint64[] billed
    );

    /// @notice A bucket of a usage report was not recorded: closed, or already reported for this era
    /// or a later one.
    /// @param cluster The cluster.
    /// @param era The era of the report.
    /// @param bucket The bucket skipped.
    /// @param closed Whether it is closed.
    /// @param nextEra The first era it may be reported for (0: never reported).
    event UsageReportSkipped(
        ClusterId indexed cluster,
        uint32 indexed era,
        BucketId bucket,
        bool closed,
        uint32 nextEra
    );

    /// @notice Era `era`'s revenue pool was distributed: `networkFee` to the fee destination's
    /// balance, `managementFee` to the manager's, `toNodes` over the eligible nodes by weight,
    /// `toReserve` (ineligible nodes' shares, or everything if the cluster has no weight) to the
    /// reserve. `amount` minus the four parts (less than two token units) stays in the core as
    /// rounding dust.
    /// @param cluster The cluster.
    /// @param era The era distributed.
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the decision.
    /// @param amount The pool distributed, in token units.
    /// @param networkFee The network fee.
    /// @param managementFee The management fee.
    /// @param toNodes What the eligible nodes earned.
    /// @param toReserve What went to the cluster's reserve.
    /// @param ineligible The nodes named ineligible, as given (non-members included).
    event RevenuesDistributed(
        ClusterId indexed cluster,
        uint32 indexed era,
        bytes32 evidenceHash,
        uint256 amount,
        uint256 networkFee,
        uint256 managementFee,
        uint256 toNodes,
        uint256 toReserve,
        NodeId[] ineligible
    );

    /// @notice A node named ineligible is not in the cluster (any more): skipped.
    /// @param cluster The cluster.
    /// @param era The era distributed.
    /// @param node The node skipped.
    event DistributionNodeSkipped(ClusterId indexed cluster, uint32 indexed era, NodeId node);

    /// @notice A node's revenue was paid out; one per node named in a claim (the amount may be 0).
    /// @param node The node.
    /// @param provider Its provider (the caller).
    /// @param to The recipient.
    /// @param amount The amount, in token units.
    event RevenueClaimed(NodeId indexed node, address indexed provider, address indexed to, uint256 amount);

    /// @notice Tokens left an internal balance (network or management fees).
    /// @param account The account whose balance paid.
    /// @param to The recipient.
    /// @param amount The amount, in token units.
    event BalanceWithdrawn(address indexed account, address indexed to, uint256 amount);

    /// @notice Tokens left a cluster's reserve.
    /// @param cluster The cluster.
    /// @param to The recipient.
    /// @param amount The amount, in token units.
    event ReserveWithdrawn(ClusterId indexed cluster, address indexed to, uint256 amount);

    /// @notice One ledger was settled outside a batch: before an allocation, a cap, a close, an
    /// eviction, a withdrawal or a usage report changing its units, and around a deposit into a
    /// ledger that ran out or has debt.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param paid What it paid into the cluster's revenue pool, in token units.
    /// @param debt Its debt after.
    event LedgerSettled(address indexed owner, ClusterId indexed cluster, uint256 paid, uint256 debt);

    /// @notice A settlement batch: `total` went into the cluster's revenue pool.
    /// @param cluster The cluster.
    /// @param total What the batch paid in all, in token units.
    /// @param record Per bucket in batch order, 36 bytes: the bucket id (uint64), what its ledger paid
    /// (uint112) and the ledger's debt after (uint112, at most 2^112 − 1), big-endian (packed to keep
    /// the batch cheap).
    event PaymentsSettled(ClusterId indexed cluster, uint256 total, bytes record);

    /// @notice The network fee changed; it applies from the next distribution.
    /// @param oldFeeBps The fee before, in basis points.
    /// @param newFeeBps The fee now.
    event NetworkFeeChanged(uint16 oldFeeBps, uint16 newFeeBps);

    /// @notice The network fee's destination changed (fees already credited stay with the old one).
    /// @param oldDestination The destination before.
    /// @param newDestination The destination now.
    event FeeDestinationChanged(address oldDestination, address newDestination);

    /// @notice The unlock delay changed (unlocks already announced keep their time).
    /// @param oldDelay The delay before, in seconds.
    /// @param newDelay The delay now.
    event UnlockDelayChanged(uint32 oldDelay, uint32 newDelay);

    /// @notice The grace period changed.
    /// @param oldPeriod The period before, in seconds.
    /// @param newPeriod The period now.
    event GracePeriodChanged(uint32 oldPeriod, uint32 newPeriod);

    // ─────────────────────────────────────────── nodes ────────────────────────────────────────────

    /// @notice Registers a node owned by the caller, who becomes its provider.
    /// @dev No token moves. The node belongs to no cluster until a manager the provider trusts adds it.
    /// @custom:access Anyone, while the core is not paused.
    /// @custom:emits {NodeCreated}.
    /// @custom:reverts {DDCZeroAddress} ("signingKey") if `signingKey` is 0.
    /// {NodeKeyInUse} if another node holds `signingKey`.
    /// {NodeTooManyUrls}, {NodeStringTooLong}, {NodeUrlTooLong} if `params` passes the limits.
    /// `EnforcedPause` while the core is paused.
    /// @param signingKey The key the node signs with (unique across nodes; the node's id is not it).
    /// @param capacity The units the node offers to clusters.
    /// @param rent The rent it asks, per vNode per month per unit, in token units.
    /// @param params Engine and version (≤ 31 bytes each) and up to {DDCConstants.MAX_URLS} URLs are
    /// stored; `metadata` is only emitted.
    /// @return node The new node's id (ids count from 1).
    function nodeCreate(
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams calldata params
    ) external returns (NodeId node);

    /// @notice Replaces the node's engine, version and URLs (and emits new metadata).
    /// @custom:access The node's provider.
    /// @custom:emits {NodeParamsChanged}.
    /// @custom:reverts {NodeNotFound} if the node does not exist.
    /// {NodeNotProvider} if the caller is not its provider.
    /// {NodeTooManyUrls}, {NodeStringTooLong}, {NodeUrlTooLong} if `params` passes the limits.
    /// @param node The node.
    /// @param params The new parameters, with the limits of {nodeCreate}.
    function nodeChangeParams(NodeId node, NodeParams calldata params) external;

    /// @notice Rotates the node's signing key (the id stays); the old key is free from now on.
    /// @custom:access The node's provider.
    /// @custom:emits {NodeKeyRotated}.
    /// @custom:reverts {NodeNotFound} if the node does not exist.
    /// {NodeNotProvider} if the caller is not its provider.
    /// {DDCZeroAddress} ("signingKey") if `newKey` is 0.
    /// {NodeKeyInUse} if another node holds `newKey`.
    /// @param node The node.
    /// @param newKey The key it signs with from now on.
    function nodeRotateKey(NodeId node, address newKey) external;

    /// @notice Asks a new rent. Clusters holding the node keep the rent their manager accepted
    /// until the manager calls {clusterAcceptNodeRent}; an increase then waits for the notice.
    /// @dev Changes no cluster's price by itself.
    /// @custom:access The node's provider.
    /// @custom:emits {NodeRentChanged}.
    /// @custom:reverts {NodeNotFound} if the node does not exist.
    /// {NodeNotProvider} if the caller is not its provider.
    /// @param node The node.
    /// @param rent The rent asked, per vNode per month per unit, in token units.
    function nodeChangeRent(NodeId node, uint96 rent) external;

    /// @notice Changes the node's capacity; it cannot go below what clusters have reserved on it.
    /// @custom:access The node's provider.
    /// @custom:emits {NodeCapacityChanged}.
    /// @custom:reverts {NodeNotFound} if the node does not exist.
    /// {NodeNotProvider} if the caller is not its provider.
    /// {NodeCapacityExceeded} if `capacity` is below the units reserved on the node.
    /// @param node The node.
    /// @param capacity The new capacity, in units.
    function nodeChangeCapacity(NodeId node, uint64 capacity) external;

    /// @notice Removes a node that no cluster holds and whose revenue has been claimed; its signing
    /// key is freed and its id is never reused.
    /// @custom:access The node's provider.
    /// @custom:emits {NodeRemoved}.
    /// @custom:reverts {NodeNotFound} if the node does not exist.
    /// {NodeNotProvider} if the caller is not its provider.
    /// {NodeInClusters} if a cluster still holds it.
    /// {NodeHasRevenue} if it has unclaimed revenue ({claim} it first).
    /// @param node The node.
    function nodeRemove(NodeId node) external;

    /// @notice The caller (a provider) allows `manager` to add its nodes to the manager's clusters
    /// and to hand them vNodes in replacements.
    /// @dev Trust is given to an address: after a handover, the new manager needs it anew.
    /// @custom:access Anyone (for the caller's own nodes).
    /// @custom:emits {ManagerTrusted}.
    /// @custom:reverts {DDCZeroAddress} ("manager") if `manager` is 0.
    /// @param manager The manager trusted.
    function nodeTrustManager(address manager) external;

    /// @notice The caller (a provider) withdraws its trust from `manager`: the manager can no longer
    /// add the provider's nodes or hand them vNodes. Nodes already in its clusters stay.
    /// @custom:access Anyone (for the caller's own nodes).
    /// @custom:emits {ManagerDistrusted}.
    /// @custom:reverts {DDCZeroAddress} ("manager") if `manager` is 0.
    /// @param manager The manager no longer trusted.
    function nodeDistrustManager(address manager) external;

    // ────────────────────────────────────────── clusters ──────────────────────────────────────────

    /// @notice Creates a cluster managed by `manager`. Era 0 starts now; the price is 0 until nodes
    /// join.
    /// @custom:access Anyone (for any manager), while the core is not paused.
    /// @custom:emits {ClusterCreated}.
    /// @custom:reverts {DDCZeroAddress} ("manager") if `manager` is 0.
    /// {ClusterUnitSizeZero} if `unitSize` is 0.
    /// {DDCParameterOutOfRange} if a setting is outside its range (see {ClusterParams}).
    /// `EnforcedPause` while the core is paused.
    /// @param manager The cluster's manager (an EOA, a Safe, a DAO's Timelock).
    /// @param params The cluster's settings.
    /// @param unitSize Bytes per unit, fixed forever.
    /// @return cluster The new cluster's id (ids count from 1).
    function clusterCreate(
        address manager,
        ClusterParams calldata params,
        uint64 unitSize
    ) external returns (ClusterId cluster);

    /// @notice Changes the cluster's settings. A new era length applies from the next era (the
    /// current era keeps its end); a new management fee from the next distribution; a new price
    /// notice to later increases and requests to leave.
    /// @dev While the cluster has a billable bucket, the replication factor cannot be lowered and the
    /// factor asked must not pass the cluster's number of nodes. A distribution may exclude at most `nodes − F`
    /// members, `F` the largest factor in force since the previous distribution, so lowering the
    /// factor for a moment excludes no more.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterParamsChanged}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {DDCParameterOutOfRange} if a setting is outside its range.
    /// {ClusterReplicationInUse} if the factor would be lowered while the cluster has a billable bucket.
    /// {ClusterBelowReplication} if the cluster has a billable bucket and fewer nodes than the factor
    /// asked.
    /// @param cluster The cluster.
    /// @param params The new settings.
    function clusterChangeParams(ClusterId cluster, ClusterParams calldata params) external;

    /// @notice Adds a node with vNodes at `tokens` on the ring. The provider must trust the manager
    /// and the node must have capacity for the cluster's reservation on each vNode.
    /// @dev The cluster's price heads up by `rent × tokens.length`: at once if the cluster has no
    /// billable bucket, else after the notice ({ClusterPriceScheduled}); the node is charged, and
    /// earns, for its vNodes from when the increase is in force. Loops over `tokens`.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterNodeAdded}, then {ClusterPriceChanged} (an increase due or applied at
    /// once), {ClusterPriceScheduled} (announced) or {ClusterPriceScheduleCancelled} as the price moves.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {NodeNotFound} if the node does not exist.
    /// {NodeManagerNotTrusted} if its provider does not trust the manager.
    /// {ClusterNodeAlreadyMember} if it is a member.
    /// {ClusterTokensInvalid} if `tokens` is empty or longer than {DDCConstants.MAX_VNODES_PER_NODE}.
    /// {ClusterTooManyNodes}, {NodeTooManyClusters}, {ClusterTooManyVNodes} past the maxima.
    /// {NodeCapacityExceeded} if the node cannot hold the reservation on each new vNode.
    /// {ClusterTokenTaken} if a position is taken (or given twice).
    /// {ClusterPriceTooHigh} if the price would pass {DDCConstants.MAX_CLUSTER_PRICE}.
    /// @param cluster The cluster.
    /// @param node The node to add.
    /// @param tokens The ring positions of its vNodes, each free.
    function clusterAddNode(ClusterId cluster, NodeId node, uint64[] calldata tokens) external;

    /// @notice Removes a node and its vNodes. The remaining nodes must still hold every replica.
    /// @dev The node's revenue so far is kept for its provider to claim; it earns nothing after. Its
    /// rent in force leaves the price at once (a decrease); its reservation is released. Loops over
    /// its vNodes.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterNodeRemoved}, then {ClusterPriceChanged} if the price in force changed,
    /// and {ClusterPriceScheduled} or {ClusterPriceScheduleCancelled} if an announced increase changed.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterNodeNotMember} if the node is not a member.
    /// {ClusterBelowReplication} if the cluster has a billable bucket and would keep fewer nodes than
    /// its replication factor.
    /// @param cluster The cluster.
    /// @param node The node to remove.
    function clusterRemoveNode(ClusterId cluster, NodeId node) external;

    /// @notice Replaces `node` (failing, or leaving) by handing each of its vNodes, in the order of
    /// {IDDCViews.clusterNodeInfo}'s tokens, to `replacements[i]`, in one transaction: the ring has
    /// no hole. A replacement must be trusted by its provider and have capacity for the cluster's
    /// reservation; a node that is not a member joins (earning from now on); a member must be active
    /// and not leaving. `node` keeps what it earned, earns nothing after, and is no longer a member.
    /// @dev While the cluster has a billable bucket the price in force does not rise: a new member is
    /// charged at most the leaving node's rent in force until the notice passes (the rest is an
    /// announced increase); a replacement onto members charged more is refused; a cheaper one lowers
    /// the price at once. A replacement keeping the number of nodes is always allowed (it is how a
    /// cluster below its factor is repaired). O(vNodes of `node`).
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterNodeReplaced}, then {ClusterPriceChanged}, {ClusterPriceScheduled}
    /// or {ClusterPriceScheduleCancelled} as the price moves.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterNodeNotMember} if `node` is not a member.
    /// {DDCLengthMismatch} unless there is one replacement per vNode of `node`.
    /// {ClusterReplacementInvalid} if a replacement is `node`, or a member Offline, leaving, or
    /// charged less than its accepted rent.
    /// {NodeNotFound}, {NodeManagerNotTrusted} if a replacement does not exist or its provider does
    /// not trust the manager.
    /// {ClusterTooManyNodes}, {NodeTooManyClusters}, {ClusterTokensInvalid} past the maxima.
    /// {NodeCapacityExceeded} if a replacement cannot hold the reservation.
    /// {ClusterReplacementRaisesPrice} if the price in force would rise while the cluster has a
    /// billable bucket.
    /// {ClusterBelowReplication} if, with a billable bucket, fewer nodes than the factor would remain
    /// and fewer than before.
    /// {ClusterPriceTooHigh} if the price would pass {DDCConstants.MAX_CLUSTER_PRICE}.
    /// @param cluster The cluster.
    /// @param node The node replaced.
    /// @param replacements The node taking each of its vNodes (a node may take several).
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the decision
    /// (emitted only).
    function clusterReplaceNode(
        ClusterId cluster,
        NodeId node,
        NodeId[] calldata replacements,
        bytes32 evidenceHash
    ) external;

    /// @notice Marks a member Active or Offline. Only an Active member may take vNodes in a
    /// replacement; the status is otherwise for clients and storage nodes.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterNodeStatusChanged}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterNodeNotMember} if the node is not a member, or `status` is `None`.
    /// @param cluster The cluster.
    /// @param node The member.
    /// @param status Active or Offline.
    function clusterSetNodeStatus(ClusterId cluster, NodeId node, NodeStatus status) external;

    /// @notice Applies the node's current asked rent to this cluster.
    /// @dev The node's revenue so far is synced at its old weight. A rent at or below what the node is
    /// charged now applies at once; a higher one is an increase: the node stays charged what it is
    /// until the increase is in force (at once if the cluster has no billable bucket, else after the
    /// notice).
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterNodeRentAccepted}, then {ClusterPriceChanged}, {ClusterPriceScheduled}
    /// or {ClusterPriceScheduleCancelled} as the price moves.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterNodeNotMember} if the node is not a member.
    /// {ClusterRentUnchanged} if the node asks the rent already accepted.
    /// {ClusterPriceTooHigh} if the price would pass {DDCConstants.MAX_CLUSTER_PRICE}.
    /// @param cluster The cluster.
    /// @param node The member.
    function clusterAcceptNodeRent(ClusterId cluster, NodeId node) external;

    /// @notice Sets the units reserved on every vNode (a bucket of R units takes R on each vNode).
    /// Loops over the cluster's nodes: at most {DDCConstants.MAX_NODES_PER_CLUSTER}.
    /// @dev Each node's reserved capacity becomes `unitsPerVNode × its vNodes` here. Owners' billed
    /// units can grow only within this reservation (usage reports record what was measured even
    /// past it).
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterResourceReserved}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterReservationBelowAllocation} if `unitsPerVNode` is below the cluster's billed units.
    /// {NodeCapacityExceeded} if a member cannot hold it.
    /// @param cluster The cluster.
    /// @param unitsPerVNode The units to reserve on each vNode.
    function clusterReserveResource(ClusterId cluster, uint64 unitsPerVNode) external;

    /// @notice Proposes a new manager, who takes over by calling {clusterAcceptManager}. Replaces any
    /// earlier proposal.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterManagerProposed}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {DDCZeroAddress} ("manager") if `newManager` is 0.
    /// @param cluster The cluster.
    /// @param newManager The manager proposed.
    function clusterProposeManager(ClusterId cluster, address newManager) external;

    /// @notice The proposed manager takes over the cluster. Operators and validators are cleared
    /// (the new manager names its own); members stay, but providers must trust the new manager
    /// before more of their nodes can be added or take vNodes.
    /// @dev Management fees already credited stay in the old manager's internal balance; the reserve
    /// stays with the cluster.
    /// @custom:access The pending manager.
    /// @custom:emits {ClusterManagerChanged}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotPendingManager} if the caller is not the manager proposed.
    /// @param cluster The cluster.
    function clusterAcceptManager(ClusterId cluster) external;

    /// @notice Names (`enabled`) or drops an operator: an address that may report usage and
    /// distribute revenue for the cluster. Naming one twice, or dropping one not named, changes
    /// nothing but still emits.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterOperatorSet}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {DDCZeroAddress} ("operator") if `operator` is 0.
    /// {ClusterTooManyMembers} past {DDCConstants.MAX_OPERATORS} operators.
    /// @param cluster The cluster.
    /// @param operator The operator.
    /// @param enabled True to name it, false to drop it.
    function clusterSetOperator(ClusterId cluster, address operator, bool enabled) external;

    /// @notice Names (`enabled`) or drops a validator: an address whose signed QoS reports count for
    /// the cluster's eras (the set at an era's end counts for it). Naming one twice, or dropping one
    /// not named, changes nothing but still emits.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ClusterValidatorSet}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {DDCZeroAddress} ("validator") if `validator` is 0.
    /// {ClusterTooManyMembers} past {DDCConstants.MAX_VALIDATORS} validators.
    /// @param cluster The cluster.
    /// @param validator The validator.
    /// @param enabled True to name it, false to drop it.
    function clusterSetValidator(ClusterId cluster, address validator, bool enabled) external;

    /// @notice Records measured usage for `era` (which must have ended), by the manager or an
    /// operator: each bucket is billed `min(cap, max(reservation, measuredUnits))` from now on
    /// (never retroactively: its ledger is settled first). Each bucket is recorded at most once per
    /// era, in any number of batches; a closed or already-reported bucket is skipped with
    /// {UsageReportSkipped}. At most {DDCConstants.MAX_USAGE_BATCH} buckets.
    /// @dev A bucket whose billed units change has its ledger settled first: the owed rent moves
    /// from the owner's balance to the cluster's revenue pool. The measured units are stored even
    /// above the cap, and the billed units may take the cluster past its reservation (the owner
    /// chose the cap under the runway rule; the manager then reserves more). Works while paused.
    /// @custom:access The cluster's manager or one of its operators.
    /// @custom:emits {UsageReportSkipped} per bucket skipped, {LedgerSettled} per ledger settled,
    /// then {UsageReported}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotOperator} if the caller is neither manager nor operator.
    /// {DDCLengthMismatch} if `buckets` and `measuredUnits` differ in length.
    /// {DDCBatchTooLarge} past {DDCConstants.MAX_USAGE_BATCH} buckets.
    /// {ClusterEraNotClosed} if `era` has not ended.
    /// {BucketNotFound}, {BucketNotInCluster} if a bucket does not exist or is in another cluster (the
    /// whole batch reverts).
    /// @param cluster The cluster.
    /// @param era The era measured.
    /// @param buckets The buckets, all in `cluster`.
    /// @param measuredUnits Each bucket's measured units: `ceil(median measured bytes / unitSize)`.
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the report
    /// (emitted only).
    function clusterReportUsage(
        ClusterId cluster,
        uint32 era,
        BucketId[] calldata buckets,
        uint64[] calldata measuredUnits,
        bytes32 evidenceHash
    ) external;

    /// @notice Distributes the cluster's revenue pool for `era` (ended, later than the last one
    /// distributed; a skipped era's revenue goes with the next), by the manager or an operator.
    /// Fees go to internal balances; the rest to the nodes by weight (the rent of the vNodes they
    /// hold, in force), except the `ineligibleNodes` (strictly increasing ids; at most
    /// `nodes − F`, `F` the largest replication factor in force since the previous distribution),
    /// whose shares go to the reserve. O(1) in the number of nodes.
    /// @dev No token moves: the pool is credited to internal balances, the nodes' revenue per weight
    /// and the reserve. Rounding is down, never for a claimer: `networkFee = floor(pool ×
    /// networkFeeBps / 10,000)`, the management fee likewise at the cluster's rate; the rest raises the
    /// revenue per weight by `floor(rest × 1e24 / weight)`, the remainder carried into the next
    /// distribution; what nodes and reserve get is rounded down (dust stays in the core). With no
    /// weight (no node charged), the rest goes to the reserve. A price increase that fell due is
    /// written down first, so the weights are those in force now.
    /// @custom:access The cluster's manager or one of its operators, while the core is not paused.
    /// @custom:emits {ClusterPriceChanged} if an increase fell due, {DistributionNodeSkipped} per
    /// non-member named, then {RevenuesDistributed}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotOperator} if the caller is neither manager nor operator.
    /// {ClusterEraNotClosed} if `era` has not ended.
    /// {ClusterEraAlreadyDistributed} if `era` is before the next era that may be distributed.
    /// {DDCBatchTooLarge} past {DDCConstants.MAX_NODES_PER_CLUSTER} ineligible nodes.
    /// {ClusterIneligibleNotIncreasing} if the ids do not strictly increase.
    /// {ClusterTooManyExclusions} if more than `nodes − F` members are named.
    /// `EnforcedPause` while the core is paused.
    /// @param cluster The cluster.
    /// @param era The era distributed.
    /// @param ineligibleNodes The nodes that failed the cluster's QoS threshold for `era`.
    /// @param evidenceHash The keccak256 of the canonical evidence document behind the decision
    /// (emitted only).
    function clusterDistributeRevenues(
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligibleNodes,
        bytes32 evidenceHash
    ) external;

    /// @notice The manager moves `amount` of the cluster's reserve to `to`.
    /// @dev The reserve is paid by the core in tokens, after the event. Works while paused.
    /// @custom:access The cluster's manager.
    /// @custom:emits {ReserveWithdrawn}.
    /// @custom:reverts {DDCZeroAddress} ("to") if `to` is 0.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNotManager} if the caller is not its manager.
    /// {ClusterReserveInsufficient} if `amount` is above the reserve.
    /// @param cluster The cluster.
    /// @param amount The amount, in token units.
    /// @param to The recipient.
    function clusterWithdrawReserve(ClusterId cluster, uint256 amount, address to) external;

    /// @notice Pays the caller's nodes' revenue (every cluster they are or were in) to `to`.
    /// @dev Pull, never push; works while paused. Each membership's share is rounded down (less than
    /// one token unit per membership stays in the core). `to` may be any address, e.g. when the token
    /// refuses the provider's own. A node named twice is paid once.
    /// @custom:access The provider of every node named.
    /// @custom:emits {RevenueClaimed} per node.
    /// @custom:reverts {DDCZeroAddress} ("to") if `to` is 0.
    /// {NodeNotFound}, {NodeNotProvider} if a node does not exist or is not the caller's.
    /// @param nodes The nodes whose revenue to collect.
    /// @param to The recipient.
    function claim(NodeId[] calldata nodes, address to) external;

    /// @notice The provider announces that `node` leaves `cluster`; it may leave once the notice (the
    /// cluster's price notice, at least the unlock delay and a day) has passed, or the manager
    /// replaces it before.
    /// @dev A leaving node cannot take vNodes in a replacement.
    /// @custom:access The node's provider.
    /// @custom:emits {ClusterNodeLeaveRequested}.
    /// @custom:reverts {NodeNotFound}, {NodeNotProvider} if the node does not exist or is not the
    /// caller's.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNodeNotMember} if the node is not a member.
    /// {ClusterNodeAlreadyLeaving} if it already asked.
    /// @param node The node.
    /// @param cluster The cluster it leaves.
    function nodeRequestLeave(NodeId node, ClusterId cluster) external;

    /// @notice The provider withdraws its request that `node` leaves `cluster`.
    /// @custom:access The node's provider.
    /// @custom:emits {ClusterNodeLeaveCancelled}.
    /// @custom:reverts {NodeNotFound}, {NodeNotProvider} if the node does not exist or is not the
    /// caller's.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNodeNotMember} if the node is not a member.
    /// {ClusterNodeNotLeaving} if it did not ask to leave.
    /// @param node The node.
    /// @param cluster The cluster.
    function nodeCancelLeave(NodeId node, ClusterId cluster) external;

    /// @notice The provider takes `node` out of `cluster` after its notice, as
    /// {clusterRemoveNode} would (the remaining nodes must still hold every replica).
    /// @custom:access The node's provider.
    /// @custom:emits {ClusterNodeRemoved}, then {ClusterPriceChanged} if the price in force changed,
    /// and {ClusterPriceScheduled} or {ClusterPriceScheduleCancelled} if an announced increase changed.
    /// @custom:reverts {NodeNotFound}, {NodeNotProvider} if the node does not exist or is not the
    /// caller's.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {ClusterNodeNotMember} if the node is not a member.
    /// {ClusterNodeNotLeaving} if it did not ask to leave.
    /// {ClusterNodeLeaveNotDue} before the notice has passed.
    /// {ClusterBelowReplication} if the cluster has a billable bucket and would keep fewer nodes than
    /// its replication factor (the manager replaces the node instead).
    /// @param node The node.
    /// @param cluster The cluster it leaves.
    function nodeLeaveCluster(NodeId node, ClusterId cluster) external;

    /// @notice Withdraws from the caller's internal balance (network or management fees).
    /// @dev Works while paused.
    /// @custom:access Any account with an internal balance (the fee destination, present and past
    /// managers).
    /// @custom:emits {BalanceWithdrawn}.
    /// @custom:reverts {DDCZeroAddress} ("to") if `to` is 0.
    /// {DDCInsufficientBalance} if `amount` is above the balance.
    /// @param amount The amount, in token units.
    /// @param to The recipient.
    function withdrawBalance(uint256 amount, address to) external;

    // ────────────────────────────────────────── buckets ───────────────────────────────────────────

    /// @notice Creates a bucket owned by the caller. `params` (engine settings) is emitted only.
    /// @dev The bucket starts with no reservation and no cap, so it is not billable and costs
    /// nothing until the owner allocates or sets a cap. It joins the cluster's bucket index
    /// ({IDDCViews.clusterBuckets}).
    /// @custom:access Anyone, while the core is not paused.
    /// @custom:emits {BucketCreated}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// `EnforcedPause` while the core is paused.
    /// @param cluster The cluster the bucket lives in.
    /// @param params The engine settings (emitted only).
    /// @return bucket The new bucket's id (ids count from 1).
    function bucketCreate(ClusterId cluster, string calldata params) external returns (BucketId bucket);

    /// @notice Reserves `units` for the bucket (raising its cap to at least `units`). The ledger is
    /// settled first; growing needs a runway for the new total (see {bucketAllocWithMaxPrice}).
    /// @dev No token moves; the owner's ledger is settled first (its owed rent goes to the cluster's
    /// revenue pool), then the bucket is billed `min(cap, max(units, measured))` from now on. Any
    /// growth (billed units or cap) needs the cluster to hold every replica and the ledger, settled
    /// and without debt, to keep `ceil(capUnits × price × gracePeriod / MONTH)` (rounded up, against
    /// the owner) at the price the cluster heads to; billed growth also needs room in the cluster's
    /// reservation. A cap rising from 0 makes the bucket billable, so later price increases wait the
    /// notice. Lowering the reservation is always allowed.
    /// @custom:access The bucket's owner, while the core is not paused.
    /// @custom:emits {LedgerSettled}, then {BucketAllocated}.
    /// @custom:reverts {BucketNotFound}, {BucketNotOwner}, {BucketIsClosed} if the bucket does not
    /// exist, is not the caller's, or is closed.
    /// {ClusterBelowReplication} on growth in a cluster with fewer nodes than its replication factor.
    /// {ClusterCapacityExceeded} if billed growth would pass the cluster's reservation per vNode.
    /// {LedgerInsufficientRunway} on growth the ledger cannot keep a runway for.
    /// `EnforcedPause` while the core is paused.
    /// @param bucket The bucket.
    /// @param units The reservation, in units.
    function bucketAllocIntoCluster(BucketId bucket, uint64 units) external;

    /// @notice As {bucketAllocIntoCluster}, but reverts if the price the cluster is heading to is
    /// above `maxPrice`: a manager cannot raise the price in front of the allocation.
    /// @dev The price compared is the announced one if an increase is pending, else the one in force.
    /// @custom:access The bucket's owner, while the core is not paused.
    /// @custom:emits {LedgerSettled}, then {BucketAllocated}.
    /// @custom:reverts {LedgerPriceAboveLimit} if the price the cluster heads to is above `maxPrice`.
    /// Otherwise as {bucketAllocIntoCluster}.
    /// @param bucket The bucket.
    /// @param units The reservation, in units.
    /// @param maxPrice The highest price accepted, per unit per month.
    function bucketAllocWithMaxPrice(BucketId bucket, uint64 units, uint256 maxPrice) external;

    /// @notice Sets the most a usage report may bill the bucket for (≥ the reservation, and not below
    /// what the last report measured, capped by the old cap). A cap above 0 makes the bucket billable
    /// (pay-per-use with no reservation); a cap of 0 (no reservation, nothing measured) makes it
    /// unbillable.
    /// @dev The ledger is settled first and the bucket rebilled at `min(cap, max(reserved, measured))`
    /// (raising the cap may bill the last measured units at once). A higher cap needs the runway on
    /// the new Σ caps and a cluster holding every replica, as {bucketAllocIntoCluster}. Works while
    /// paused.
    /// @custom:access The bucket's owner.
    /// @custom:emits {LedgerSettled}, then {BucketAllocated}.
    /// @custom:reverts {BucketNotFound}, {BucketNotOwner}, {BucketIsClosed} if the bucket does not
    /// exist, is not the caller's, or is closed.
    /// {BucketCapBelowReservation} if `cap` is below the reservation.
    /// {BucketCapBelowMeasured} if `cap` is below `min(last measured units, old cap)`.
    /// {ClusterBelowReplication}, {ClusterCapacityExceeded}, {LedgerInsufficientRunway} on growth,
    /// as {bucketAllocIntoCluster}.
    /// @param bucket The bucket.
    /// @param cap The most it may be billed for, in units.
    function bucketSetCap(BucketId bucket, uint64 cap) external;

    /// @notice As {bucketSetCap}, but reverts if the price the cluster is heading to is above
    /// `maxPrice`: a pay-per-use bucket's first cap is its allocation, and a manager cannot raise a
    /// cluster's price in front of it (while no bucket can be billed, an increase applies at once).
    /// @dev The price compared is the announced one if an increase is pending, else the one in force.
    /// @custom:access The bucket's owner.
    /// @custom:emits {LedgerSettled}, then {BucketAllocated}.
    /// @custom:reverts {LedgerPriceAboveLimit} if the price the cluster heads to is above `maxPrice`.
    /// Otherwise as {bucketSetCap}.
    /// @param bucket The bucket.
    /// @param cap The most it may be billed for, in units.
    /// @param maxPrice The highest price accepted, per unit per month.
    function bucketSetCapWithMaxPrice(BucketId bucket, uint64 cap, uint256 maxPrice) external;

    /// @notice Grants `account` a role on the bucket (storage nodes check it before serving).
    /// @custom:access The bucket's owner (the bucket open).
    /// @custom:emits {BucketRoleGranted}.
    /// @custom:reverts {BucketNotFound}, {BucketNotOwner}, {BucketIsClosed} if the bucket does not
    /// exist, is not the caller's, or is closed.
    /// {DDCZeroAddress} ("account") if `account` is 0.
    /// @param bucket The bucket.
    /// @param account The account granted.
    /// @param role Writer or Reader.
    function bucketGrant(BucketId bucket, address account, BucketRole role) external;

    /// @notice Revokes `account`'s role on the bucket (also on a closed bucket).
    /// @custom:access The bucket's owner.
    /// @custom:emits {BucketRoleRevoked}.
    /// @custom:reverts {BucketNotFound}, {BucketNotOwner} if the bucket does not exist or is not the
    /// caller's.
    /// @param bucket The bucket.
    /// @param account The account revoked.
    /// @param role Writer or Reader.
    function bucketRevoke(BucketId bucket, address account, BucketRole role) external;

    /// @notice Closes the bucket: its accrual stops and its capacity is freed.
    /// @dev The ledger is settled first (the bucket pays up to now); then the bucket's billed units
    /// and cap leave the ledger and the cluster, which frees their runway. Works while paused.
    /// @custom:access The bucket's owner.
    /// @custom:emits {LedgerSettled}, then {BucketClosed}.
    /// @custom:reverts {BucketNotFound}, {BucketNotOwner}, {BucketIsClosed} if the bucket does not
    /// exist, is not the caller's, or is already closed.
    /// @param bucket The bucket.
    function bucketClose(BucketId bucket) external;

    /// @notice Closes a Suspended bucket, by anyone: its capacity returns to the cluster and its
    /// ledger keeps the debt. Without it, an owner who stops paying would hold capacity for ever.
    /// @dev The owner's ledger is settled first, as for {bucketClose}. Works while paused.
    /// @custom:access Anyone.
    /// @custom:emits {LedgerSettled}, {BucketClosed}, then {BucketEvicted}.
    /// @custom:reverts {BucketNotFound} if the bucket does not exist.
    /// {BucketNotSuspended} unless it is Suspended.
    /// @param bucket The bucket.
    function bucketEvict(BucketId bucket) external;

    /// @notice Settles the ledgers of `buckets`, all in `cluster`. Anyone may call.
    /// At most {DDCConstants.MAX_SETTLE_BATCH} buckets.
    /// @dev Only moves rent already accrued: each bucket's ledger (owner, cluster) pays
    /// `min(owed + debt, balance)` into the cluster's revenue pool, and the shortfall becomes debt
    /// (the ledger is then InArrears from the second it ran out). Owed rent is
    /// `floor((units × Δindex + remainder) / MONTH)` with the remainder carried, so it rounds in the
    /// owner's favour by less than a token unit that the next settlement charges: k settlements pay
    /// what one does, and a ledger named twice pays once. A closed bucket's ledger is settled too.
    /// @custom:access Anyone, while the core is not paused.
    /// @custom:emits {PaymentsSettled} (one per batch, with a packed record per bucket).
    /// @custom:reverts {DDCBatchTooLarge} past {DDCConstants.MAX_SETTLE_BATCH} buckets.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {BucketNotFound}, {BucketNotInCluster} if a bucket does not exist or is in another cluster.
    /// `EnforcedPause` while the core is paused.
    /// @param cluster The cluster.
    /// @param buckets The buckets whose ledgers to settle.
    function bucketSettlePayment(ClusterId cluster, BucketId[] calldata buckets) external;

    // ────────────────────────────────────────── accounts ──────────────────────────────────────────

    /// @notice Deposits into the caller's ledger in `cluster`; credits what actually arrived. A
    /// ledger with debt, or owing more than its balance, is settled at once: the deposit repays the
    /// debt first. Deposits work while the core is paused.
    /// @dev The caller pays `amount` (it approved the core); the ledger is credited the core's
    /// balance after minus before (a fee-on-transfer token credits what it delivers). A ledger that
    /// ran out is settled before the credit (recording its debt and since when), and after it when it
    /// has debt, so the deposit repays the debt into the cluster's revenue pool first.
    /// @custom:access Anyone (for its own ledger).
    /// @custom:emits {LedgerSettled} when the ledger is settled, then {Deposited}.
    /// @custom:reverts {DDCZeroAmount} if `amount` is 0.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {LedgerNothingReceived} if no token arrived.
    /// The token's own errors (e.g. `SafeERC20FailedOperation`, an allowance too small).
    /// @param cluster The ledger's cluster.
    /// @param amount The amount to pull from the caller, in token units.
    function accountDeposit(ClusterId cluster, uint256 amount) external;

    /// @notice As {accountDeposit}, into `owner`'s ledger, paid by the caller.
    /// @custom:access Anyone (the caller pays).
    /// @custom:emits {LedgerSettled} when the ledger is settled, then {Deposited}.
    /// @custom:reverts {DDCZeroAddress} ("owner") if `owner` is 0.
    /// Otherwise as {accountDeposit}.
    /// @param owner The ledger's owner.
    /// @param cluster The ledger's cluster.
    /// @param amount The amount to pull from the caller, in token units.
    function depositFor(address owner, ClusterId cluster, uint256 amount) external;

    /// @notice Deposits with an EIP-2612 permit. A permit already used (front-run) is tolerated if
    /// the allowance is there.
    /// @dev A failing permit is ignored; the transfer then fails if the allowance is missing.
    /// @custom:access Anyone (for its own ledger; the permit is the caller's).
    /// @custom:emits {LedgerSettled} when the ledger is settled, then {Deposited}.
    /// @custom:reverts As {accountDeposit}.
    /// @param cluster The ledger's cluster.
    /// @param amount The amount to pull from the caller (and the permit's value), in token units.
    /// @param deadline The permit's deadline.
    /// @param v The permit signature's `v`.
    /// @param r The permit signature's `r`.
    /// @param s The permit signature's `s`.
    function accountDepositWithPermit(
        ClusterId cluster,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Announces a withdrawal of `amount`, possible after the unlock delay. Replaces any
    /// earlier announcement; 0 cancels it. An amount above what is free now is refused.
    /// @dev Unlocking is a notice, not a lock: the unlocked funds keep paying rent until withdrawn.
    /// What is free is computed as {accountWithdraw} computes it (balance, less the rent accrued
    /// since the last settlement and any debt, less the runway of the caps), without settling:
    /// nothing but the notice is written. The withdrawal checks again, since rent keeps accruing
    /// during the wait. Works while paused.
    /// @custom:access Anyone (for its own ledger).
    /// @custom:emits {UnlockRequested}.
    /// @custom:reverts {ClusterNotFound} if the cluster does not exist.
    /// {LedgerInsufficientFree} if `amount` is above what is free now (so a ledger with nothing
    /// free cannot be unlocked).
    /// @param cluster The ledger's cluster.
    /// @param amount The amount, in token units (0 cancels).
    function accountUnlock(ClusterId cluster, uint256 amount) external;

    /// @notice Withdraws unlocked funds, after settling, keeping the runway of open buckets.
    /// @dev The ledger is settled first (so rent cannot be escaped by withdrawing before a
    /// settlement), then keeps `ceil(capUnits × price × gracePeriod / MONTH)` at the price the
    /// cluster heads to (rounded up, against the owner): the runway of every cap, not only of what is
    /// billed now. What is withdrawn comes off the unlocked amount. Works while paused.
    /// @custom:access Anyone (for its own ledger).
    /// @custom:emits {LedgerSettled}, then {Withdrawn}.
    /// @custom:reverts {DDCZeroAmount} if `amount` is 0.
    /// {DDCZeroAddress} ("to") if `to` is 0.
    /// {ClusterNotFound} if the cluster does not exist.
    /// {LedgerLocked} if nothing is unlocked or the delay has not passed.
    /// {LedgerUnlockExceeded} if `amount` is above the unlocked amount.
    /// {LedgerInsufficientFree} if `amount` is above the balance less the runway.
    /// @param cluster The ledger's cluster.
    /// @param amount The amount, in token units.
    /// @param to The recipient.
    function accountWithdraw(ClusterId cluster, uint256 amount, address to) external;

    // ─────────────────────────────────────── global params ────────────────────────────────────────

    /// @notice Sets the network fee, taken from every distribution (from the next one on) for the
    /// fee destination.
    /// @custom:access `PARAMETERS_ROLE`.
    /// @custom:emits {NetworkFeeChanged}.
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// {DDCParameterOutOfRange} above {DDCConstants.MAX_NETWORK_FEE_BPS}.
    /// @param feeBps The fee, in basis points.
    function setNetworkFee(uint16 feeBps) external;

    /// @notice Sets the account whose internal balance receives the network fee (from the next
    /// distribution on).
    /// @custom:access `PARAMETERS_ROLE`.
    /// @custom:emits {FeeDestinationChanged}.
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// {DDCZeroAddress} ("feeDestination") if `destination` is 0.
    /// @param destination The fee destination.
    function setFeeDestination(address destination) external;

    /// @notice Sets the unlock delay: how long a withdrawal waits after {accountUnlock}. It is also
    /// the least notice of a price increase and of a provider's request to leave.
    /// @dev Unlocks, increases and requests already announced keep their time.
    /// @custom:access `PARAMETERS_ROLE`.
    /// @custom:emits {UnlockDelayChanged}.
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// {DDCParameterOutOfRange} above {DDCConstants.MAX_UNLOCK_DELAY}.
    /// @param delay The delay, in seconds.
    function setUnlockDelay(uint32 delay) external;

    /// @notice Sets the grace period: how long a bucket stays InArrears before it is Suspended, and
    /// how much rent a ledger keeps as runway.
    /// @dev Applies at once to every ledger's runway and to every bucket's derived status.
    /// @custom:access `PARAMETERS_ROLE`.
    /// @custom:emits {GracePeriodChanged}.
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// {DDCParameterOutOfRange} below {DDCConstants.MIN_GRACE_PERIOD} or above
    /// {DDCConstants.MAX_GRACE_PERIOD}.
    /// @param period The period, in seconds.
    function setGracePeriod(uint32 period) external;

    /// @notice Pauses node, cluster and bucket creation, allocation, batch settlement and
    /// distribution. Deposits, unlocks, withdrawals, claims, fee and reserve withdrawals, caps,
    /// closing and eviction, usage reports and topology changes go on.
    /// @custom:access `PAUSER_ROLE`.
    /// @custom:emits `Paused` (OpenZeppelin Pausable).
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// `EnforcedPause` if already paused.
    function pause() external;

    /// @notice Lifts the pause.
    /// @custom:access `PAUSER_ROLE`.
    /// @custom:emits `Unpaused` (OpenZeppelin Pausable).
    /// @custom:reverts `AccessControlUnauthorizedAccount` without the role.
    /// `ExpectedPause` if not paused.
    function unpause() external;

    /// @notice The payment token: every deposit, rent, fee and revenue is in it.
    /// @return The ERC-20 token's address, fixed at deployment.
    function token() external view returns (address);
}
