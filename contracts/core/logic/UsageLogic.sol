// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClusterId, BucketId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {DDCConstants} from "../../interfaces/IDDCTypes.sol";
import {Ledger} from "../../libraries/LedgerMath.sol";
import {CoreStorage, Cluster, Bucket, Lookup} from "../CoreStorage.sol";
import {Settlement} from "../Settlement.sol";
import {Billing} from "../Billing.sol";
import {ClusterLogic} from "./ClusterLogic.sol";

/// @notice Usage reports: the manager's (or an operator's) measured units per bucket and era.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL).
library UsageLogic {
    using Lookup for CoreStorage;

    function report(
        CoreStorage storage s,
        ClusterId cluster,
        uint32 era,
        BucketId[] calldata buckets,
        uint64[] calldata measuredUnits,
        bytes32 evidenceHash
    ) external {
        Cluster storage c = s.operatedCluster(cluster);
        uint256 n = buckets.length;
        require(n == measuredUnits.length, IDDCCore.DDCLengthMismatch(n, measuredUnits.length));
        require(n <= DDCConstants.MAX_USAGE_BATCH, IDDCCore.DDCBatchTooLarge(n, DDCConstants.MAX_USAGE_BATCH));
        (uint32 current, , ) = ClusterLogic.era_(c);
        require(era < current, IDDCCore.ClusterEraNotClosed(cluster, era, current));
        BucketId[] memory recorded = new BucketId[](n);
        uint64[] memory billed = new uint64[](n);
        uint256 count;
        for (uint256 i = 0; i < n; ++i) {
            (bool done, uint64 units) = _record(s, c, cluster, era, buckets[i], measuredUnits[i]);
            if (done) {
                recorded[count] = buckets[i];
                billed[count] = units;
                ++count;
            }
        }
        assembly ("memory-safe") {
            // Trim both arrays to the buckets recorded (count <= n).
            mstore(recorded, count)
            mstore(billed, count)
        }
        emit IDDCCore.UsageReported(cluster, era, evidenceHash, recorded, billed);
    }

    /// @dev Records one bucket's measured units for `era`, or skips it (closed, or already
    /// reported for this era or a later one). A change of billed units settles the ledger first.
    function _record(
        CoreStorage storage s,
        Cluster storage c,
        ClusterId cluster,
        uint32 era,
        BucketId id,
        uint64 measured
    ) private returns (bool recorded, uint64 billed) {
        Bucket storage b = s.existingBucket(id);
        require(b.cluster == cluster, IDDCCore.BucketNotInCluster(id, cluster));
        uint32 reportedEras = b.reportedEras;
        if (b.closed || reportedEras > era) {
            emit IDDCCore.UsageReportSkipped(cluster, era, id, b.closed, reportedEras);
            return (false, b.billed);
        }
        b.reportedEras = era + 1;
        b.measured = measured;
        billed = Billing.billedOf(b.reserved, measured, b.cap);
        if (billed != b.billed) {
            address owner = b.owner;
            Ledger storage l = Lookup.ledger(s, owner, cluster);
            Settlement.settleOne(owner, cluster, c, l);
            Billing.bill(c, l, b, billed);
        }
        return (true, billed);
    }
}
