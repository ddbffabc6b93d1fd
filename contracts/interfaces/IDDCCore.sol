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
/// settlements pay exactly what one does. Settlement is permissionless: each named ledger pays
/// `min(owed + debt, balance)` into the cluster's revenue pool, the shortfall becomes debt, repaid
/// first by the next deposit (which settles at once). Price increases apply only after a notice at
/// least as long as the unlock delay; decreases, and any change while the cluster has no
/// allocation, apply at once.
///
/// Money (provider side). Distribution splits a cluster's pool into the network fee and the
/// management fee (internal balances), the nodes' revenue (by weight: the rent each is charged) and
/// the ineligible nodes' shares (the cluster's reserve); providers claim, pull never push.
///
/// Conservation: the core's token balance equals the sum of ledger balances, revenue pools, fee
/// balances, reserves and the nodes' unclaimed revenue, plus rounding dust of less than one token
/// unit per membership sync and two per distribution.
interface IDDCCore {
    // ─────────────────────────────────────────── errors ───────────────────────────────────────────

    /// @dev A zero amount where a positive one is needed.
    error DDCZeroAmount();
    /// @dev The zero address where a real one is needed (what the argument is for, by name).
    error DDCZeroAddress(bytes32 what);
    /// @dev A batch longer than its documented maximum.
    error DDCBatchTooLarge(uint256 length, uint256 max);
    /// @dev Two arrays of one batch that must have the same length do not.
    error DDCLengthMismatch(uint256 length, uint256 otherLength);
    /// @dev A parameter outside the range fixed in code.
    error DDCParameterOutOfRange(bytes32 name, uint256 value, uint256 min, uint256 max);

    error NodeNotFound(NodeId node);
    error NodeNotProvider(NodeId node, address caller);
    error NodeKeyInUse(address key, NodeId holder);
    error NodeInClusters(NodeId node, uint256 clusters);
    error NodeTooManyClusters(NodeId node, uint256 max);
    /// @dev A node with unclaimed revenue cannot be removed.
    error NodeHasRevenue(NodeId node, uint256 amount);
    error NodeCapacityExceeded(NodeId node, uint256 capacity, uint256 required);
    error NodeTooManyUrls(uint256 count, uint256 max);
    /// @dev `engine` or `version` longer than the 31 bytes stored.
    error NodeStringTooLong(bytes32 field, uint256 length, uint256 max);
    error NodeUrlTooLong(uint256 index, uint256 length, uint256 max);
    /// @dev The node's provider does not trust the cluster's current manager.
    error NodeManagerNotTrusted(NodeId node, address provider, address manager);

