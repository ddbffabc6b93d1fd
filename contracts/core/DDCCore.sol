// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {NodeId, ClusterId, BucketId} from "../types/Ids.sol";
import {IDDCCore} from "../interfaces/IDDCCore.sol";
import {
    DDCConstants,
    NodeParams,
    NodeStatus,
    ClusterParams,
    BucketRole,
    GlobalParams
} from "../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../libraries/LedgerMath.sol";
import {CoreStorage, CoreStorageLib, Node, Cluster, Bucket, Lookup, NodeClusters} from "./CoreStorage.sol";
import {Accrual} from "./Accrual.sol";
import {NodeLogic} from "./logic/NodeLogic.sol";
import {ClusterLogic} from "./logic/ClusterLogic.sol";
import {BucketLogic} from "./logic/BucketLogic.sol";
import {UsageLogic} from "./logic/UsageLogic.sol";
import {RevenueLogic} from "./logic/RevenueLogic.sol";
import {Settlement} from "./Settlement.sol";

/// @title DDCCore
/// @notice See {IDDCCore}. Function order: checks → accrue/settle → effects → event → token
/// transfer last (deposits measure what arrived, so they transfer first, under the reentrancy guard).
contract DDCCore is IDDCCore, AccessControl, Pausable, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;
    using SafeCast for uint256;
    using Lookup for CoreStorage;
    using Lookup for Cluster;
    using EnumerableSet for EnumerableSet.AddressSet;
    using PriceIndex for PriceState;

    /// @notice May move the global parameters (the DAO's Timelock).
    bytes32 public constant PARAMETERS_ROLE = keccak256("PARAMETERS_ROLE");
    /// @notice May pause and unpause (a guardian Safe, and the Timelock).
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    IERC20 private immutable _token;

    constructor(IERC20 token_, address admin, GlobalParams memory params, address views) {
        require(address(token_) != address(0), DDCZeroAddress("token"));
        require(views.code.length != 0, DDCZeroAddress("views"));
        viewsExtension = views;
        require(admin != address(0), DDCZeroAddress("admin"));
        _token = token_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setNetworkFee(params.networkFeeBps);
        _setFeeDestination(params.feeDestination);
        _setUnlockDelay(params.unlockDelay);
        _setGracePeriod(params.gracePeriod);
    }

    // ─────────────────────────────────────────── nodes ────────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function nodeCreate(
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams calldata params
    ) external whenNotPaused returns (NodeId) {
        return NodeLogic.create(_st(), signingKey, capacity, rent, params);
    }

    /// @inheritdoc IDDCCore
    function nodeChangeParams(NodeId node, NodeParams calldata params) external {
        NodeLogic.changeParams(_st(), node, params);
    }

    /// @inheritdoc IDDCCore
    function nodeRotateKey(NodeId node, address newKey) external {
        NodeLogic.rotateKey(_st(), node, newKey);
    }

    /// @inheritdoc IDDCCore
    function nodeChangeRent(NodeId node, uint96 rent) external {
        NodeLogic.changeRent(_st(), node, rent);
    }

    /// @inheritdoc IDDCCore
    function nodeChangeCapacity(NodeId node, uint64 capacity) external {
        NodeLogic.changeCapacity(_st(), node, capacity);
    }

    /// @inheritdoc IDDCCore
    function nodeRemove(NodeId node) external {
        NodeLogic.remove(_st(), node);
    }

    /// @inheritdoc IDDCCore
    function nodeTrustManager(address manager) external {
        NodeLogic.trustManager(_st(), manager, true);
    }

    /// @inheritdoc IDDCCore
    function nodeDistrustManager(address manager) external {
        NodeLogic.trustManager(_st(), manager, false);
    }

    // ────────────────────────────────────────── clusters ──────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function clusterCreate(
        address manager,
        ClusterParams calldata params,
        uint64 unitSize
    ) external whenNotPaused returns (ClusterId) {
        return ClusterLogic.create(_st(), manager, params, unitSize);
    }

    /// @inheritdoc IDDCCore
    function clusterChangeParams(ClusterId cluster, ClusterParams calldata params) external {
        ClusterLogic.changeParams(_st(), cluster, params);
    }

    /// @inheritdoc IDDCCore
    function clusterAddNode(ClusterId cluster, NodeId node, uint64[] calldata tokens) external {
        ClusterLogic.addNode(_st(), cluster, node, tokens);
    }

    /// @inheritdoc IDDCCore
    function clusterRemoveNode(ClusterId cluster, NodeId node) external {
        ClusterLogic.removeNode(_st(), cluster, node);
    }

    /// @inheritdoc IDDCCore
    function clusterReplaceNode(
        ClusterId cluster,
        NodeId node,
        NodeId[] calldata replacements,
        bytes32 evidenceHash
    ) external {
        ClusterLogic.replaceNode(_st(), cluster, node, replacements, evidenceHash);
    }

    /// @inheritdoc IDDCCore
    function nodeRequestLeave(NodeId node, ClusterId cluster) external {
        ClusterLogic.requestLeave(_st(), cluster, node);
    }

    /// @inheritdoc IDDCCore
    function nodeCancelLeave(NodeId node, ClusterId cluster) external {
        ClusterLogic.cancelLeave(_st(), cluster, node);
    }

    /// @inheritdoc IDDCCore
    function nodeLeaveCluster(NodeId node, ClusterId cluster) external {
        ClusterLogic.leave(_st(), cluster, node);
    }

    /// @inheritdoc IDDCCore
    function clusterSetNodeStatus(ClusterId cluster, NodeId node, NodeStatus status) external {
        ClusterLogic.setNodeStatus(_st(), cluster, node, status);
    }

    /// @inheritdoc IDDCCore
    function clusterAcceptNodeRent(ClusterId cluster, NodeId node) external {
        ClusterLogic.acceptNodeRent(_st(), cluster, node);
    }

    /// @inheritdoc IDDCCore
    function clusterReserveResource(ClusterId cluster, uint64 unitsPerVNode) external {
        ClusterLogic.reserveResource(_st(), cluster, unitsPerVNode);
    }

    /// @inheritdoc IDDCCore
    function clusterProposeManager(ClusterId cluster, address newManager) external {
        ClusterLogic.proposeManager(_st(), cluster, newManager);
    }

    /// @inheritdoc IDDCCore
    function clusterAcceptManager(ClusterId cluster) external {
        ClusterLogic.acceptManager(_st(), cluster);
    }

    /// @inheritdoc IDDCCore
    function clusterSetOperator(ClusterId cluster, address operator, bool enabled) external {
        ClusterLogic.setOperator(_st(), cluster, operator, enabled);
    }

    /// @inheritdoc IDDCCore
    function clusterSetValidator(ClusterId cluster, address validator, bool enabled) external {
        ClusterLogic.setValidator(_st(), cluster, validator, enabled);
    }

    // ────────────────────────────────────────── buckets ───────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function clusterReportUsage(
        ClusterId cluster,
        uint32 era,
        BucketId[] calldata buckets,
        uint64[] calldata measuredUnits,
        bytes32 evidenceHash
    ) external nonReentrant {
        UsageLogic.report(_st(), cluster, era, buckets, measuredUnits, evidenceHash);
    }

    /// @inheritdoc IDDCCore
    function clusterDistributeRevenues(
        ClusterId cluster,
        uint32 era,
        NodeId[] calldata ineligibleNodes,
        bytes32 evidenceHash
    ) external whenNotPaused nonReentrant {
        RevenueLogic.distribute(_st(), cluster, era, ineligibleNodes, evidenceHash);
    }

    /// @inheritdoc IDDCCore
    function clusterWithdrawReserve(ClusterId cluster, uint256 amount, address to) external nonReentrant {
        require(to != address(0), DDCZeroAddress("to"));
        RevenueLogic.withdrawReserve(_st(), cluster, amount);
        emit ReserveWithdrawn(cluster, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @inheritdoc IDDCCore
    function claim(NodeId[] calldata nodes, address to) external nonReentrant {
        require(to != address(0), DDCZeroAddress("to"));
        uint256 total = _collect(nodes, to);
        if (total != 0) _token.safeTransfer(to, total);
    }

    /// @inheritdoc IDDCCore
    function withdrawBalance(uint256 amount, address to) external nonReentrant {
        require(to != address(0), DDCZeroAddress("to"));
        uint256 balance = _st().balances[msg.sender];
        require(amount <= balance, DDCInsufficientBalance(msg.sender, balance, amount));
        unchecked {
            // amount <= balance, checked above.
            _st().balances[msg.sender] = balance - amount;
        }
        emit BalanceWithdrawn(msg.sender, to, amount);
        _token.safeTransfer(to, amount);
    }

    /// @inheritdoc IDDCCore
    function bucketCreate(ClusterId cluster, string calldata params) external whenNotPaused returns (BucketId bucket) {
        Cluster storage c = _st().existingCluster(cluster);
        bucket = BucketId.wrap(++_st().bucketCount);
        Bucket storage b = _st().buckets[bucket];
        b.owner = msg.sender;
        b.cluster = cluster;
        c.buckets.push(bucket);
        emit BucketCreated(bucket, msg.sender, cluster, params);
    }

    /// @inheritdoc IDDCCore
    function bucketAllocIntoCluster(BucketId bucket, uint64 units) external whenNotPaused nonReentrant {
        BucketLogic.alloc(_st(), bucket, units);
    }

    /// @inheritdoc IDDCCore
    function bucketAllocWithMaxPrice(
        BucketId bucket,
        uint64 units,
        uint256 maxPrice
    ) external whenNotPaused nonReentrant {
        BucketLogic.allocWithMaxPrice(_st(), bucket, units, maxPrice);
    }

    /// @inheritdoc IDDCCore
    function bucketSetCap(BucketId bucket, uint64 cap) external nonReentrant {
        BucketLogic.setCap(_st(), bucket, cap);
    }

    /// @inheritdoc IDDCCore
    function bucketSetCapWithMaxPrice(BucketId bucket, uint64 cap, uint256 maxPrice) external nonReentrant {
        BucketLogic.setCapWithMaxPrice(_st(), bucket, cap, maxPrice);
    }

    /// @inheritdoc IDDCCore
    function bucketGrant(BucketId bucket, address account, BucketRole role) external {
        BucketLogic.grant(_st(), bucket, account, role);
    }

    /// @inheritdoc IDDCCore
    function bucketRevoke(BucketId bucket, address account, BucketRole role) external {
        BucketLogic.revoke(_st(), bucket, account, role);
    }

    /// @inheritdoc IDDCCore
    function bucketClose(BucketId bucket) external nonReentrant {
        BucketLogic.close(_st(), bucket);
    }

    /// @inheritdoc IDDCCore
    function bucketEvict(BucketId bucket) external nonReentrant {
        BucketLogic.evict(_st(), bucket);
    }

    /// @inheritdoc IDDCCore
    function bucketSettlePayment(ClusterId cluster, BucketId[] calldata buckets) external whenNotPaused nonReentrant {
        uint256 length = buckets.length;
        require(length <= DDCConstants.MAX_SETTLE_BATCH, DDCBatchTooLarge(length, DDCConstants.MAX_SETTLE_BATCH));
        CoreStorage storage s = _st();
        Cluster storage c = s.existingCluster(cluster);
        PriceState memory p = c.price;
        uint256 indexNow = p.indexAt(block.timestamp);
        indexNow.toUint120(); // once for the batch: every ledger checkpoint below is this index.
        // The event's record: per bucket, 36 bytes: bucket id (8) | paid (14) | debt after (14).
        bytes memory record = new bytes(length * 36);
        uint256 total;
        for (uint256 i = 0; i < length; ++i) {
            BucketId id = buckets[i];
            (address owner, ClusterId bucketCluster) = _bucketKey(s, id);
            require(owner != address(0), BucketNotFound(id));
            require(bucketCluster == cluster, BucketNotInCluster(id, cluster));
            (uint256 paid, uint256 debt) = Settlement.settleBatch(Lookup.ledger(s, owner, cluster), indexNow);
            assembly ("memory-safe") {
                // Entry i spans [at, at + 36): the first store puts the id's high 4 bytes at `at`,
                // the second writes [at + 4, at + 36): the id's low 4 bytes, paid, debt.
                let at := add(add(record, 32), mul(i, 36))
                mstore(at, shl(192, id))
                mstore(add(at, 4), or(or(shl(224, id), shl(112, paid)), debt))
            }
            unchecked {
                // Each paid amount came out of a ledger balance held by this contract.
                total += paid;
            }
        }
        c.revenuePool += total;
        emit PaymentsSettled(cluster, total, record);
    }

    // ────────────────────────────────────────── accounts ──────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function accountDeposit(ClusterId cluster, uint256 amount) external nonReentrant {
        _deposit(msg.sender, cluster, amount);
    }

    /// @inheritdoc IDDCCore
    function depositFor(address owner, ClusterId cluster, uint256 amount) external nonReentrant {
        require(owner != address(0), DDCZeroAddress("owner"));
        _deposit(owner, cluster, amount);
    }

    /// @inheritdoc IDDCCore
    function accountDepositWithPermit(
        ClusterId cluster,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant {
        // A permit seen in the mempool can be submitted by anyone first; then the allowance is
        // already there and the deposit goes on (the transfer fails if it is not).
        try IERC20Permit(address(_token)).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        _deposit(msg.sender, cluster, amount);
    }

    /// @inheritdoc IDDCCore
    function accountUnlock(ClusterId cluster, uint256 amount) external {
        Cluster storage c = _st().existingCluster(cluster);
        Ledger storage l = Lookup.ledger(_st(), msg.sender, cluster);
        uint40 unlockAt;
        if (amount != 0) {
            // Refused now rather than at the withdrawal, a delay later. Computed as the withdrawal
            // computes it but without settling: unlocking stays a cheap notice that writes nothing
            // else. The withdrawal checks again, since rent keeps accruing during the wait.
            uint256 free = Settlement.freeNow(c, l, _st().params.gracePeriod);
            require(amount <= free, LedgerInsufficientFree(msg.sender, cluster, free, amount));
            unlockAt = uint40(block.timestamp + _st().params.unlockDelay);
        }
        // amount <= free <= a balance of 112 bits.
        l.unlockAmount = uint112(amount);
        l.unlockAt = unlockAt;
        emit UnlockRequested(msg.sender, cluster, amount, unlockAt);
    }

    /// @inheritdoc IDDCCore
    function accountWithdraw(ClusterId cluster, uint256 amount, address to) external nonReentrant {
        require(amount != 0, DDCZeroAmount());
        require(to != address(0), DDCZeroAddress("to"));
        Cluster storage c = _st().existingCluster(cluster);
        Ledger storage l = Lookup.ledger(_st(), msg.sender, cluster);
        uint256 unlockAt = l.unlockAt;
        require(unlockAt != 0 && block.timestamp >= unlockAt, LedgerLocked(msg.sender, cluster, unlockAt));
        uint256 unlocked = l.unlockAmount;
        require(amount <= unlocked, LedgerUnlockExceeded(msg.sender, cluster, unlocked, amount));

        Settlement.settleOne(msg.sender, cluster, c, l);
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        // The runway of everything the open buckets can be billed for (their caps), not only of
        // what they are billed for now: a pay-per-use bucket is not a way out of rent.
        uint256 runway = LedgerMath.runway(l.capUnits, c.price.target(), _st().params.gracePeriod);
        uint256 free = balance > runway ? balance - runway : 0;
        require(amount <= free, LedgerInsufficientFree(msg.sender, cluster, free, amount));

        l.hot = LedgerMath.pack(balance - amount, checkpoint, remainder);
        unchecked {
            // amount <= unlocked, checked above.
            l.unlockAmount = uint112(unlocked - amount);
        }
        if (amount == unlocked) l.unlockAt = 0;
        emit Withdrawn(msg.sender, cluster, to, amount);
        _token.safeTransfer(to, amount);
    }

    // ─────────────────────────────────────── global params ────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function setNetworkFee(uint16 feeBps) external onlyRole(PARAMETERS_ROLE) {
        _setNetworkFee(feeBps);
    }

    /// @inheritdoc IDDCCore
    function setFeeDestination(address destination) external onlyRole(PARAMETERS_ROLE) {
        _setFeeDestination(destination);
    }

    /// @inheritdoc IDDCCore
    function setUnlockDelay(uint32 delay) external onlyRole(PARAMETERS_ROLE) {
        _setUnlockDelay(delay);
    }

    /// @inheritdoc IDDCCore
    function setGracePeriod(uint32 period) external onlyRole(PARAMETERS_ROLE) {
        _setGracePeriod(period);
    }

    /// @inheritdoc IDDCCore
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IDDCCore
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ─────────────────────────────────────────── views ────────────────────────────────────────────

    /// @inheritdoc IDDCCore
    function token() external view returns (address) {
        return address(_token);
    }

    /// @notice The contract that serves {IDDCViews}, run in this contract's context.
    address public immutable viewsExtension;

    /// @dev Forwards every other call (the views of {IDDCViews}) to the views extension.
    // solhint-disable-next-line no-complex-fallback
    fallback() external {
        address target = viewsExtension;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, 0, calldatasize())
            let ok := delegatecall(gas(), target, ptr, calldatasize(), 0, 0)
            returndatacopy(ptr, 0, returndatasize())
            if iszero(ok) {
                revert(ptr, returndatasize())
            }
            return(ptr, returndatasize())
        }
    }

    // ───────────────────────────────────────── internals ──────────────────────────────────────────

    /// @dev Collects the caller's nodes' revenue from every cluster they are in and from ended
    /// memberships (kept in the core, not a library: claims are frequent and small).
    function _collect(NodeId[] calldata nodes, address to) private returns (uint256 total) {
        CoreStorage storage s = _st();
        for (uint256 i = 0; i < nodes.length; ++i) {
            NodeId id = nodes[i];
            Node storage n = s.providedNode(id);
            uint256 amount = n.claimable;
            uint256 count = n.clusterCount;
            uint256 clusterIds = n.clusterIds;
            for (uint256 j = 0; j < count; ++j) {
                Cluster storage c = s.clusters[NodeClusters.at(clusterIds, j)];
                amount += Accrual.claimFrom(c, c.members[id]);
            }
            if (n.claimable != 0) n.claimable = 0;
            emit RevenueClaimed(id, msg.sender, to, amount);
            total += amount;
        }
    }

    function _st() private pure returns (CoreStorage storage) {
        return CoreStorageLib.load();
    }

    /// @dev A bucket's owner and cluster, from one storage read (the first slot of {Bucket}:
    /// owner in the low 160 bits, then the cluster id).
    function _bucketKey(CoreStorage storage s, BucketId id) private view returns (address owner, ClusterId cluster) {
        Bucket storage b = s.buckets[id];
        uint256 word;
        assembly ("memory-safe") {
            word := sload(b.slot)
        }
        owner = address(uint160(word));
        cluster = ClusterId.wrap(uint32(word >> 160));
    }

    function _deposit(address owner, ClusterId cluster, uint256 amount) private {
        require(amount != 0, DDCZeroAmount());
        Cluster storage c = _st().existingCluster(cluster);
        uint256 before = _token.balanceOf(address(this));
        _token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = _token.balanceOf(address(this)) - before;
        require(received != 0, LedgerNothingReceived(msg.sender, amount));
        Ledger storage l = Lookup.ledger(_st(), owner, cluster);
        // A ledger that cannot pay what it owes (in arrears mode, or short and not yet settled)
        // records its debt and since when first; then a ledger with debt repays it from the deposit
        // at once. So recorded debt always means one continuous arrears period, whatever the order
        // of calls, and a later run-out starts a new one.
        if (l.hot & LedgerMath.LAZY != 0) {
            PriceState memory p = c.price;
            Settlement.settle(l, p, c.checkpoints, p.indexAt(block.timestamp)); // pays nothing
        } else if (Settlement.ranOutUnrecorded(c, l)) {
            Settlement.settleOne(owner, cluster, c, l); // pays the balance, records the debt
        }
        (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        l.hot = LedgerMath.pack(balance + received, checkpoint, remainder);
        if (l.debt != 0) Settlement.settleOne(owner, cluster, c, l);
        emit Deposited(owner, cluster, msg.sender, received);
    }

    function _setNetworkFee(uint16 feeBps) private {
        Lookup.checkRange("networkFeeBps", feeBps, 0, DDCConstants.MAX_NETWORK_FEE_BPS);
        uint16 old = _st().params.networkFeeBps;
        _st().params.networkFeeBps = feeBps;
        emit NetworkFeeChanged(old, feeBps);
    }

    function _setFeeDestination(address destination) private {
        require(destination != address(0), DDCZeroAddress("feeDestination"));
        address old = _st().params.feeDestination;
        _st().params.feeDestination = destination;
        emit FeeDestinationChanged(old, destination);
    }

    function _setUnlockDelay(uint32 delay) private {
        Lookup.checkRange("unlockDelay", delay, 0, DDCConstants.MAX_UNLOCK_DELAY);
        uint32 old = _st().params.unlockDelay;
        _st().params.unlockDelay = delay;
        emit UnlockDelayChanged(old, delay);
    }

    function _setGracePeriod(uint32 period) private {
        Lookup.checkRange("gracePeriod", period, DDCConstants.MIN_GRACE_PERIOD, DDCConstants.MAX_GRACE_PERIOD);
        uint32 old = _st().params.gracePeriod;
        _st().params.gracePeriod = period;
        emit GracePeriodChanged(old, period);
    }
}
