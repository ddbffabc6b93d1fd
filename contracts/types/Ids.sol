// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @dev A storage node, numbered from 1 in creation order. A node's id is not its signing key.
type NodeId is uint32;
/// @dev A cluster, numbered from 1 in creation order.
type ClusterId is uint32;
/// @dev A bucket, numbered from 1 in creation order.
type BucketId is uint64;

using {eqNode as ==} for NodeId global;
using {eqCluster as ==} for ClusterId global;
using {eqBucket as ==} for BucketId global;

function eqNode(NodeId a, NodeId b) pure returns (bool) {
    return NodeId.unwrap(a) == NodeId.unwrap(b);
}

function eqCluster(ClusterId a, ClusterId b) pure returns (bool) {
    return ClusterId.unwrap(a) == ClusterId.unwrap(b);
}

function eqBucket(BucketId a, BucketId b) pure returns (bool) {
    return BucketId.unwrap(a) == BucketId.unwrap(b);
}
