// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClusterId, BucketId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {BucketView, BucketStatus, BucketRole, LedgerView} from "../../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../../libraries/PriceIndex.sol";
import {Ledger} from "../../libraries/LedgerMath.sol";
import {CoreStorage, Cluster, Bucket, Lookup} from "../CoreStorage.sol";
import {Settlement} from "../Settlement.sol";
import {Billing} from "../Billing.sol";

/// @notice Owners' buckets: reservation, cap, roles, closing; and the live views of ledgers.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL). The core applies the pause and
/// the reentrancy guard before calling in.
library BucketLogic {
    using Lookup for CoreStorage;
    using PriceIndex for PriceState;

    function allocWithMaxPrice(CoreStorage storage s, BucketId bucket, uint64 units, uint256 maxPrice) external {
        _alloc(s, bucket, _atMostPrice(s, bucket, maxPrice), units);
    }

    function alloc(CoreStorage storage s, BucketId bucket, uint64 units) external {
        _alloc(s, bucket, s.ownedOpenBucket(bucket), units);
    }

    function _alloc(CoreStorage storage s, BucketId bucket, Bucket storage b, uint64 units) private {
        _rebill(s, bucket, b, units, b.cap < units ? units : b.cap);
    }

    function setCapWithMaxPrice(CoreStorage storage s, BucketId bucket, uint64 cap, uint256 maxPrice) external {
        _setCap(s, bucket, _atMostPrice(s, bucket, maxPrice), cap);
    }

    function setCap(CoreStorage storage s, BucketId bucket, uint64 cap) external {
        _setCap(s, bucket, s.ownedOpenBucket(bucket), cap);
    }

    function _setCap(CoreStorage storage s, BucketId bucket, Bucket storage b, uint64 cap) private {
        uint64 reserved = b.reserved;
        require(cap >= reserved, IDDCCore.BucketCapBelowReservation(bucket, cap, reserved));
        // What the last usage report measured stays billable until a report measures less: the cap
        // cannot be lowered under it (capped by the cap it was measured under).
        uint64 measured = b.measured;
        uint64 floor = measured < b.cap ? measured : b.cap;
        require(cap >= floor, IDDCCore.BucketCapBelowMeasured(bucket, cap, floor));
        _rebill(s, bucket, b, reserved, cap);
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

    /// @dev The caller's open bucket, if the price its cluster is heading to is at most `maxPrice`.
    function _atMostPrice(
        CoreStorage storage s,
        BucketId bucket,
        uint256 maxPrice
    ) private view returns (Bucket storage b) {
        b = s.ownedOpenBucket(bucket);
        uint256 price = s.clusters[b.cluster].price.target();
        require(price <= maxPrice, IDDCCore.LedgerPriceAboveLimit(b.cluster, price, maxPrice));
    }

    /// @dev Settles the bucket's ledger, then takes the bucket out of the ledger and the cluster
    /// (see {Billing.remove}). Returns the units freed.
    function _close(CoreStorage storage s, Bucket storage b) private returns (uint64 billed) {
        ClusterId cluster = b.cluster;
        Cluster storage c = s.clusters[cluster];
        Ledger storage l = Lookup.ledger(s, b.owner, cluster);
        Settlement.settleOne(b.owner, cluster, c, l);
        billed = Billing.remove(c, l, b);
        b.closed = true;
    }

    /// @dev Sets a bucket's reservation and cap and bills it by the one rule ({Billing.billedOf}),
    /// settling its ledger first. Anything that grows (billed units or cap) needs the cluster to
    /// hold every replica and the ledger to keep the runway of its caps; billed growth needs room
    /// in the cluster's reservation.
    function _rebill(CoreStorage storage s, BucketId bucket, Bucket storage b, uint64 reserved, uint64 cap) private {
        ClusterId cluster = b.cluster;
        Cluster storage c = s.clusters[cluster];
        Ledger storage l = Lookup.ledger(s, msg.sender, cluster);
        Settlement.settleOne(msg.sender, cluster, c, l);

        b.reserved = reserved;
        uint64 oldCap = Billing.setCap(c, l, b, cap);
        uint64 billed = Billing.billedOf(reserved, b.measured, cap);
        uint64 oldBilled = Billing.bill(c, l, b, billed);
        if (billed > oldBilled || cap > oldCap) {
            Billing.requireReplicas(c, cluster);
            if (billed > oldBilled) {
                uint256 allocated = c.price.allocated;
                require(
                    allocated <= c.reservedPerVNode,
                    IDDCCore.ClusterCapacityExceeded(cluster, c.reservedPerVNode, allocated)
                );
            }
            Billing.requireRunway(c, l, msg.sender, cluster, s.params.gracePeriod);
        }
        emit IDDCCore.BucketAllocated(bucket, reserved, cap, billed);
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
        v.capUnits = l.capUnits;
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