    error ClusterNotFound(ClusterId cluster);
    error ClusterNotManager(ClusterId cluster, address caller);
    error ClusterNotPendingManager(ClusterId cluster, address caller);
    /// @dev Only the manager or an operator may do this.
    error ClusterNotOperator(ClusterId cluster, address caller);
    /// @dev Eras are distributed once each, in increasing order.
    error ClusterEraAlreadyDistributed(ClusterId cluster, uint256 era, uint256 nextEra);
    /// @dev More ineligible members than `nodes − replicationFactor` (non-members named are not
    /// counted).
    error ClusterTooManyExclusions(ClusterId cluster, uint256 count, uint256 max);
    /// @dev Ineligible nodes must be named in strictly increasing order.
    error ClusterIneligibleNotIncreasing(ClusterId cluster, NodeId node);
    error ClusterReserveInsufficient(ClusterId cluster, uint256 reserve, uint256 requested);
    /// @dev A report for an era that has not ended yet.
    error ClusterEraNotClosed(ClusterId cluster, uint256 era, uint256 currentEra);
    error ClusterNodeAlreadyMember(ClusterId cluster, NodeId node);
    error ClusterNodeNotMember(ClusterId cluster, NodeId node);
    error ClusterTokenTaken(ClusterId cluster, uint64 token, NodeId holder);
    error ClusterTokensInvalid(ClusterId cluster, uint256 count, uint256 max);
    error ClusterTooManyNodes(ClusterId cluster, uint256 max);
    error ClusterTooManyVNodes(ClusterId cluster, uint256 max);
    /// @dev A replacement must be another node, and a member taking vNodes must be active, not
    /// leaving, and charged its accepted rent (no announced increase pending for it).
    error ClusterReplacementInvalid(ClusterId cluster, NodeId node, NodeId replacement);
    /// @dev A replacement would raise the price in force while buckets are allocated (members
    /// taking vNodes keep the rent they are charged; new members wait the notice for more).
    error ClusterReplacementRaisesPrice(ClusterId cluster, uint256 price, uint256 newPrice);
    error ClusterNodeAlreadyLeaving(ClusterId cluster, NodeId node, uint256 leaveAt);
    error ClusterNodeNotLeaving(ClusterId cluster, NodeId node);
    /// @dev The provider asked to leave; the notice ends at `leaveAt`.
    error ClusterNodeLeaveNotDue(ClusterId cluster, NodeId node, uint256 leaveAt);
    error ClusterBelowReplication(ClusterId cluster, uint256 nodes, uint256 replicationFactor);
    /// @dev The replication factor cannot be lowered while the cluster has an open bucket that can
    /// be billed (owners pay for the replicas).
    error ClusterReplicationInUse(ClusterId cluster, uint256 factor, uint256 requested);
    error ClusterReservationBelowAllocation(ClusterId cluster, uint256 reservation, uint256 allocated);
    error ClusterCapacityExceeded(ClusterId cluster, uint256 reserved, uint256 required);
    error ClusterUnitSizeZero();
    error ClusterRentUnchanged(ClusterId cluster, NodeId node, uint256 rent);
    error ClusterTooManyMembers(ClusterId cluster, bytes32 set, uint256 max);
    /// @dev The cluster's price would pass {DDCConstants.MAX_CLUSTER_PRICE}.
    error ClusterPriceTooHigh(ClusterId cluster, uint256 price, uint256 max);

    error BucketNotFound(BucketId bucket);
    error BucketNotOwner(BucketId bucket, address caller);
    error BucketIsClosed(BucketId bucket);
    error BucketNotInCluster(BucketId bucket, ClusterId cluster);
    error BucketCapBelowReservation(BucketId bucket, uint256 cap, uint256 reserved);
    /// @dev A cap below the units the last usage report measured (capped by the cap they were
    /// measured under): they stay billable until a report measures less.
    error BucketCapBelowMeasured(BucketId bucket, uint256 cap, uint256 measured);
    /// @dev Only a Suspended bucket can be evicted.
    error BucketNotSuspended(BucketId bucket, BucketStatus status);

    /// @dev An allocation the ledger cannot keep a runway for (balance after debts < runway).
    error LedgerInsufficientRunway(address owner, ClusterId cluster, uint256 available, uint256 required);
    /// @dev A withdrawal larger than what is free after settling and keeping the runway.
    error LedgerInsufficientFree(address owner, ClusterId cluster, uint256 free, uint256 requested);
    /// @dev A withdrawal before the unlock delay has passed (0: nothing unlocked).
    error LedgerLocked(address owner, ClusterId cluster, uint256 unlockAt);
    /// @dev The cluster's price is above what the owner accepted.
    error LedgerPriceAboveLimit(ClusterId cluster, uint256 price, uint256 maxPrice);
    /// @dev A withdrawal larger than the unlocked amount.
    error LedgerUnlockExceeded(address owner, ClusterId cluster, uint256 unlocked, uint256 requested);
    /// @dev An internal balance (fees) smaller than the withdrawal.
    error DDCInsufficientBalance(address account, uint256 balance, uint256 requested);
    /// @dev The token moved fewer tokens in than were asked, and nothing arrived.
    error LedgerNothingReceived(address payer, uint256 amount);

    // ─────────────────────────────────────────── events ───────────────────────────────────────────

