// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDDCCore} from "../../../contracts/interfaces/IDDCCore.sol";

/// @notice The names of the core's custom errors, by selector: a refusal the core names is
/// expected; anything else (a panic, a bare revert, a library's error) is a defect.
library CoreErrors {
    /// @dev The error's name, or "" if the selector is none of the core's errors.
    function name(bytes4 selector) internal pure returns (string memory) {
        if (selector == IDDCCore.DDCZeroAmount.selector) return "DDCZeroAmount";
        if (selector == IDDCCore.DDCZeroAddress.selector) return "DDCZeroAddress";
        if (selector == IDDCCore.DDCBatchTooLarge.selector) return "DDCBatchTooLarge";
        if (selector == IDDCCore.DDCLengthMismatch.selector) return "DDCLengthMismatch";
        if (selector == IDDCCore.DDCParameterOutOfRange.selector) return "DDCParameterOutOfRange";
        if (selector == IDDCCore.NodeNotFound.selector) return "NodeNotFound";
        if (selector == IDDCCore.NodeNotProvider.selector) return "NodeNotProvider";
        if (selector == IDDCCore.NodeKeyInUse.selector) return "NodeKeyInUse";
        if (selector == IDDCCore.NodeInClusters.selector) return "NodeInClusters";
        if (selector == IDDCCore.NodeTooManyClusters.selector) return "NodeTooManyClusters";
        if (selector == IDDCCore.NodeHasRevenue.selector) return "NodeHasRevenue";
        if (selector == IDDCCore.NodeCapacityExceeded.selector) return "NodeCapacityExceeded";
        if (selector == IDDCCore.NodeTooManyUrls.selector) return "NodeTooManyUrls";
        if (selector == IDDCCore.NodeStringTooLong.selector) return "NodeStringTooLong";
        if (selector == IDDCCore.NodeUrlTooLong.selector) return "NodeUrlTooLong";
        if (selector == IDDCCore.NodeManagerNotTrusted.selector) return "NodeManagerNotTrusted";
        if (selector == IDDCCore.ClusterNotFound.selector) return "ClusterNotFound";
        if (selector == IDDCCore.ClusterNotManager.selector) return "ClusterNotManager";
        if (selector == IDDCCore.ClusterNotPendingManager.selector) return "ClusterNotPendingManager";
        if (selector == IDDCCore.ClusterNotOperator.selector) return "ClusterNotOperator";
        if (selector == IDDCCore.ClusterEraAlreadyDistributed.selector) return "ClusterEraAlreadyDistributed";
        if (selector == IDDCCore.ClusterTooManyExclusions.selector) return "ClusterTooManyExclusions";
        if (selector == IDDCCore.ClusterIneligibleNotIncreasing.selector) return "ClusterIneligibleNotIncreasing";
        if (selector == IDDCCore.ClusterReserveInsufficient.selector) return "ClusterReserveInsufficient";
        if (selector == IDDCCore.ClusterEraNotClosed.selector) return "ClusterEraNotClosed";
        if (selector == IDDCCore.ClusterNodeAlreadyMember.selector) return "ClusterNodeAlreadyMember";
        if (selector == IDDCCore.ClusterNodeNotMember.selector) return "ClusterNodeNotMember";
        if (selector == IDDCCore.ClusterTokenTaken.selector) return "ClusterTokenTaken";
        if (selector == IDDCCore.ClusterTokensInvalid.selector) return "ClusterTokensInvalid";
        if (selector == IDDCCore.ClusterTooManyNodes.selector) return "ClusterTooManyNodes";
        if (selector == IDDCCore.ClusterTooManyVNodes.selector) return "ClusterTooManyVNodes";
        if (selector == IDDCCore.ClusterReplacementInvalid.selector) return "ClusterReplacementInvalid";
        if (selector == IDDCCore.ClusterReplacementRaisesPrice.selector) return "ClusterReplacementRaisesPrice";
        if (selector == IDDCCore.ClusterNodeAlreadyLeaving.selector) return "ClusterNodeAlreadyLeaving";
        if (selector == IDDCCore.ClusterNodeNotLeaving.selector) return "ClusterNodeNotLeaving";
        if (selector == IDDCCore.ClusterNodeLeaveNotDue.selector) return "ClusterNodeLeaveNotDue";
        if (selector == IDDCCore.ClusterBelowReplication.selector) return "ClusterBelowReplication";
        if (selector == IDDCCore.ClusterReplicationInUse.selector) return "ClusterReplicationInUse";
        if (selector == IDDCCore.ClusterReservationBelowAllocation.selector) return "ClusterReservationBelowAllocation";
        if (selector == IDDCCore.ClusterCapacityExceeded.selector) return "ClusterCapacityExceeded";
        if (selector == IDDCCore.ClusterUnitSizeZero.selector) return "ClusterUnitSizeZero";
        if (selector == IDDCCore.ClusterRentUnchanged.selector) return "ClusterRentUnchanged";
        if (selector == IDDCCore.ClusterTooManyMembers.selector) return "ClusterTooManyMembers";
        if (selector == IDDCCore.ClusterPriceTooHigh.selector) return "ClusterPriceTooHigh";
        if (selector == IDDCCore.BucketNotFound.selector) return "BucketNotFound";
        if (selector == IDDCCore.BucketNotOwner.selector) return "BucketNotOwner";
        if (selector == IDDCCore.BucketIsClosed.selector) return "BucketIsClosed";
        if (selector == IDDCCore.BucketNotInCluster.selector) return "BucketNotInCluster";
        if (selector == IDDCCore.BucketCapBelowReservation.selector) return "BucketCapBelowReservation";
        if (selector == IDDCCore.BucketCapBelowMeasured.selector) return "BucketCapBelowMeasured";
        if (selector == IDDCCore.BucketNotSuspended.selector) return "BucketNotSuspended";
        if (selector == IDDCCore.LedgerInsufficientRunway.selector) return "LedgerInsufficientRunway";
        if (selector == IDDCCore.LedgerInsufficientFree.selector) return "LedgerInsufficientFree";
        if (selector == IDDCCore.LedgerLocked.selector) return "LedgerLocked";
        if (selector == IDDCCore.LedgerPriceAboveLimit.selector) return "LedgerPriceAboveLimit";
        if (selector == IDDCCore.LedgerUnlockExceeded.selector) return "LedgerUnlockExceeded";
        if (selector == IDDCCore.DDCInsufficientBalance.selector) return "DDCInsufficientBalance";
        if (selector == IDDCCore.LedgerNothingReceived.selector) return "LedgerNothingReceived";
        return "";
    }

    function isCore(bytes4 selector) internal pure returns (bool) {
        return bytes(name(selector)).length != 0;
    }
}
