// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClusterId, BucketId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {BucketView, BucketStatus, BucketRole, LedgerView} from "../../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../../libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../../libraries/LedgerMath.sol";
import {CoreStorage, Cluster, Bucket, Lookup} from "../CoreStorage.sol";
import {Settlement} from "../Settlement.sol";

/// @notice Owners' buckets: reservation, cap, roles, closing; and the live views of ledgers.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL). The core applies the pause and
/// the reentrancy guard before calling in.
library BucketLogic {
    using Lookup for CoreStorage;
    using PriceIndex for PriceState;

    function allocWithMaxPrice(CoreStorage storage s, BucketId bucket, uint64 units, uint256 maxPrice) external {
        Bucket storage b = s.ownedOpenBucket(bucket);
        uint256 price = s.clusters[b.cluster].price.target();
        require(price <= maxPrice, IDDCCore.LedgerPriceAboveLimit(b.cluster, price, maxPrice));
        _alloc(s, bucket, b, units);
    }

    function alloc(CoreStorage storage s, BucketId bucket, uint64 units) external {
        _alloc(s, bucket, s.ownedOpenBucket(bucket), units);
    }

    function _alloc(CoreStorage storage s, BucketId bucket, Bucket storage b, uint64 units) private {
        uint64 cap = b.cap < units ? units : b.cap;
        b.reserved = units;
        b.cap = cap;
        _rebill(s, bucket, b, cap);
    }

    function setCap(CoreStorage storage s, BucketId bucket, uint64 cap) external {
        Bucket storage b = s.ownedOpenBucket(bucket);
        require(cap >= b.reserved, IDDCCore.BucketCapBelowReservation(bucket, cap, b.reserved));
        b.cap = cap;
        _rebill(s, bucket, b, cap);
    }

    function grant(CoreStorage storage s, BucketId bucket, address account, BucketRole role) external {
        s.ownedOpenBucket(bucket);
        require(account != address(0), IDDCCore.DDCZeroAddress("account"));
        s.bucketRoles[bucket][account] |= 1 << uint8(role);
        emit IDDCCore.BucketRoleGranted(bucket, account, role);
    }

    function revoke(CoreStorage storage s, BucketId bucket, address account, BucketRole role) external {
        s.ownedBucket(bucket);
        s.bucketRoles[bucket][account] &= ~(uint256(1) << uint8(role));
        emit IDDCCore.BucketRoleRevoked(bucket, account, role);
    }

    function close(CoreStorage storage s, BucketId bucket) external {
        uint64 freed = _close(s, s.ownedOpenBucket(bucket));
        emit IDDCCore.BucketClosed(bucket, freed);
    }

    function evict(CoreStorage storage s, BucketId bucket) external {
        Bucket storage b = s.existingBucket(bucket);
        BucketStatus current = Settlement.bucketStatus(s, b);
        require(current == BucketStatus.Suspended, IDDCCore.BucketNotSuspended(bucket, current));
        uint64 freed = _close(s, b);
        emit IDDCCore.BucketClosed(bucket, freed);
        emit IDDCCore.BucketEvicted(bucket, msg.sender, freed);
    }

    /// @dev Settles the bucket's ledger, then takes the bucket's billed units out of the ledger and
    /// the cluster. Returns the units freed.
    function _close(CoreStorage storage s, Bucket storage b) private returns (uint64 billed) {
        ClusterId cluster = b.cluster;
        Cluster storage c = s.clusters[cluster];
        Ledger storage l = Lookup.ledger(s, b.owner, cluster);
        Settlement.settleOne(b.owner, cluster, c, l);
        billed = b.billed;
        l.units -= billed;
        c.price.allocated -= billed;
        b.closed = true;
    }

    /// @dev Recomputes a bucket's billed units after its reservation or cap changed, settling its
    /// ledger first. Growth needs the ledger to keep a runway and the cluster to have room.
    function _rebill(CoreStorage storage s, BucketId bucket, Bucket storage b, uint64 cap) private {
        ClusterId cluster = b.cluster;
        Cluster storage c = s.clusters[cluster];
        Ledger storage l = Lookup.ledger(s, msg.sender, cluster);
        Settlement.settleOne(msg.sender, cluster, c, l);

        uint64 reserved = b.reserved;
        uint64 billed = reserved > b.measured ? reserved : b.measured;
        if (billed > cap) billed = cap;
        uint64 oldBilled = b.billed;
        b.billed = billed;
        if (billed > oldBilled) {
            _grow(s, cluster, c, l, billed - oldBilled);
        } else {
            uint64 shrink = oldBilled - billed;
            c.price.allocated -= shrink;
            l.units -= shrink;
        }
        emit IDDCCore.BucketAllocated(bucket, reserved, cap, billed);
    }

    /// @dev Adds `grow` billed units to a settled ledger: the cluster needs the replicas and the
    /// room, and the ledger a runway for its new total.
    function _grow(CoreStorage storage s, ClusterId cluster, Cluster storage c, Ledger storage l, uint64 grow) private {
        uint256 nodes = c.nodes.length;
        require(nodes >= c.replicationFactor, IDDCCore.ClusterBelowReplication(cluster, nodes, c.replicationFactor));
        uint256 allocated = uint256(c.price.allocated) + grow;
        require(
            allocated <= c.reservedPerVNode,
            IDDCCore.ClusterCapacityExceeded(cluster, c.reservedPerVNode, allocated)
        );
        c.price.allocated = uint64(allocated);
        uint256 units = uint256(l.units) + grow;
        l.units = uint64(units);
        (uint256 balance, , ) = LedgerMath.unpack(l.hot);
        uint256 available = l.debt == 0 ? balance : 0;
        uint256 runway = LedgerMath.runway(units, c.price.target(), s.params.gracePeriod);
        require(available >= runway, IDDCCore.LedgerInsufficientRunway(msg.sender, cluster, available, runway));
    }

    function get(CoreStorage storage s, BucketId bucket) external view returns (BucketView memory) {
        Bucket storage b = s.existingBucket(bucket);
        return
            BucketView({
                id: bucket,
                owner: b.owner,
                cluster: b.cluster,
                closed: b.closed,
                reserved: b.reserved,
                measured: b.measured,
                billed: b.billed,
                cap: b.cap,
                status: Settlement.bucketStatus(s, b)
            });
    }

    function status(CoreStorage storage s, BucketId bucket) external view returns (BucketStatus) {
        return Settlement.bucketStatus(s, s.existingBucket(bucket));
    }

    function ledger(
        CoreStorage storage s,
        address owner,
        ClusterId cluster
    ) external view returns (LedgerView memory v) {
        Cluster storage c = s.existingCluster(cluster);
        Ledger storage l = Lookup.ledger(s, owner, cluster);
        Settlement.Live memory live = Settlement.live(c, l, s.params.gracePeriod);
        v.balance = live.balance;
        v.debt = live.debt;
        v.units = l.units;
        v.owed = live.accrued;
        v.runway = live.runway;
        v.free = live.free;
        v.unlockAmount = l.unlockAmount;
        v.unlockAt = l.unlockAt;
        v.coveredUntil = live.coveredUntil;
        v.arrearsSince = live.arrearsSince;
    }

    function coveredUntil(CoreStorage storage s, address owner, ClusterId cluster) external view returns (uint40) {
        Cluster storage c = s.existingCluster(cluster);
        return Settlement.live(c, Lookup.ledger(s, owner, cluster), s.params.gracePeriod).coveredUntil;
    }

    function freeBalance(CoreStorage storage s, address owner, ClusterId cluster) external view returns (uint256) {
        Cluster storage c = s.existingCluster(cluster);
        return Settlement.live(c, Lookup.ledger(s, owner, cluster), s.params.gracePeriod).free;
    }
}