    event NodeCreated(
        NodeId indexed node,
        address indexed provider,
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams params
    );
    event NodeParamsChanged(NodeId indexed node, NodeParams params);
    event NodeKeyRotated(NodeId indexed node, address oldKey, address newKey);
    /// @dev The asked rent; each cluster's manager accepts it with {clusterAcceptNodeRent}.
    event NodeRentChanged(NodeId indexed node, uint96 oldRent, uint96 newRent);
    event NodeCapacityChanged(NodeId indexed node, uint64 oldCapacity, uint64 newCapacity);
    event NodeRemoved(NodeId indexed node, address indexed provider);
    event ManagerTrusted(address indexed provider, address indexed manager);
    event ManagerDistrusted(address indexed provider, address indexed manager);

    event ClusterCreated(ClusterId indexed cluster, address indexed manager, ClusterParams params, uint64 unitSize);
    event ClusterParamsChanged(ClusterId indexed cluster, ClusterParams params);
    event ClusterNodeAdded(ClusterId indexed cluster, NodeId indexed node, uint64[] tokens, uint96 rent);
    event ClusterNodeRemoved(ClusterId indexed cluster, NodeId indexed node, uint64[] tokens);
    /// @dev `tokens[i]` (the node's vNodes) now belongs to `replacements[i]`; replacements that
    /// were not members joined. The node's membership ended as in {ClusterNodeRemoved}.
    event ClusterNodeReplaced(
        ClusterId indexed cluster,
        NodeId indexed node,
        uint64[] tokens,
        NodeId[] replacements,
        bytes32 evidenceHash
    );
    event ClusterNodeLeaveRequested(ClusterId indexed cluster, NodeId indexed node, uint40 leaveAt);
    event ClusterNodeLeaveCancelled(ClusterId indexed cluster, NodeId indexed node);
    event ClusterNodeStatusChanged(ClusterId indexed cluster, NodeId indexed node, NodeStatus status);
    event ClusterNodeRentAccepted(ClusterId indexed cluster, NodeId indexed node, uint96 oldRent, uint96 newRent);
    event ClusterResourceReserved(ClusterId indexed cluster, uint64 oldPerVNode, uint64 newPerVNode);
    /// @dev The cluster's price changed now: a checkpoint of the index was written.
    event ClusterPriceChanged(ClusterId indexed cluster, uint96 oldPrice, uint96 newPrice, uint256 index);
    /// @dev A price increase is announced: it applies at `effectiveAt` unless superseded.
    event ClusterPriceScheduled(ClusterId indexed cluster, uint96 currentPrice, uint96 newPrice, uint40 effectiveAt);
    /// @dev A scheduled increase will not happen: the price moved to or below the current one first.
    event ClusterPriceScheduleCancelled(ClusterId indexed cluster, uint96 cancelledPrice, uint40 cancelledAt);
    event ClusterManagerProposed(ClusterId indexed cluster, address indexed manager, address indexed pendingManager);
    /// @dev Operators were cleared; providers must trust `newManager` before their nodes can be added.
    event ClusterManagerChanged(ClusterId indexed cluster, address indexed oldManager, address indexed newManager);
    event ClusterOperatorSet(ClusterId indexed cluster, address indexed operator, bool enabled);
    event ClusterValidatorSet(ClusterId indexed cluster, address indexed validator, bool enabled);

    event BucketCreated(BucketId indexed bucket, address indexed owner, ClusterId indexed cluster, string params);
    /// @dev `billed` is what the ledger is charged for: max(reserved, measured), at most `cap`.
    event BucketAllocated(BucketId indexed bucket, uint64 reserved, uint64 cap, uint64 billed);
    event BucketRoleGranted(BucketId indexed bucket, address indexed account, BucketRole role);
    event BucketRoleRevoked(BucketId indexed bucket, address indexed account, BucketRole role);
    event BucketClosed(BucketId indexed bucket, uint64 unitsFreed);
    /// @dev A Suspended bucket was closed by `by`; its ledger keeps its debt.
    event BucketEvicted(BucketId indexed bucket, address indexed by, uint64 unitsFreed);

