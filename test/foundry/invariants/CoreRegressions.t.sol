// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {NodeId, ClusterId, BucketId} from "../../../contracts/types/Ids.sol";
import {IDDCCore} from "../../../contracts/interfaces/IDDCCore.sol";
import {ClusterParams, ClusterView} from "../../../contracts/interfaces/IDDCTypes.sol";
import {CoreWorld} from "./CoreWorld.sol";

/// @notice The shortest sequences the invariant campaigns found against the core before billable
/// buckets gated prices and replicas (one per property), replayed in the same world: the core now
/// refuses each decisive step, or makes the increase wait its notice.
///
/// The world ({CoreHandler}): cluster 1 (notice 10 days, price 8.5 tokens per unit per month) holds
/// nodes 1–4; bucket 1 is owner 0's with 10 units reserved; bucket 2 is owner 1's pay-per-use bucket
/// (reservation 0, cap 20) over a deposit of 50 tokens.
contract CoreRegressionsTest is CoreWorld {
    uint256 private constant PRICE = 8.5e6;
    BucketId private constant RESERVED = BucketId.wrap(1);
    BucketId private constant PAY_PER_USE = BucketId.wrap(2);

    ClusterId private cluster;
    address private manager;
    address private owner0;
    address private owner1;

    function setUp() public {
        _deployWorld(_deployedParams());
        cluster = handler.clusters(0);
        manager = handler.managers(0);
        owner0 = handler.owners(0);
        owner1 = handler.owners(1);
        // Only the pay-per-use bucket stays open in cluster 1: nothing is allocated, something is
        // billable.
        vm.prank(owner0);
        ddc.bucketClose(RESERVED);
        vm.assertEq(ddc.getCluster(cluster).allocated, 0, "nothing allocated");
        vm.assertEq(ddc.getCluster(cluster).billableBuckets, 1, "one billable bucket");
    }

    /// (c) Found: close(bucket 1), addNode(cluster 1): the price rose at once, unannounced.
    function test_anIncreaseWaitsItsNoticeWhileOnlyAPayPerUseBucketIsOpen() public {
        uint64[] memory tokens = new uint64[](1);
        tokens[0] = (uint64(7) << 48) | 999;
        vm.prank(manager);
        ddc.clusterAddNode(cluster, NodeId.wrap(7), tokens); // rent 2.5 tokens per vNode
        ClusterView memory v = ddc.getCluster(cluster);
        vm.assertEq(v.price, PRICE, "the price in force is unchanged");
        vm.assertEq(v.pendingPrice, PRICE + 2.5e6, "the increase is announced");
        vm.assertEq(v.pendingPriceAt, START + 10 days, "for the cluster's notice from now");
    }

    /// (d) Found: close(bucket 1), changeParams(cluster 1, factor 5) with 4 nodes.
    function test_theFactorCannotOutgrowTheNodesUnderAPayPerUseBucket() public {
        vm.expectRevert(abi.encodeWithSelector(IDDCCore.ClusterBelowReplication.selector, cluster, 4, 5));
        vm.prank(manager);
        ddc.clusterChangeParams(cluster, _params(5));
    }

    /// (e), first half: the factor cannot be lowered under a billable bucket.
    function test_theFactorCannotBeLoweredUnderAPayPerUseBucket() public {
        vm.expectRevert(abi.encodeWithSelector(IDDCCore.ClusterReplicationInUse.selector, cluster, 2, 1));
        vm.prank(manager);
        ddc.clusterChangeParams(cluster, _params(1));
    }

    /// (e) Found: changeParams(factor 3), removeNode (3 nodes left), changeParams(factor lowered),
    /// distribute excluding 1 of 3 nodes. With no billable bucket the factor may drop, but the
    /// distribution is still capped by the factor in force since the last one.
    function test_aLoweredFactorStillCapsTheNextDistribution() public {
        vm.prank(owner1);
        ddc.bucketClose(PAY_PER_USE);
        vm.startPrank(manager);
        ddc.clusterChangeParams(cluster, _params(3));
        ddc.clusterRemoveNode(cluster, NodeId.wrap(4));
        vm.warp(START + 2 hours);
        ddc.clusterChangeParams(cluster, _params(1));
        (uint32 era, , ) = ddc.clusterEra(cluster);
        NodeId[] memory ineligible = new NodeId[](1);
        ineligible[0] = NodeId.wrap(1);
        vm.expectRevert(abi.encodeWithSelector(IDDCCore.ClusterTooManyExclusions.selector, cluster, 1, 0));
        ddc.clusterDistributeRevenues(cluster, era - 1, ineligible, bytes32(0));
        vm.stopPrank();
    }

    /// (f) Found: setCap(bucket 2, 31), a report measuring 33 (billed 31), setCap(bucket 2, 22).
    function test_aCapCannotGoBelowWhatWasMeasured() public {
        vm.startPrank(owner1);
        ddc.accountDeposit(cluster, 100e6);
        ddc.bucketSetCap(PAY_PER_USE, 31);
        vm.stopPrank();
        vm.warp(START + 2 hours);
        (uint32 era, , ) = ddc.clusterEra(cluster);
        BucketId[] memory buckets = new BucketId[](1);
        buckets[0] = PAY_PER_USE;
        uint64[] memory measured = new uint64[](1);
        measured[0] = 33;
        vm.prank(handler.operators(0));
        ddc.clusterReportUsage(cluster, era - 1, buckets, measured, bytes32(0));
        vm.assertEq(ddc.getBucket(PAY_PER_USE).billed, 31, "billed up to its cap");
        vm.expectRevert(abi.encodeWithSelector(IDDCCore.BucketCapBelowMeasured.selector, PAY_PER_USE, 22, 31));
        vm.prank(owner1);
        ddc.bucketSetCap(PAY_PER_USE, 22);
    }

    /// (g) Found: unlock(owner 1), a week, withdraw 10.68 of its 50 tokens: the runway of its
    /// 20 cap units (39.67 tokens) was not kept, the bucket being billed for nothing yet. The
    /// unlock now refuses more than is free, and the withdrawal checks again (a cap raised during
    /// the wait raises the runway).
    function test_aWithdrawalKeepsTheRunwayOfTheCaps() public {
        // 20 units × 8.5 tokens × 7 / 30 days, rounded up.
        uint256 free = 50e6 - 39_666_667;
        vm.expectRevert(abi.encodeWithSelector(IDDCCore.LedgerInsufficientFree.selector, owner1, cluster, free, 50e6));
        vm.prank(owner1);
        ddc.accountUnlock(cluster, 50e6);
        vm.expectRevert(
            abi.encodeWithSelector(IDDCCore.LedgerInsufficientFree.selector, owner1, cluster, free, 10_680_000)
        );
        vm.prank(owner1);
        ddc.accountUnlock(cluster, 10_680_000);
        vm.prank(owner1);
        ddc.accountUnlock(cluster, free);
        vm.prank(owner1);
        ddc.bucketSetCap(PAY_PER_USE, 21); // runway 21 × 8.5 × 7 / 30 = 41.65 tokens
        vm.warp(START + 7 days);
        vm.expectRevert(
            abi.encodeWithSelector(IDDCCore.LedgerInsufficientFree.selector, owner1, cluster, 50e6 - 41_650_000, free)
        );
        vm.prank(owner1);
        ddc.accountWithdraw(cluster, free, owner1);
        vm.prank(owner1);
        ddc.bucketSetCap(PAY_PER_USE, 20);
        vm.prank(owner1);
        ddc.accountWithdraw(cluster, free, owner1);
        vm.assertEq(ddc.getLedger(owner1, cluster).balance, 39_666_667, "the runway stays");
    }

    /// (g) Found in the world without delays: a fresh bucket's cap set with no deposit behind it,
    /// then a withdrawal. The cap itself now needs the runway.
    function test_aCapNeedsItsRunway() public {
        address owner3 = handler.owners(3);
        vm.startPrank(owner3);
        BucketId b = ddc.bucketCreate(cluster, "");
        vm.expectRevert(
            abi.encodeWithSelector(IDDCCore.LedgerInsufficientRunway.selector, owner3, cluster, 0, 69_416_667)
        );
        ddc.bucketSetCap(b, 35);
        vm.stopPrank();
    }

    function _params(uint8 factor) private pure returns (ClusterParams memory) {
        return
            ClusterParams({
                replicationFactor: factor,
                eraLength: 1 hours,
                qosThreshold: 9000,
                managementFeeBps: 1000,
                priceNotice: 10 days
            });
    }
}
