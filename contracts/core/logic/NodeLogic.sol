// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ShortStrings, ShortString} from "@openzeppelin/contracts/utils/ShortStrings.sol";

import {NodeId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {DDCConstants, NodeParams, NodeView} from "../../interfaces/IDDCTypes.sol";
import {CoreStorage, Node, Lookup} from "../CoreStorage.sol";

/// @notice Providers' side of the registry: nodes, their keys, rents, capacity and trust.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL), so `msg.sender` is the caller
/// of the core and events come from the core's address.
library NodeLogic {
    using ShortStrings for string;
    using ShortStrings for ShortString;
    using Lookup for CoreStorage;

    function create(
        CoreStorage storage s,
        address signingKey,
        uint64 capacity,
        uint96 rent,
        NodeParams calldata params
    ) external returns (NodeId node) {
        node = NodeId.wrap(++s.nodeCount);
        Node storage n = s.nodes[node];
        n.provider = msg.sender;
        n.capacity = capacity;
        n.rent = rent;
        _setKey(s, n, node, signingKey);
        _setParams(n, params);
        emit IDDCCore.NodeCreated(node, msg.sender, signingKey, capacity, rent, params);
    }

    function changeParams(CoreStorage storage s, NodeId node, NodeParams calldata params) external {
        Node storage n = s.providedNode(node);
        delete n.urls;
        _setParams(n, params);
        emit IDDCCore.NodeParamsChanged(node, params);
    }

    function rotateKey(CoreStorage storage s, NodeId node, address newKey) external {
        Node storage n = s.providedNode(node);
        address oldKey = n.signingKey;
        s.nodeByKey[oldKey] = NodeId.wrap(0);
        _setKey(s, n, node, newKey);
        emit IDDCCore.NodeKeyRotated(node, oldKey, newKey);
    }

    function changeRent(CoreStorage storage s, NodeId node, uint96 rent) external {
        Node storage n = s.providedNode(node);
        uint96 oldRent = n.rent;
        n.rent = rent;
        emit IDDCCore.NodeRentChanged(node, oldRent, rent);
    }

    function changeCapacity(CoreStorage storage s, NodeId node, uint64 capacity) external {
        Node storage n = s.providedNode(node);
        require(capacity >= n.reserved, IDDCCore.NodeCapacityExceeded(node, capacity, n.reserved));
        uint64 oldCapacity = n.capacity;
        n.capacity = capacity;
        emit IDDCCore.NodeCapacityChanged(node, oldCapacity, capacity);
    }

    function remove(CoreStorage storage s, NodeId node) external {
        Node storage n = s.providedNode(node);
        require(n.clusterCount == 0, IDDCCore.NodeInClusters(node, n.clusterCount));
        require(n.claimable == 0, IDDCCore.NodeHasRevenue(node, n.claimable));
        s.nodeByKey[n.signingKey] = NodeId.wrap(0);
        delete n.urls;
        delete s.nodes[node];
        emit IDDCCore.NodeRemoved(node, msg.sender);
    }

    function trustManager(CoreStorage storage s, address manager, bool trusted) external {
        require(manager != address(0), IDDCCore.DDCZeroAddress("manager"));
        s.trust[msg.sender][manager] = trusted;
        if (trusted) emit IDDCCore.ManagerTrusted(msg.sender, manager);
        else emit IDDCCore.ManagerDistrusted(msg.sender, manager);
    }

    function get(CoreStorage storage s, NodeId node) external view returns (NodeView memory) {
        Node storage n = s.existingNode(node);
        return
            NodeView({
                id: node,
                provider: n.provider,
                signingKey: n.signingKey,
                capacity: n.capacity,
                reserved: n.reserved,
                rent: n.rent,
                clusterCount: n.clusterCount,
                engine: n.engine.toString(),
                version: n.version.toString(),
                urls: n.urls
            });
    }

    function _setKey(CoreStorage storage s, Node storage n, NodeId node, address key) private {
        require(key != address(0), IDDCCore.DDCZeroAddress("signingKey"));
        NodeId holder = s.nodeByKey[key];
        require(NodeId.unwrap(holder) == 0, IDDCCore.NodeKeyInUse(key, holder));
        s.nodeByKey[key] = node;
        n.signingKey = key;
    }

    function _checkShort(bytes32 field, string calldata value) private pure {
        uint256 length = bytes(value).length;
        require(length <= 31, IDDCCore.NodeStringTooLong(field, length, 31));
    }

    function _setParams(Node storage n, NodeParams calldata params) private {
        uint256 count = params.urls.length;
        require(count <= DDCConstants.MAX_URLS, IDDCCore.NodeTooManyUrls(count, DDCConstants.MAX_URLS));
        _checkShort("engine", params.engine);
        _checkShort("version", params.version);
        n.engine = params.engine.toShortString();
        n.version = params.version.toShortString();
        for (uint256 i = 0; i < count; ++i) {
            uint256 length = bytes(params.urls[i]).length;
            require(
                length <= DDCConstants.MAX_URL_LENGTH,
                IDDCCore.NodeUrlTooLong(i, length, DDCConstants.MAX_URL_LENGTH)
            );
            n.urls.push(params.urls[i]);
        }
    }
}