    event Deposited(address indexed owner, ClusterId indexed cluster, address indexed payer, uint256 amount);
    event UnlockRequested(address indexed owner, ClusterId indexed cluster, uint256 amount, uint40 unlockAt);
    event Withdrawn(address indexed owner, ClusterId indexed cluster, address indexed to, uint256 amount);
    /// @dev A usage report for `era`: per bucket recorded, the billed units from now on. Buckets
    /// skipped are in {UsageReportSkipped}.
    event UsageReported(
        ClusterId indexed cluster,
        uint32 indexed era,
        bytes32 evidenceHash,
        BucketId[] buckets,
        uint64[] billed
    );
    /// @dev A bucket of a usage report was not recorded: closed, or already reported for this era
    /// or a later one. `nextEra` is the first era it may be reported for (0: never reported).
    event UsageReportSkipped(
        ClusterId indexed cluster,
        uint32 indexed era,
        BucketId bucket,
        bool closed,
        uint32 nextEra
    );
    /// @dev Era `era`'s revenue pool was distributed: `networkFee` to the fee destination's
    /// balance, `managementFee` to the manager's, `toNodes` over the eligible nodes by weight,
    /// `toReserve` (ineligible nodes' shares, or everything if the cluster has no weight) to the
    /// reserve.
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
    /// @dev A node named ineligible is not in the cluster (any more): skipped.
    event DistributionNodeSkipped(ClusterId indexed cluster, uint32 indexed era, NodeId node);
    /// @dev One per node named in a claim (the amount may be 0).
    event RevenueClaimed(NodeId indexed node, address indexed provider, address indexed to, uint256 amount);
    event BalanceWithdrawn(address indexed account, address indexed to, uint256 amount);
    event ReserveWithdrawn(ClusterId indexed cluster, address indexed to, uint256 amount);
    /// @dev One ledger settled outside a batch (on an allocation, a close or a withdrawal).
    event LedgerSettled(address indexed owner, ClusterId indexed cluster, uint256 paid, uint256 debt);
    /// @dev A settlement batch: `total` went into the cluster's revenue pool. `record` holds, per
    /// bucket in batch order, 36 bytes: the bucket id (uint64), what its ledger paid (uint112) and
    /// the ledger's debt after (uint112), big-endian (packed to keep the batch cheap).
    event PaymentsSettled(ClusterId indexed cluster, uint256 total, bytes record);

    event NetworkFeeChanged(uint16 oldFeeBps, uint16 newFeeBps);
    event FeeDestinationChanged(address oldDestination, address newDestination);
    event UnlockDelayChanged(uint32 oldDelay, uint32 newDelay);
    event GracePeriodChanged(uint32 oldPeriod, uint32 newPeriod);

    // ─────────────────────────────────────────── nodes ────────────────────────────────────────────

    /// @notice Registers a node owned by the caller. `rent` is per vNode per month per unit.
    function nodeCreate(
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams calldata params
    ) external returns (NodeId node);

    function nodeChangeParams(NodeId node, NodeParams calldata params) external;

    /// @notice Rotates the node's signing key (the id stays).
    function nodeRotateKey(NodeId node, address newKey) external;

    /// @notice Asks a new rent. Clusters holding the node keep the rent their manager accepted
    /// until the manager calls {clusterAcceptNodeRent}; an increase then waits for the notice.
    function nodeChangeRent(NodeId node, uint96 rent) external;

    /// @notice Changes capacity; it cannot go below what clusters have reserved.
    function nodeChangeCapacity(NodeId node, uint64 capacity) external;

    /// @notice Removes a node that no cluster holds.
    function nodeRemove(NodeId node) external;

    /// @notice The caller (a provider) allows `manager` to add its nodes to the manager's clusters.
    function nodeTrustManager(address manager) external;

