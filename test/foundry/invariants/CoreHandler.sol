// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../../../contracts/types/Ids.sol";
import {IDDC} from "../../../contracts/interfaces/IDDCViews.sol";
import {IDDCCore} from "../../../contracts/interfaces/IDDCCore.sol";
import {
    NodeParams,
    ClusterParams,
    ClusterView,
    BucketView,
    LedgerView,
    NodeView
} from "../../../contracts/interfaces/IDDCTypes.sol";
import {LedgerMath} from "../../../contracts/libraries/LedgerMath.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm, VM_ADDRESS} from "../base/Vm.sol";
import {Bounds} from "../base/ForgeTest.sol";
import {CoreErrors} from "./CoreErrors.sol";

/// @notice Drives the core through random actions of its parties, one function per action, with
/// bounded inputs and actors from a fixed set. Each call to the core is attempted: a refusal the
/// core names (one of its custom errors) is counted per error; anything else is recorded as a
/// defect. Ghost variables follow the money that entered and left the core, and the properties
/// that are about transitions (a price increase, a distribution, a cap change, a withdrawal) are
/// checked here, around the action, and recorded for the invariant test to assert.
///
/// The world: two clusters sharing node 2, eight nodes of three providers, four owners, an
/// operator per cluster, the fee destination; owner 0 with a reserved bucket in cluster 1, owner 1
/// with a pay-per-use bucket (reservation 0, cap 20) in cluster 1, owner 2 with a reserved bucket
/// in cluster 2.
contract CoreHandler {
    using Bounds for uint256;

    Vm private constant vm = Vm(VM_ADDRESS);

    uint256 public constant NODES = 8;
    uint256 public constant OWNERS = 4;
    uint256 public constant CLUSTERS = 2;
    uint256 private constant CAPACITY = 1e12;
    uint64 private constant RESERVED_PER_VNODE = 1_000;
    /// @dev A bucket's units stay far below the reservation: the cluster's capacity is not what
    /// this suite explores.
    uint256 private constant MAX_UNITS = 40;

    IDDC public immutable ddc;
    IERC20 public immutable token;

    address[OWNERS] public owners;
    address[3] public providers;
    address[CLUSTERS] public managers;
    address[CLUSTERS] public operators;
    address public immutable feeDestination;
    address public immutable payer = address(0xFA1E5);
    address public immutable stranger = address(0x5757);
    /// @dev Receives claims, fees and reserve withdrawals (so what left the core is measured here).
    address public immutable sink = address(0x51A4);
    ClusterId[CLUSTERS] public clusters;
    uint256 public unlockDelay;
    uint256 public gracePeriod;

    // ───────────────────────────────────────── ghost state ────────────────────────────────────────

    uint256 public ghostDeposited;
    uint256 public ghostWithdrawn;
    uint256 public ghostClaimed;
    uint256 public ghostFeesWithdrawn;
    uint256 public ghostReserveWithdrawn;
    /// @dev Membership syncs and distributions so far: each may leave rounding dust in the core.
    uint256 public ghostSyncs;
    uint256 public ghostDistributions;

    /// @dev A bucket as last read back (one slot: the suite reads them often).
    struct BucketGhost {
        address owner;
        uint8 cluster;
        uint64 cap;
        bool closed;
    }

    /// @dev Buckets by id (index 0 unused).
    BucketGhost[] private _buckets;
    /// @dev Open buckets with cap > 0 (they can be billed) per cluster index.
    uint256[CLUSTERS] public billableBuckets;
    /// @dev Per bucket, the highest price in force while it could be billed: the prices it paid at
    /// never passed it, and each rise of it was checked by (c).
    mapping(uint256 bucket => uint256) public highestPrice;

    /// @dev What each cluster's view said after the last action (one slot per cluster).
    struct ClusterSnapshot {
        uint96 price;
        uint96 pendingPrice;
        uint40 pendingAt;
        bool billable;
    }

    ClusterSnapshot[CLUSTERS] private _snapshots;
    /// @dev Actions run so far (the invariant test samples its costliest check by it).
    uint256 public calls;

    /// @dev The largest replication factor in force since each cluster's last distribution.
    uint256[CLUSTERS] public maxFactorSinceDistribution;

    /// @dev The increase a cluster announced last (as its view shows it), when it was first
    /// announced at this time, and the notice it had to give then.
    struct Announcement {
        uint256 price;
        uint256 at;
        uint256 announcedAt;
        uint256 notice;
    }

    Announcement[CLUSTERS] private _announced;

    /// @dev A property broken by a transition: how often, and the first time, described.
    struct Violation {
        uint256 count;
        string first;
    }

    mapping(bytes1 property => Violation) private _violations;
    /// @dev Bit `p - "a"` is set once property `p` was broken (one read for the invariant test).
    uint256 public violated;

    // ─────────────────────────────────────────── statistics ───────────────────────────────────────

    bytes32[] private _actionNames;
    bytes32 private _action;
    mapping(bytes32 action => uint256) public succeeded;
    mapping(bytes32 action => uint256) public refused;
    mapping(bytes32 action => bytes4[]) private _refusals;
    mapping(bytes32 action => mapping(bytes4 selector => uint256)) public refusedWith;

    uint64 private _tokenGeneration;

    constructor(IDDC ddc_, IERC20 token_, address feeDestination_) {
        ddc = ddc_;
        token = token_;
        feeDestination = feeDestination_;
        for (uint256 i = 0; i < OWNERS; ++i) owners[i] = address(uint160(0xA0000 + i));
        for (uint256 i = 0; i < 3; ++i) providers[i] = address(uint160(0xB0000 + i));
        for (uint256 i = 0; i < CLUSTERS; ++i) {
            managers[i] = address(uint160(0xC0000 + i));
            operators[i] = address(uint160(0xD0000 + i));
        }
        _buckets.push(BucketGhost(address(0), 0, 0, true));
        _actionNames = [
            bytes32("deposit"),
            "bucketCreate",
            "alloc",
            "allocWithMaxPrice",
            "setCap",
            "setCapWithMaxPrice",
            "close",
            "evict",
            "settle",
            "unlock",
            "withdraw",
            "reportUsage",
            "distribute",
            "claim",
            "withdrawFees",
            "withdrawReserve",
            "changeRent",
            "acceptRent",
            "addNode",
            "removeNode",
            "replaceNode",
            "changeParams",
            "warp"
        ];
    }

    /// @notice Builds the world (see the contract's notice). The caller has minted tokens to the
    /// owners and the payer.
    function init() external {
        unlockDelay = ddc.globalParams().unlockDelay;
        gracePeriod = ddc.globalParams().gracePeriod;
        address[5] memory spenders = [owners[0], owners[1], owners[2], owners[3], payer];
        for (uint256 i = 0; i < spenders.length; ++i) {
            vm.prank(spenders[i]);
            token.approve(address(ddc), type(uint256).max);
        }
        uint96[NODES] memory rents = [uint96(1e6), 2e6, 1.5e6, 3e6, 0.5e6, 1e6, 2.5e6, 0.7e6];
        NodeParams memory params = NodeParams("ddc-storage", "1.0.0", new string[](0), "");
        for (uint256 i = 0; i < NODES; ++i) {
            vm.prank(providers[i % 3]);
            ddc.nodeCreate(address(uint160(0xE0000 + i)), uint64(CAPACITY), rents[i], params);
        }
        for (uint256 p = 0; p < 3; ++p) {
            for (uint256 m = 0; m < CLUSTERS; ++m) {
                vm.prank(providers[p]);
                ddc.nodeTrustManager(managers[m]);
            }
        }
        ClusterParams[CLUSTERS] memory cp = [
            ClusterParams({
                replicationFactor: 2,
                eraLength: 1 hours,
                qosThreshold: 9000,
                managementFeeBps: 1000,
                priceNotice: 10 days
            }),
            ClusterParams({
                replicationFactor: 2,
                eraLength: 2 hours,
                qosThreshold: 9000,
                managementFeeBps: 500,
                priceNotice: 0
            })
        ];
        for (uint256 i = 0; i < CLUSTERS; ++i) {
            vm.prank(managers[i]);
            clusters[i] = ddc.clusterCreate(managers[i], cp[i], 1 << 30);
            maxFactorSinceDistribution[i] = cp[i].replicationFactor;
            vm.prank(managers[i]);
            ddc.clusterSetOperator(clusters[i], operators[i], true);
        }
        // Cluster 1: nodes 1–4 (node 1 with two vNodes); cluster 2: nodes 2, 5 (two vNodes), 6.
        _initNode(0, 1, 2);
        _initNode(0, 2, 1);
        _initNode(0, 3, 1);
        _initNode(0, 4, 1);
        _initNode(1, 2, 1);
        _initNode(1, 5, 2);
        _initNode(1, 6, 1);
        for (uint256 i = 0; i < CLUSTERS; ++i) {
            vm.prank(managers[i]);
            ddc.clusterReserveResource(clusters[i], RESERVED_PER_VNODE);
        }
        _initBucket(0, 0, 200e6, 10, 10);
        _initBucket(1, 0, 50e6, 0, 20);
        _initBucket(2, 1, 30e6, 5, 5);
        for (uint256 i = 0; i < CLUSTERS; ++i) {
            ClusterView memory v = ddc.getCluster(clusters[i]);
            _snapshots[i] = ClusterSnapshot(v.price, v.pendingPrice, v.pendingPriceAt, billableBuckets[i] != 0);
            _afterAction(i);
        }
    }

    function _initNode(uint256 cluster, uint256 node, uint256 vNodes) private {
        vm.prank(managers[cluster]);
        ddc.clusterAddNode(clusters[cluster], NodeId.wrap(uint32(node)), _freshTokens(node, vNodes));
    }

    function _initBucket(uint256 owner, uint256 cluster, uint256 deposit_, uint64 units, uint64 cap) private {
        vm.startPrank(owners[owner]);
        BucketId b = ddc.bucketCreate(clusters[cluster], "");
        ddc.accountDeposit(clusters[cluster], deposit_);
        if (units != 0) ddc.bucketAllocIntoCluster(b, units);
        if (cap != units) ddc.bucketSetCap(b, cap);
        vm.stopPrank();
        ghostDeposited += deposit_;
        _trackBucket(b, owners[owner], cluster);
        _refreshBucket(b);
    }

    // ─────────────────────────────────────────── owners ───────────────────────────────────────────

    function deposit(uint256 ownerSeed, uint256 clusterSeed, uint256 amount, bool viaPayer) external observed {
        address owner = _owner(ownerSeed);
        ClusterId cluster = _anyCluster(clusterSeed);
        amount = amount % 16 == 0 ? 0 : amount.bound(1, 300e6);
        bool ok =
            viaPayer
                ? _attempt("deposit", payer, abi.encodeCall(IDDCCore.depositFor, (owner, cluster, amount)))
                : _attempt("deposit", owner, abi.encodeCall(IDDCCore.accountDeposit, (cluster, amount)));
        if (ok) ghostDeposited += amount;
    }

    function bucketCreate(uint256 ownerSeed, uint256 clusterSeed) external observed {
        address owner = _owner(ownerSeed);
        ClusterId cluster = _anyCluster(clusterSeed);
        (bool ok, bytes memory ret) = _call(
            "bucketCreate",
            owner,
            abi.encodeCall(IDDCCore.bucketCreate, (cluster, ""))
        );
        if (!ok) return;
        BucketId b = abi.decode(ret, (BucketId));
        _trackBucket(b, owner, _clusterIndex(cluster));
        // (i) The cluster's bucket index lists it last.
        (, uint256 total) = ddc.clusterBuckets(cluster, 0, 0);
        (BucketId[] memory page, ) = ddc.clusterBuckets(cluster, total - 1, 1);
        if (page.length != 1 || !(page[0] == b)) {
            _violate("i", string.concat("bucket ", vm.toString(_id(b)), " is not last in its cluster's index"));
        }
    }

    function alloc(uint256 bucketSeed, uint256 units, uint256 actorSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        units = units.bound(0, MAX_UNITS);
        _attempt(
            "alloc",
            _bucketActor(b, actorSeed),
            abi.encodeCall(IDDCCore.bucketAllocIntoCluster, (b, uint64(units)))
        );
        _refreshBucket(b);
    }

    /// @param priceSeed Below 1/2: the price the cluster heads to (accepted); else one below it.
    function allocWithMaxPrice(uint256 bucketSeed, uint256 units, uint256 priceSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        units = units.bound(0, MAX_UNITS);
        _attempt(
            "allocWithMaxPrice",
            _bucketActor(b, priceSeed >> 128),
            abi.encodeCall(IDDCCore.bucketAllocWithMaxPrice, (b, uint64(units), _maxPrice(b, priceSeed)))
        );
        _refreshBucket(b);
    }

    /// @dev Half the time the price the bucket's cluster heads to (accepted), else one below it.
    function _maxPrice(BucketId b, uint256 priceSeed) private view returns (uint256 maxPrice) {
        if (!_exists(b)) return 0;
        ClusterView memory v = ddc.getCluster(clusters[_buckets[_id(b)].cluster]);
        maxPrice = v.pendingPriceAt != 0 ? v.pendingPrice : v.price;
        if (priceSeed % 2 == 1 && maxPrice != 0) maxPrice -= 1 + ((priceSeed >> 1) % maxPrice);
    }

    /// @dev (f): a cap is never set below the units measured, capped by the cap before.
    function setCap(uint256 bucketSeed, uint256 cap, uint256 actorSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        cap = cap.bound(0, MAX_UNITS + 20);
        _setCap("setCap", b, cap, abi.encodeCall(IDDCCore.bucketSetCap, (b, uint64(cap))), actorSeed);
    }

    /// @param priceSeed Below 1/2: the price the cluster heads to (accepted); else one below it.
    function setCapWithMaxPrice(uint256 bucketSeed, uint256 cap, uint256 priceSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        cap = cap.bound(0, MAX_UNITS + 20);
        bytes memory call = abi.encodeCall(
            IDDCCore.bucketSetCapWithMaxPrice,
            (b, uint64(cap), _maxPrice(b, priceSeed))
        );
        _setCap("setCapWithMaxPrice", b, cap, call, priceSeed >> 128);
    }

    function _setCap(bytes32 action, BucketId b, uint256 cap, bytes memory call, uint256 actorSeed) private {
        BucketView memory before;
        if (_exists(b)) before = ddc.getBucket(b);
        bool ok = _attempt(action, _bucketActor(b, actorSeed), call);
        uint256 floor = before.measured < before.cap ? before.measured : before.cap;
        if (ok && cap < floor) {
            _violate(
                "f",
                string.concat(
                    "bucket ",
                    vm.toString(_id(b)),
                    " cap set to ",
                    vm.toString(cap),
                    " below its measured units ",
                    vm.toString(before.measured),
                    " (cap before ",
                    vm.toString(before.cap),
                    ")"
                )
            );
        }
        _refreshBucket(b);
    }

    function close(uint256 bucketSeed, uint256 actorSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        _attempt("close", _bucketActor(b, actorSeed), abi.encodeCall(IDDCCore.bucketClose, (b)));
        _refreshBucket(b);
    }

    function evict(uint256 bucketSeed, uint256 callerSeed) external observed {
        BucketId b = _bucket(bucketSeed);
        address caller = callerSeed % 2 == 0 ? stranger : _owner(callerSeed >> 1);
        _attempt("evict", caller, abi.encodeCall(IDDCCore.bucketEvict, (b)));
        _refreshBucket(b);
    }

    /// @param picks Up to five buckets, 8 bits each; bit 0 of `foreign` also names a bucket of
    /// another cluster.
    function settle(uint256 clusterSeed, uint256 picks, uint256 foreign) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        uint256 count = 1 + (picks % 5);
        BucketId[] memory list = new BucketId[](count);
        for (uint256 i = 0; i < count; ++i) {
            list[i] = _bucketIn(c, picks >> (8 * i + 8));
        }
        if (foreign % 8 == 0) list[count - 1] = _bucketIn(1 - c, foreign >> 3);
        _attempt("settle", stranger, abi.encodeCall(IDDCCore.bucketSettlePayment, (clusters[c], list)));
    }

    /// @dev (g): an unlock is accepted exactly when it does not pass what is free now.
    /// @param percent Of what is free now, or (one time in four) of the ledger's balance (0 cancels
    /// an unlock).
    function unlock(uint256 ownerSeed, uint256 clusterSeed, uint256 percent) external observed {
        address owner = _owner(ownerSeed);
        ClusterId cluster = _anyCluster(clusterSeed);
        if (!_isCluster(cluster)) {
            _attempt("unlock", owner, abi.encodeCall(IDDCCore.accountUnlock, (cluster, 1)));
            return;
        }
        uint256 free = ddc.accountFreeBalance(owner, cluster);
        uint256 basis = (ownerSeed >> 8) % 4 == 0 ? ddc.getLedger(owner, cluster).balance : free;
        uint256 amount = (basis * percent.bound(0, 120)) / 100;
        bool ok = _attempt("unlock", owner, abi.encodeCall(IDDCCore.accountUnlock, (cluster, amount)));
        if (ok != (amount <= free)) {
            _violate(
                "g",
                string.concat(
                    "owner ",
                    vm.toString(owner),
                    ok ? " unlocked " : " was refused an unlock of ",
                    vm.toString(amount),
                    " in cluster ",
                    vm.toString(_clusterIndex(cluster) + 1),
                    " with ",
                    vm.toString(free),
                    " free"
                )
            );
        }
    }

    /// @dev (g): a withdrawal leaves the ledger the runway of Σ cap of its open buckets.
    /// @param percent Of the unlocked amount (of the balance if nothing is unlocked).
    function withdraw(uint256 ownerSeed, uint256 clusterSeed, uint256 percent) external observed {
        address owner = _owner(ownerSeed);
        ClusterId cluster = _anyCluster(clusterSeed);
        uint256 amount;
        if (_isCluster(cluster)) {
            LedgerView memory before = ddc.getLedger(owner, cluster);
            // Nothing unlocked: try a part of the balance (the core says it is locked).
            amount = ((before.unlockAmount != 0 ? before.unlockAmount : before.balance) * percent.bound(1, 110)) / 100;
        }
        bool ok = _attempt("withdraw", owner, abi.encodeCall(IDDCCore.accountWithdraw, (cluster, amount, owner)));
        if (!ok) return;
        ghostWithdrawn += amount;
        uint256 c = _clusterIndex(cluster);
        uint256 units = _capUnits(owner, c);
        ClusterView memory v = ddc.getCluster(cluster);
        uint256 target = v.pendingPriceAt != 0 ? v.pendingPrice : v.price;
        uint256 runway = LedgerMath.runway(units, target, gracePeriod);
        LedgerView memory l = ddc.getLedger(owner, cluster);
        if (l.capUnits != units) {
            _violate(
                "i",
                string.concat(
                    "ledger of ",
                    vm.toString(owner),
                    " in cluster ",
                    vm.toString(c + 1),
                    " counts ",
                    vm.toString(l.capUnits),
                    " cap units, its open buckets ",
                    vm.toString(units)
                )
            );
        }
        uint256 balance = l.balance;
        if (balance < runway) {
            _violate(
                "g",
                string.concat(
                    "owner ",
                    vm.toString(owner),
                    " withdrew ",
                    vm.toString(amount),
                    " from cluster ",
                    vm.toString(c + 1),
                    " leaving ",
                    vm.toString(balance),
                    " below the runway ",
                    vm.toString(runway),
                    " of ",
                    vm.toString(units),
                    " cap units"
                )
            );
        }
    }

    // ────────────────────────────────────────── operators ─────────────────────────────────────────

    /// @param eraSeed 1/8: the current era (not closed); else one of the three last closed eras.
    function reportUsage(
        uint256 clusterSeed,
        uint256 eraSeed,
        uint256 picks,
        uint256 measured,
        uint256 callerSeed
    ) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        (uint32 current, , ) = ddc.clusterEra(clusters[c]);
        uint32 era = eraSeed % 8 == 0 ? current : _closedEra(current, eraSeed >> 3);
        uint256 count = 1 + (picks % 4);
        BucketId[] memory list = new BucketId[](count);
        uint64[] memory units = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) {
            list[i] = _bucketIn(c, picks >> (8 * i + 8));
            units[i] = uint64(((measured >> (16 * i)) & 0xffff).bound(0, MAX_UNITS + 10));
        }
        if ((picks >> 248) % 8 == 0) list[count - 1] = _bucketIn(1 - c, picks >> 200);
        (bool ok, ) = _call(
            "reportUsage",
            _operatorOrOther(c, callerSeed),
            abi.encodeCall(IDDCCore.clusterReportUsage, (clusters[c], era, list, units, bytes32(0)))
        );
        if (ok) for (uint256 i = 0; i < count; ++i) _refreshBucket(list[i]);
    }

    /// @dev (e): a distribution never excludes more than `nodes − replicationFactor` members, with the
    /// largest factor in force since the last distribution.
    /// @param mask Node i + 1 is ineligible if bits i, i + 12 and i + 24 are set (node 9 does not
    /// exist); 1/8 (bits 16–18): the first two are swapped.
    function distribute(uint256 clusterSeed, uint256 eraSeed, uint256 mask, uint256 callerSeed) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        (uint32 current, , ) = ddc.clusterEra(clusters[c]);
        uint32 era = eraSeed % 8 == 0 ? current : _closedEra(current, eraSeed >> 3);
        // Each node ineligible with probability 1/8: exclusions within the cap, and past it.
        NodeId[] memory ineligible = _ineligible(mask & (mask >> 12) & (mask >> 24));
        if (ineligible.length >= 2 && (mask >> 16) % 8 == 0) {
            (ineligible[0], ineligible[1]) = (ineligible[1], ineligible[0]);
        }
        NodeId[] memory members = ddc.clusterNodes(clusters[c]);
        uint256 excluded;
        for (uint256 i = 0; i < ineligible.length; ++i) if (_contains(members, ineligible[i])) ++excluded;
        bool ok = _attempt(
            "distribute",
            _operatorOrOther(c, callerSeed),
            abi.encodeCall(IDDCCore.clusterDistributeRevenues, (clusters[c], era, ineligible, bytes32(0)))
        );
        if (!ok) return;
        ++ghostDistributions;
        ghostSyncs += excluded;
        uint256 factor = maxFactorSinceDistribution[c];
        uint256 maxExcluded = members.length > factor ? members.length - factor : 0;
        if (excluded > maxExcluded) {
            _violate(
                "e",
                string.concat(
                    "cluster ",
                    vm.toString(c + 1),
                    " era ",
                    vm.toString(era),
                    " excluded ",
                    vm.toString(excluded),
                    " of ",
                    vm.toString(members.length),
                    " nodes with a replication factor of ",
                    vm.toString(factor),
                    " in force since the last distribution"
                )
            );
        }
        maxFactorSinceDistribution[c] = ddc.getCluster(clusters[c]).params.replicationFactor;
    }

    // ────────────────────────────────────────── providers ─────────────────────────────────────────

    /// @param mask Which of the provider's nodes are claimed; `foreign` (1/8) adds another's.
    function claim(uint256 providerSeed, uint256 mask, uint256 foreign) external observed {
        uint256 p = providerSeed % 3;
        NodeId[] memory list = new NodeId[](NODES);
        uint256 count;
        uint256 memberships;
        for (uint256 i = 0; i < NODES; ++i) {
            if (i % 3 == p && (mask >> i) & 1 == 1) {
                list[count++] = NodeId.wrap(uint32(i + 1));
                memberships += ddc.getNode(NodeId.wrap(uint32(i + 1))).clusterCount;
            }
        }
        if (foreign % 8 == 0) list[count++] = NodeId.wrap(uint32(((p + 1) % 3) + 1));
        assembly ("memory-safe") {
            mstore(list, count)
        }
        address to = foreign % 64 == 1 ? address(0) : sink;
        uint256 before = token.balanceOf(sink);
        if (_attempt("claim", providers[p], abi.encodeCall(IDDCCore.claim, (list, to)))) {
            ghostClaimed += token.balanceOf(sink) - before;
            ghostSyncs += memberships;
        }
    }

    /// @param percent Of the account's balance; 1/8: one more than the balance.
    function withdrawFees(uint256 accountSeed, uint256 percent) external observed {
        uint256 pick = accountSeed % 3;
        address account = pick == 0 ? feeDestination : managers[pick - 1];
        uint256 balance = ddc.accountBalance(account);
        uint256 amount = percent % 8 == 0 ? balance + 1 : (balance * percent.bound(0, 100)) / 100;
        if (_attempt("withdrawFees", account, abi.encodeCall(IDDCCore.withdrawBalance, (amount, sink)))) {
            ghostFeesWithdrawn += amount;
        }
    }

    function withdrawReserve(uint256 clusterSeed, uint256 percent, uint256 callerSeed) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        (uint256 reserve, , ) = ddc.clusterRevenue(clusters[c]);
        uint256 amount = percent % 8 == 0 ? reserve + 1 : (reserve * percent.bound(0, 100)) / 100;
        address caller = callerSeed % 8 == 0 ? operators[c] : managers[c];
        bytes memory call = abi.encodeCall(IDDCCore.clusterWithdrawReserve, (clusters[c], amount, sink));
        if (_attempt("withdrawReserve", caller, call)) ghostReserveWithdrawn += amount;
    }

    function changeRent(uint256 nodeSeed, uint256 rent, uint256 callerSeed) external observed {
        NodeId node = _node(nodeSeed);
        rent = rent.bound(0, 4e6);
        address caller = providers[(NodeId.unwrap(node) - 1 + (callerSeed % 8 == 0 ? 1 : 0)) % 3];
        _attempt("changeRent", caller, abi.encodeCall(IDDCCore.nodeChangeRent, (node, uint96(rent))));
    }

    function acceptRent(uint256 clusterSeed, uint256 nodeSeed, uint256 callerSeed) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        bytes memory call = abi.encodeCall(IDDCCore.clusterAcceptNodeRent, (clusters[c], _askingMember(c, nodeSeed)));
        if (_attempt("acceptRent", _managerOrOther(c, callerSeed), call)) ++ghostSyncs;
    }

    // ─────────────────────────────────────────── managers ─────────────────────────────────────────

    /// @param vNodes 1 to 3 fresh vNodes; `taken` (1/8) puts the first on a token already used.
    function addNode(uint256 clusterSeed, uint256 nodeSeed, uint256 vNodes, uint256 taken) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        NodeId node = _nonMember(c, nodeSeed);
        uint64[] memory tokens = _freshTokens(NodeId.unwrap(node), vNodes.bound(1, 3));
        if (taken % 8 == 0) {
            (uint64[] memory ring, ) = ddc.clusterRing(clusters[c]);
            if (ring.length != 0) tokens[0] = ring[(taken >> 3) % ring.length];
        }
        _attempt(
            "addNode",
            _managerOrOther(c, taken >> 128),
            abi.encodeCall(IDDCCore.clusterAddNode, (clusters[c], node, tokens))
        );
    }

    function removeNode(uint256 clusterSeed, uint256 nodeSeed, uint256 callerSeed) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        bytes memory call = abi.encodeCall(IDDCCore.clusterRemoveNode, (clusters[c], _member(c, nodeSeed)));
        if (_attempt("removeNode", _managerOrOther(c, callerSeed), call)) ++ghostSyncs;
    }

    /// @param replacementSeed One node per vNode (8 bits each); 1/16: one replacement too few.
    function replaceNode(uint256 clusterSeed, uint256 nodeSeed, uint256 replacementSeed) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        NodeId node = _member(c, nodeSeed);
        uint256 k = _vNodesOf(c, node);
        if (k == 0) k = 1; // not a member: the core says so
        if (replacementSeed % 16 == 0) --k;
        NodeId[] memory replacements = new NodeId[](k);
        for (uint256 i = 0; i < k; ++i) replacements[i] = _node(replacementSeed >> (8 * i + 4));
        bytes memory call = abi.encodeCall(IDDCCore.clusterReplaceNode, (clusters[c], node, replacements, bytes32(0)));
        if (_attempt("replaceNode", _managerOrOther(c, replacementSeed >> 200), call)) ghostSyncs += 1 + k;
    }

    /// @param factor 1 to 5 (1/16: 0, out of range); `fee` up to 20 % (1/8: above, out of range).
    function changeParams(
        uint256 clusterSeed,
        uint256 factor,
        uint256 notice,
        uint256 fee,
        uint256 eraChoice
    ) external observed {
        uint256 c = clusterSeed % CLUSTERS;
        ClusterParams memory params = ClusterParams({
            replicationFactor: uint8(factor % 16 == 0 ? 0 : factor.bound(1, 5)),
            eraLength: [uint32(30 minutes), 1 hours, 2 hours][eraChoice % 3],
            qosThreshold: 9000,
            managementFeeBps: uint16(fee % 8 == 0 ? 2001 + ((fee >> 3) % 500) : (fee >> 3).bound(0, 2000)),
            priceNotice: uint32(notice.bound(0, 20 days))
        });
        bytes memory call = abi.encodeCall(IDDCCore.clusterChangeParams, (clusters[c], params));
        if (_attempt("changeParams", _managerOrOther(c, eraChoice >> 8), call)) {
            if (params.replicationFactor > maxFactorSinceDistribution[c]) {
                maxFactorSinceDistribution[c] = params.replicationFactor;
            }
        }
    }

    // ──────────────────────────────────────────── time ────────────────────────────────────────────

    /// @param range Up to an hour, a day, eight days or twenty days.
    function warp(uint256 seconds_, uint256 range) external observed {
        uint256[4] memory tops = [uint256(1 hours), 1 days, 8 days, 20 days];
        _action = "warp";
        vm.warp(_now() + seconds_.bound(1, tops[range % 4]));
        ++succeeded["warp"];
    }

    // ─────────────────────────────────────────── reading ──────────────────────────────────────────

    function bucketCount() external view returns (uint256) {
        return _buckets.length - 1;
    }

    function actionNames() external view returns (bytes32[] memory) {
        return _actionNames;
    }

    function refusals(bytes32 action) external view returns (bytes4[] memory) {
        return _refusals[action];
    }

    /// @notice What entered the core less what left it, by the ghost variables.
    function ghostHeld() external view returns (uint256) {
        return ghostDeposited - ghostWithdrawn - ghostClaimed - ghostFeesWithdrawn - ghostReserveWithdrawn;
    }

    function violation(bytes1 property) external view returns (uint256 count, string memory first) {
        Violation storage v = _violations[property];
        return (v.count, v.first);
    }

    /// @notice Σ cap of the owner's open buckets in the cluster (by index).
    function capUnits(address owner, uint256 cluster) external view returns (uint256) {
        return _capUnits(owner, cluster);
    }

    // ───────────────────────────────────────── internals ──────────────────────────────────────────

    /// @dev Around every action: (c) the price in force of a cluster with an open billable bucket
    /// rises only to an increase announced, with the notice, for a time that has come; (d) such a
    /// cluster keeps at least `replicationFactor` nodes. The state before an action is the state
    /// after the previous one (nothing else moves the chain between calls).
    modifier observed() {
        ++calls;
        _;
        for (uint256 i = 0; i < CLUSTERS; ++i) _afterAction(i);
        _action = bytes32(0);
    }

    function _afterAction(uint256 c) private {
        ClusterSnapshot memory before = _snapshots[c];
        ClusterView memory v = ddc.getCluster(clusters[c]);
        uint256 now_ = _now();
        bool billable = billableBuckets[c] != 0;
        if ((before.billable || billable) && v.price > before.price) _checkIncrease(c, before, v.price, now_);
        if (billable && v.price != before.price) _recordPrice(c, v.price);
        if (billable && v.nodeCount < v.params.replicationFactor) {
            _violate(
                "d",
                string.concat(
                    "cluster ",
                    vm.toString(c + 1),
                    " with an open billable bucket has ",
                    vm.toString(v.nodeCount),
                    " nodes for a replication factor of ",
                    vm.toString(v.params.replicationFactor),
                    " after ",
                    _actionName()
                )
            );
        }
        if (v.billableBuckets != billableBuckets[c] || v.exclusionFactor != maxFactorSinceDistribution[c]) {
            _violate(
                "i",
                string.concat(
                    "cluster ",
                    vm.toString(c + 1),
                    " counts ",
                    vm.toString(v.billableBuckets),
                    " billable buckets (the suite ",
                    vm.toString(billableBuckets[c]),
                    ") and an exclusion factor of ",
                    vm.toString(v.exclusionFactor),
                    " (the suite ",
                    vm.toString(maxFactorSinceDistribution[c]),
                    ") after ",
                    _actionName()
                )
            );
        }
        if (v.pendingPriceAt != before.pendingAt || v.pendingPrice != before.pendingPrice) {
            _announce(c, v, now_);
        }
        if (
            v.price != before.price ||
            v.pendingPrice != before.pendingPrice ||
            v.pendingPriceAt != before.pendingAt ||
            billable != before.billable
        ) {
            _snapshots[c] = ClusterSnapshot(v.price, v.pendingPrice, v.pendingPriceAt, billable);
        }
    }

    /// @dev Records what the cluster now announces: a new increase (or a later time) from now,
    /// with the notice it had to give; a lower one keeps when it was announced.
    function _announce(uint256 c, ClusterView memory v, uint256 now_) private {
        Announcement storage a = _announced[c];
        if (v.pendingPriceAt == 0) {
            delete _announced[c];
        } else if (a.at != v.pendingPriceAt || v.pendingPrice > a.price) {
            uint256 notice = v.params.priceNotice;
            if (unlockDelay > notice) notice = unlockDelay;
            if (1 days > notice) notice = 1 days;
            _announced[c] = Announcement(v.pendingPrice, v.pendingPriceAt, now_, notice);
        } else {
            a.price = v.pendingPrice;
        }
    }

    /// @dev (c): the price in force rose from `before.price` to `price`.
    function _checkIncrease(uint256 c, ClusterSnapshot memory before, uint256 price, uint256 now_) private {
        Announcement storage a = _announced[c];
        bool announced =
            before.pendingAt != 0 &&
                before.pendingAt <= now_ &&
                price <= before.pendingPrice &&
                a.at == before.pendingAt &&
                a.at >= a.announcedAt + a.notice;
        if (announced) return;
        _violate(
            "c",
            string.concat(
                "cluster ",
                vm.toString(c + 1),
                " with an open billable bucket: price ",
                vm.toString(before.price),
                " -> ",
                vm.toString(price),
                " at ",
                vm.toString(now_),
                " by ",
                _actionName(),
                before.pendingAt == 0
                    ? " (nothing announced)"
                    : string.concat(
                        " (announced ",
                        vm.toString(before.pendingPrice),
                        " for ",
                        vm.toString(before.pendingAt),
                        ")"
                    )
            )
        );
    }

    /// @dev The highest price each billable bucket of the cluster has been charged at.
    function _recordPrice(uint256 c, uint256 price) private {
        for (uint256 b = 1; b < _buckets.length; ++b) {
            BucketGhost memory g = _buckets[b];
            if (g.cluster == c && !g.closed && g.cap != 0 && price > highestPrice[b]) highestPrice[b] = price;
        }
    }

    /// @dev Calls the core as `actor`; counts the outcome. Returns whether it succeeded.
    function _attempt(bytes32 action, address actor, bytes memory data) private returns (bool ok) {
        (ok, ) = _call(action, actor, data);
    }

    function _call(bytes32 action, address actor, bytes memory data) private returns (bool ok, bytes memory ret) {
        _action = action;
        vm.prank(actor);
        (ok, ret) = address(ddc).call(data);
        if (ok) {
            ++succeeded[action];
            return (ok, ret);
        }
        bytes4 selector = ret.length >= 4 ? bytes4(ret) : bytes4(0);
        if (refusedWith[action][selector]++ == 0) _refusals[action].push(selector);
        ++refused[action];
        if (!CoreErrors.isCore(selector)) {
            _violate("h", string.concat(_actionName(), " reverted with ", vm.toString(ret)));
        }
    }

    function _violate(bytes1 property, string memory what) private {
        violated |= 1 << (uint8(property) - uint8(bytes1("a")));
        Violation storage v = _violations[property];
        if (v.count++ == 0) v.first = what;
    }

    function _actionName() private view returns (string memory) {
        bytes32 a = _action;
        uint256 length;
        while (length < 32 && a[length] != 0) ++length;
        bytes memory name = new bytes(length);
        for (uint256 i = 0; i < length; ++i) name[i] = a[i];
        return string(name);
    }

    function _trackBucket(BucketId b, address owner, uint256 cluster) private {
        _buckets.push(BucketGhost(owner, uint8(cluster), 0, false));
        require(_buckets.length - 1 == _id(b), "bucket ids are consecutive");
    }

    /// @dev Reads the bucket back after an action that may have changed it: its cap and whether
    /// it is open (for the billable count), and (f): billed = min(cap, max(reserved, measured)).
    function _refreshBucket(BucketId b) private {
        if (!_exists(b)) return;
        uint256 id = _id(b);
        BucketView memory v = ddc.getBucket(b);
        BucketGhost storage g = _buckets[id];
        bool wasBillable = !g.closed && g.cap != 0;
        bool billable = !v.closed && v.cap != 0;
        if (wasBillable && !billable) --billableBuckets[g.cluster];
        if (!wasBillable && billable) ++billableBuckets[g.cluster];
        (g.cap, g.closed) = (v.cap, v.closed);
        if (v.closed) return;
        uint256 wanted = v.reserved > v.measured ? v.reserved : v.measured;
        uint256 billed = wanted < v.cap ? wanted : v.cap;
        if (v.billed != billed || v.billed > v.cap) {
            _violate(
                "f",
                string.concat(
                    "bucket ",
                    vm.toString(id),
                    " billed ",
                    vm.toString(v.billed),
                    " with cap ",
                    vm.toString(v.cap),
                    ", reservation ",
                    vm.toString(v.reserved),
                    ", measured ",
                    vm.toString(v.measured)
                )
            );
        }
    }

    function _capUnits(address owner, uint256 cluster) private view returns (uint256 units) {
        for (uint256 b = 1; b < _buckets.length; ++b) {
            BucketGhost memory g = _buckets[b];
            if (g.owner == owner && g.cluster == cluster && !g.closed) units += g.cap;
        }
    }

    function _owner(uint256 seed) private view returns (address) {
        return owners[seed % OWNERS];
    }

    /// @dev One of the clusters; 1/16: one that does not exist.
    function _anyCluster(uint256 seed) private view returns (ClusterId) {
        return seed % 16 == 15 ? ClusterId.wrap(uint32(CLUSTERS + 1)) : clusters[seed % CLUSTERS];
    }

    function _isCluster(ClusterId cluster) private pure returns (bool) {
        return ClusterId.unwrap(cluster) >= 1 && ClusterId.unwrap(cluster) <= CLUSTERS;
    }

    function _clusterIndex(ClusterId cluster) private pure returns (uint256) {
        return ClusterId.unwrap(cluster) - 1;
    }

    /// @dev A bucket: 3/4 an open one (if any), else any; 1/32: one that does not exist.
    function _bucket(uint256 seed) private view returns (BucketId) {
        uint256 n = _buckets.length - 1;
        if (n == 0 || seed % 32 == 31) return BucketId.wrap(uint64(n + 1));
        uint256 start = (seed >> 5) % n;
        if (seed % 4 != 0) {
            for (uint256 i = 0; i < n; ++i) {
                uint256 id = 1 + ((start + i) % n);
                if (!_buckets[id].closed) return BucketId.wrap(uint64(id));
            }
        }
        return BucketId.wrap(uint64(1 + start));
    }

    /// @dev A bucket of the cluster (by index), open if it has one, else any bucket.
    function _bucketIn(uint256 c, uint256 seed) private view returns (BucketId) {
        uint256 n = _buckets.length - 1;
        uint256 start = seed % (n + 1);
        uint256 closed;
        for (uint256 i = 0; i < n; ++i) {
            uint256 id = 1 + ((start + i) % n);
            BucketGhost memory g = _buckets[id];
            if (g.cluster != c) continue;
            if (!g.closed) return BucketId.wrap(uint64(id));
            if (closed == 0) closed = id;
        }
        return closed != 0 ? BucketId.wrap(uint64(closed)) : _bucket(seed);
    }

    function _exists(BucketId b) private view returns (bool) {
        return _id(b) >= 1 && _id(b) < _buckets.length;
    }

    function _id(BucketId b) private pure returns (uint256) {
        return BucketId.unwrap(b);
    }

    /// @dev The bucket's owner; 1/8: another owner.
    function _bucketActor(BucketId b, uint256 seed) private view returns (address) {
        if (!_exists(b)) return _owner(seed);
        address owner = _buckets[_id(b)].owner;
        if (seed % 8 != 0) return owner;
        return owner == owners[0] ? owners[1] : owners[0];
    }

    /// @dev Any node; 1/32: one that does not exist.
    function _node(uint256 seed) private pure returns (NodeId) {
        if (seed % 32 == 31) return NodeId.wrap(uint32(NODES + 1));
        return NodeId.wrap(uint32(1 + ((seed >> 5) % NODES)));
    }

    /// @dev 3/4: a member of the cluster (by index), else any node.
    function _member(uint256 c, uint256 seed) private view returns (NodeId) {
        NodeId[] memory members = ddc.clusterNodes(clusters[c]);
        if (seed % 4 == 0 || members.length == 0) return _node(seed >> 2);
        return members[(seed >> 2) % members.length];
    }

    /// @dev 3/4: a member whose provider asks another rent than the one accepted (if any), else
    /// as {_member}.
    function _askingMember(uint256 c, uint256 seed) private view returns (NodeId) {
        if (seed % 4 != 0) {
            NodeId[] memory members = ddc.clusterNodes(clusters[c]);
            for (uint256 i = 0; i < members.length; ++i) {
                NodeId node = members[((seed >> 2) + i) % members.length];
                (, uint96 accepted, ) = ddc.clusterNodeInfo(clusters[c], node);
                if (ddc.getNode(node).rent != accepted) return node;
            }
        }
        return _member(c, seed >> 2);
    }

    /// @dev 3/4: a node that is not a member of the cluster (by index), if any; else any node.
    function _nonMember(uint256 c, uint256 seed) private view returns (NodeId) {
        if (seed % 4 != 0) {
            NodeId[] memory members = ddc.clusterNodes(clusters[c]);
            for (uint256 i = 0; i < NODES; ++i) {
                NodeId node = NodeId.wrap(uint32(1 + (((seed >> 2) + i) % NODES)));
                if (!_contains(members, node)) return node;
            }
        }
        return _node(seed >> 2);
    }

    function _managerOrOther(uint256 c, uint256 seed) private view returns (address) {
        return seed % 16 == 0 ? operators[c] : managers[c];
    }

    function _operatorOrOther(uint256 c, uint256 seed) private view returns (address) {
        uint256 pick = seed % 16;
        if (pick == 0) return stranger;
        return pick < 4 ? managers[c] : operators[c];
    }

    /// @dev One of the three eras before `current` (the first one if there are fewer).
    function _closedEra(uint32 current, uint256 seed) private pure returns (uint32) {
        uint256 back = 1 + (seed % 3);
        return current >= back ? uint32(current - back) : 0;
    }

    function _ineligible(uint256 mask) private pure returns (NodeId[] memory list) {
        list = new NodeId[](NODES + 1);
        uint256 count;
        for (uint256 i = 0; i <= NODES; ++i) if ((mask >> i) & 1 == 1) list[count++] = NodeId.wrap(uint32(i + 1));
        assembly ("memory-safe") {
            mstore(list, count)
        }
    }

    function _contains(NodeId[] memory list, NodeId node) private pure returns (bool) {
        for (uint256 i = 0; i < list.length; ++i) if (list[i] == node) return true;
        return false;
    }

    function _vNodesOf(uint256 c, NodeId node) private view returns (uint256) {
        if (!_contains(ddc.clusterNodes(clusters[c]), node)) return 0;
        (, , uint64[] memory tokens) = ddc.clusterNodeInfo(clusters[c], node);
        return tokens.length;
    }

    /// @dev Ring tokens never used before: the node's id, a generation, the index.
    function _freshTokens(uint256 node, uint256 count) private returns (uint64[] memory tokens) {
        uint64 generation = ++_tokenGeneration;
        tokens = new uint64[](count);
        for (uint256 i = 0; i < count; ++i) tokens[i] = (uint64(node) << 48) | (generation << 8) | uint64(i);
    }

    function _now() private view returns (uint256) {
        return vm.getBlockTimestamp();
    }
}