    function nodeDistrustManager(address manager) external;

    // ────────────────────────────────────────── clusters ──────────────────────────────────────────

    /// @notice Creates a cluster managed by `manager`. `unitSize` (bytes per unit) is fixed forever.
    function clusterCreate(
        address manager,
        ClusterParams calldata params,
        uint64 unitSize
    ) external returns (ClusterId cluster);

    /// @notice Changes the cluster's settings. A new era length applies from the next era.
    function clusterChangeParams(ClusterId cluster, ClusterParams calldata params) external;

    /// @notice Adds a node with vNodes at `tokens` on the ring. The provider must trust the manager
    /// and the node must have capacity for the cluster's reservation on each vNode.
    function clusterAddNode(ClusterId cluster, NodeId node, uint64[] calldata tokens) external;

    /// @notice Removes a node and its vNodes. The remaining nodes must still hold every replica.
    function clusterRemoveNode(ClusterId cluster, NodeId node) external;

    /// @notice Replaces `node` (failing, or leaving) by handing each of its vNodes, in the order of
    /// {IDDCViews.clusterNodeInfo}'s tokens, to `replacements[i]`, in one transaction: the ring has
    /// no hole. A replacement must be trusted by its provider and have capacity for the cluster's
    /// reservation; a node that is not a member joins (earning from now on); a member must be active
    /// and not leaving. `node` keeps what it earned, earns nothing after, and is no longer a member.
    /// The price in force does not rise while buckets are allocated: new members are charged at
    /// most the leaving node's rent until the notice passes. O(vNodes of `node`).
    function clusterReplaceNode(
        ClusterId cluster,
        NodeId node,
        NodeId[] calldata replacements,
        bytes32 evidenceHash
    ) external;

    function clusterSetNodeStatus(ClusterId cluster, NodeId node, NodeStatus status) external;

    /// @notice Applies the node's current asked rent to this cluster.
    function clusterAcceptNodeRent(ClusterId cluster, NodeId node) external;

    /// @notice Sets the units reserved on every vNode (a bucket of R units takes R on each vNode).
    /// Loops over the cluster's nodes: at most {DDCConstants.MAX_NODES_PER_CLUSTER}.
    function clusterReserveResource(ClusterId cluster, uint64 unitsPerVNode) external;

    function clusterProposeManager(ClusterId cluster, address newManager) external;

    function clusterAcceptManager(ClusterId cluster) external;

    function clusterSetOperator(ClusterId cluster, address operator, bool enabled) external;

    function clusterSetValidator(ClusterId cluster, address validator, bool enabled) external;

    /// @notice Records measured usage for `era` (which must have ended), by the manager or an
    /// operator: each bucket is billed `min(cap, max(reservation, measuredUnits))` from now on
    /// (never retroactively: its ledger is settled first). Each bucket is recorded at most once per
    /// era, in any number of batches; a closed or already-reported bucket is skipped with
    /// {UsageReportSkipped}. At most {DDCConstants.MAX_USAGE_BATCH} buckets.
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
    /// `nodes − replicationFactor`), whose shares go to the reserve. O(1) in the number of nodes.
    function clusterDistributeRevenues(
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligibleNodes,
        bytes32 evidenceHash
    ) external;

    /// @notice The manager moves `amount` of the cluster's reserve to `to`.
    function clusterWithdrawReserve(ClusterId cluster, uint256 amount, address to) external;

    /// @notice Pays the caller's nodes' revenue (every cluster they are or were in) to `to`.
    function claim(NodeId[] calldata nodes, address to) external;

    /// @notice The provider announces that `node` leaves `cluster`; it may leave once the notice (the
    /// cluster's price notice, at least the unlock delay and a day) has passed, or the manager
    /// replaces it before.
    function nodeRequestLeave(NodeId node, ClusterId cluster) external;

    function nodeCancelLeave(NodeId node, ClusterId cluster) external;

    /// @notice The provider takes `node` out of `cluster` after its notice, as
    /// {clusterRemoveNode} would (the remaining nodes must still hold every replica).
    function nodeLeaveCluster(NodeId node, ClusterId cluster) external;

    /// @notice Withdraws from the caller's internal balance (network or management fees).
    function withdrawBalance(uint256 amount, address to) external;

    // ────────────────────────────────────────── buckets ───────────────────────────────────────────

    /// @notice Creates a bucket owned by the caller. `params` (engine settings) is emitted only.
    function bucketCreate(ClusterId cluster, string calldata params) external returns (BucketId bucket);

    /// @notice Reserves `units` for the bucket (raising its cap to at least `units`). The ledger is
    /// settled first; growing needs a runway for the new total (see {bucketAllocWithMaxPrice}).
    function bucketAllocIntoCluster(BucketId bucket, uint64 units) external;

    /// @notice As {bucketAllocIntoCluster}, but reverts if the price the cluster is heading to is
    /// above `maxPrice`: a manager cannot raise the price in front of the allocation.
    function bucketAllocWithMaxPrice(BucketId bucket, uint64 units, uint256 maxPrice) external;

    /// @notice Sets the most a usage report may bill the bucket for (≥ the reservation).
    function bucketSetCap(BucketId bucket, uint64 cap) external;

    /// @notice As {bucketSetCap}, but reverts with {LedgerPriceAboveLimit} if the price the cluster
    /// is heading to is above `maxPrice`: a pay-per-use bucket's first cap is its allocation, and a
    /// manager cannot raise a cluster's price in front of it (while no bucket can be billed, an
    /// increase applies at once).
    function bucketSetCapWithMaxPrice(BucketId bucket, uint64 cap, uint256 maxPrice) external;

    function bucketGrant(BucketId bucket, address account, BucketRole role) external;

    function bucketRevoke(BucketId bucket, address account, BucketRole role) external;

    /// @notice Closes the bucket: its accrual stops and its capacity is freed.
    function bucketClose(BucketId bucket) external;

    /// @notice Closes a Suspended bucket, by anyone: its capacity returns to the cluster and its
    /// ledger keeps the debt. Without it, an owner who stops paying would hold capacity for ever.
    function bucketEvict(BucketId bucket) external;

    /// @notice Settles the ledgers of `buckets`, all in `cluster`. Anyone may call.
    /// At most {DDCConstants.MAX_SETTLE_BATCH} buckets.
    function bucketSettlePayment(ClusterId cluster, BucketId[] calldata buckets) external;

    // ────────────────────────────────────────── accounts ──────────────────────────────────────────

    /// @notice Deposits into the caller's ledger in `cluster`; credits what actually arrived. A
    /// ledger with debt, or owing more than its balance, is settled at once: the deposit repays the
    /// debt first. Deposits work while the core is paused.
    function accountDeposit(ClusterId cluster, uint256 amount) external;

    function depositFor(address owner, ClusterId cluster, uint256 amount) external;

    /// @notice Deposits with an EIP-2612 permit. A permit already used (front-run) is tolerated if
    /// the allowance is there.
    function accountDepositWithPermit(
        ClusterId cluster,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;

    /// @notice Announces a withdrawal of `amount`, possible after the unlock delay. Replaces any
    /// earlier announcement; 0 cancels it.
    function accountUnlock(ClusterId cluster, uint256 amount) external;

    /// @notice Withdraws unlocked funds, after settling, keeping the runway of open buckets.
    function accountWithdraw(ClusterId cluster, uint256 amount, address to) external;

    // ─────────────────────────────────────── global params ────────────────────────────────────────

    function setNetworkFee(uint16 feeBps) external;

    function setFeeDestination(address destination) external;

    function setUnlockDelay(uint32 delay) external;

    function setGracePeriod(uint32 period) external;

    function pause() external;

    function unpause() external;

    /// @notice The payment token.
    function token() external view returns (address);
}
