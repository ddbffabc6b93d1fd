// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {NodeId, ClusterId} from "../../types/Ids.sol";
import {IDDCCore} from "../../interfaces/IDDCCore.sol";
import {DDCConstants, NodeStatus, ClusterParams, ClusterView, PriceCheckpoint} from "../../interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../../libraries/PriceIndex.sol";
import {CoreStorage, Node, Cluster, Membership, VNode, Lookup, NodeClusters} from "../CoreStorage.sol";
import {Accrual} from "../Accrual.sol";

/// @notice Managers' side of the registry: clusters, their ring of vNodes, reservations, prices,
/// eras, handover, operators and validators.
/// @dev Linked into {DDCCore}; runs in its context (DELEGATECALL).
library ClusterLogic {
    using Lookup for CoreStorage;
    using Lookup for Cluster;
    using PriceIndex for PriceState;
    using EnumerableSet for EnumerableSet.AddressSet;

    function create(
        CoreStorage storage s,
        address manager,
        ClusterParams calldata params,
        uint64 unitSize
    ) external returns (ClusterId cluster) {
        require(manager != address(0), IDDCCore.DDCZeroAddress("manager"));
        require(unitSize != 0, IDDCCore.ClusterUnitSizeZero());
        _validateParams(params);
        cluster = ClusterId.wrap(++s.clusterCount);
        Cluster storage c = s.clusters[cluster];
        c.manager = manager;
        c.unitSize = unitSize;
        c.anchorStart = uint40(block.timestamp);
        c.prevEraLength = params.eraLength;
        _storeParams(c, params);
        c.price.updatedAt = uint40(block.timestamp);
        c.checkpoints.push(PriceCheckpoint(uint40(block.timestamp), 0, 0));
        emit IDDCCore.ClusterCreated(cluster, manager, params, unitSize);
    }

    function changeParams(CoreStorage storage s, ClusterId cluster, ClusterParams calldata params) external {
        Cluster storage c = s.managedCluster(cluster);
        _validateParams(params);
        uint256 nodes = c.nodes.length;
        require(
            c.price.allocated == 0 || nodes >= params.replicationFactor,
            IDDCCore.ClusterBelowReplication(cluster, nodes, params.replicationFactor)
        );
        if (params.eraLength != c.eraLength && block.timestamp >= c.anchorStart) {
            // Re-anchor: the current era keeps its length; the next one starts with the new length.
            (uint32 current, , uint40 end) = era_(c);
            c.prevEraLength = c.eraLength;
            c.anchorEra = current + 1;
            c.anchorStart = end;
        }
        _storeParams(c, params);
        emit IDDCCore.ClusterParamsChanged(cluster, params);
    }

    function addNode(CoreStorage storage s, ClusterId cluster, NodeId node, uint64[] calldata tokens) external {
        Cluster storage c = s.managedCluster(cluster);
        Node storage n = s.existingNode(node);
        require(s.trust[n.provider][c.manager], IDDCCore.NodeManagerNotTrusted(node, n.provider, c.manager));
        Membership storage m = c.members[node];
        require(m.status == NodeStatus.None, IDDCCore.ClusterNodeAlreadyMember(cluster, node));
        uint256 k = tokens.length;
        require(
            k != 0 && k <= DDCConstants.MAX_VNODES_PER_NODE,
            IDDCCore.ClusterTokensInvalid(cluster, k, DDCConstants.MAX_VNODES_PER_NODE)
        );
        require(
            c.nodes.length < DDCConstants.MAX_NODES_PER_CLUSTER,
            IDDCCore.ClusterTooManyNodes(cluster, DDCConstants.MAX_NODES_PER_CLUSTER)
        );
        require(
            c.tokens.length + k <= DDCConstants.MAX_VNODES_PER_CLUSTER,
            IDDCCore.ClusterTooManyVNodes(cluster, DDCConstants.MAX_VNODES_PER_CLUSTER)
        );
        uint256 required = n.reserved + uint256(c.reservedPerVNode) * k;
        require(required <= n.capacity, IDDCCore.NodeCapacityExceeded(node, n.capacity, required));

        _placeTokens(c, m, cluster, node, tokens);
        uint96 rent = n.rent;
        m.status = NodeStatus.Active;
        m.rent = rent;
        m.position = uint16(c.nodes.length);
        c.nodes.push(node);
        // The node earns from distributions after it joined, none before.
        m.accCheckpoint = c.accPerWeight;
        m.vNodes = uint8(k);
        require(
            n.clusterCount < DDCConstants.MAX_CLUSTERS_PER_NODE,
            IDDCCore.NodeTooManyClusters(node, DDCConstants.MAX_CLUSTERS_PER_NODE)
        );
        m.nodeSlot = NodeClusters.push(n, cluster);
        n.reserved = uint64(required);
        emit IDDCCore.ClusterNodeAdded(cluster, node, tokens, rent);
        // The new vNodes are charged once the increase is in force (at once if nothing is allocated).
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        PriceState memory p = c.price;
        m.scheduleId = _setPrices(s, cluster, c, indexNow, p.price, p.target() + uint256(rent) * k);
    }

    function removeNode(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        Cluster storage c = s.managedCluster(cluster);
        Membership storage m = c.member(cluster, node);
        uint256 remaining = c.nodes.length - 1;
        require(
            c.price.allocated == 0 || remaining >= c.replicationFactor,
            IDDCCore.ClusterBelowReplication(cluster, remaining, c.replicationFactor)
        );
        uint64[] memory tokens = m.tokens;
        uint256 k = tokens.length;
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        // The node keeps what it earned so far, and earns nothing after.
        Node storage n = s.nodes[node];
        Accrual.syncTo(c, m, n, c.accPerWeight);
        _leaveNodeList(s, n, node, m.nodeSlot);
        PriceState memory p = c.price;
        // What the node is charged now stops now; what it would have been charged is withdrawn.
        uint256 inForceOut = Accrual.inForce(c, m) * k;
        uint256 rentOut = uint256(m.rent) * k;
        for (uint256 i = 0; i < k; ++i) {
            _removeToken(c, tokens[i]);
        }
        // Swap-and-pop the node out of the cluster's node list.
        uint16 position = m.position;
        NodeId last = c.nodes[c.nodes.length - 1];
        c.nodes[position] = last;
        c.members[last].position = position;
        c.nodes.pop();

        delete c.members[node];
        n.reserved -= uint64(uint256(c.reservedPerVNode) * k);
        emit IDDCCore.ClusterNodeRemoved(cluster, node, tokens);
        _setPrices(s, cluster, c, indexNow, p.price - inForceOut, p.target() - rentOut);
    }

    function setNodeStatus(CoreStorage storage s, ClusterId cluster, NodeId node, NodeStatus status) external {
        Cluster storage c = s.managedCluster(cluster);
        Membership storage m = c.member(cluster, node);
        require(status != NodeStatus.None, IDDCCore.ClusterNodeNotMember(cluster, node));
        m.status = status;
        emit IDDCCore.ClusterNodeStatusChanged(cluster, node, status);
    }

    function acceptNodeRent(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        Cluster storage c = s.managedCluster(cluster);
        Membership storage m = c.member(cluster, node);
        uint96 oldRent = m.rent;
        uint96 newRent = s.nodes[node].rent;
        require(newRent != oldRent, IDDCCore.ClusterRentUnchanged(cluster, node, oldRent));
        uint256 k = m.vNodes;
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        Accrual.syncTo(c, m, s.nodes[node], c.accPerWeight); // revenue so far at the weight so far
        PriceState memory p = c.price;
        uint256 inForce = Accrual.inForce(c, m);
        m.rent = newRent;
        emit IDDCCore.ClusterNodeRentAccepted(cluster, node, oldRent, newRent);
        uint256 newTarget = p.target() + uint256(newRent) * k - uint256(oldRent) * k;
        if (newRent <= inForce) {
            // A decrease from what the node is charged: in force at once.
            m.scheduleId = 0;
            _setPrices(s, cluster, c, indexNow, p.price - (inForce - newRent) * k, newTarget);
        } else {
            // An increase: the node stays at what it is charged until the increase is in force.
            m.inForceRent = uint96(inForce);
            m.scheduleId = _setPrices(s, cluster, c, indexNow, p.price, newTarget);
        }
    }

    function reserveResource(CoreStorage storage s, ClusterId cluster, uint64 unitsPerVNode) external {
        Cluster storage c = s.managedCluster(cluster);
        uint64 allocated = c.price.allocated;
        require(
            unitsPerVNode >= allocated,
            IDDCCore.ClusterReservationBelowAllocation(cluster, unitsPerVNode, allocated)
        );
        uint64 old = c.reservedPerVNode;
        uint256 length = c.nodes.length;
        for (uint256 i = 0; i < length; ++i) {
            NodeId id = c.nodes[i];
            Node storage n = s.nodes[id];
            uint256 k = c.members[id].tokens.length;
            uint256 reserved = n.reserved + uint256(unitsPerVNode) * k - uint256(old) * k;
            require(reserved <= n.capacity, IDDCCore.NodeCapacityExceeded(id, n.capacity, reserved));
            n.reserved = uint64(reserved);
        }
        c.reservedPerVNode = unitsPerVNode;
        emit IDDCCore.ClusterResourceReserved(cluster, old, unitsPerVNode);
    }

    function proposeManager(CoreStorage storage s, ClusterId cluster, address newManager) external {
        Cluster storage c = s.managedCluster(cluster);
        require(newManager != address(0), IDDCCore.DDCZeroAddress("manager"));
        c.pendingManager = newManager;
        emit IDDCCore.ClusterManagerProposed(cluster, c.manager, newManager);
    }

    function acceptManager(CoreStorage storage s, ClusterId cluster) external {
        Cluster storage c = s.existingCluster(cluster);
        require(
            msg.sender == c.pendingManager && msg.sender != address(0),
            IDDCCore.ClusterNotPendingManager(cluster, msg.sender)
        );
        address oldManager = c.manager;
        c.manager = msg.sender;
        delete c.pendingManager;
        // Operators are cleared: the new generation's set starts empty.
        ++c.operatorGeneration;
        emit IDDCCore.ClusterManagerChanged(cluster, oldManager, msg.sender);
    }

    function setOperator(CoreStorage storage s, ClusterId cluster, address operator, bool enabled) external {
        Cluster storage c = s.managedCluster(cluster);
        require(operator != address(0), IDDCCore.DDCZeroAddress("operator"));
        _setMember(
            cluster,
            c.operators[c.operatorGeneration],
            operator,
            enabled,
            "operators",
            DDCConstants.MAX_OPERATORS
        );
        emit IDDCCore.ClusterOperatorSet(cluster, operator, enabled);
    }

    function setValidator(CoreStorage storage s, ClusterId cluster, address validator, bool enabled) external {
        Cluster storage c = s.managedCluster(cluster);
        require(validator != address(0), IDDCCore.DDCZeroAddress("validator"));
        _setMember(cluster, c.validators, validator, enabled, "validators", DDCConstants.MAX_VALIDATORS);
        emit IDDCCore.ClusterValidatorSet(cluster, validator, enabled);
    }

    // ─────────────────────────────────────────── views ────────────────────────────────────────────

    function get(CoreStorage storage s, ClusterId cluster) external view returns (ClusterView memory) {
        Cluster storage c = s.existingCluster(cluster);
        PriceState memory p = c.price;
        bool pending = p.pendingAt > block.timestamp;
        return
            ClusterView({
                id: cluster,
                manager: c.manager,
                pendingManager: c.pendingManager,
                params: ClusterParams({
                    replicationFactor: c.replicationFactor,
                    eraLength: c.eraLength,
                    qosThreshold: c.qosThreshold,
                    managementFeeBps: c.managementFeeBps,
                    priceNotice: c.priceNotice
                }),
                unitSize: c.unitSize,
                reservedPerVNode: c.reservedPerVNode,
                allocated: p.allocated,
                nodeCount: uint16(c.nodes.length),
                vNodeCount: uint16(c.tokens.length),
                price: uint96(p.priceAt(block.timestamp)),
                pendingPrice: pending ? p.pendingPrice : 0,
                pendingPriceAt: pending ? p.pendingAt : 0,
                index: p.indexAt(block.timestamp),
                revenuePool: c.revenuePool
            });
    }

    function ring(
        CoreStorage storage s,
        ClusterId cluster
    ) external view returns (uint64[] memory tokens, NodeId[] memory nodes) {
        Cluster storage c = s.existingCluster(cluster);
        tokens = c.tokens;
        nodes = new NodeId[](tokens.length);
        for (uint256 i = 0; i < tokens.length; ++i) {
            nodes[i] = c.ring[tokens[i]].node;
        }
    }

    function era(CoreStorage storage s, ClusterId cluster) external view returns (uint32, uint40, uint40) {
        return era_(s.existingCluster(cluster));
    }

    function era_(Cluster storage c) internal view returns (uint32 number, uint40 start, uint40 end) {
        uint256 anchorStart = c.anchorStart;
        if (block.timestamp < anchorStart) {
            return (c.anchorEra - 1, uint40(anchorStart - c.prevEraLength), uint40(anchorStart));
        }
        uint256 length = c.eraLength;
        uint256 k = (block.timestamp - anchorStart) / length;
        number = uint32(c.anchorEra + k);
        start = uint40(anchorStart + k * length);
        end = uint40(start + length);
    }

    // ───────────────────────────────────────── internals ──────────────────────────────────────────

    /// @dev Sets the price in force now and the price the cluster heads to (see
    /// {PriceIndex.setPrices}); increases wait the notice (the unlock delay if longer). Returns the
    /// pending schedule's id (0 if everything is in force).
    function _setPrices(
        CoreStorage storage s,
        ClusterId cluster,
        Cluster storage c,
        uint256 indexNow,
        uint256 inForce,
        uint256 newTarget
    ) private returns (uint24 schedule) {
        uint96 before = c.price.price;
        (uint96 wasPending, uint40 wasPendingAt) = (c.price.pendingPrice, c.price.pendingAt);
        require(
            newTarget <= DDCConstants.MAX_CLUSTER_PRICE,
            IDDCCore.ClusterPriceTooHigh(cluster, newTarget, DDCConstants.MAX_CLUSTER_PRICE)
        );
        uint256 notice = Math.max(Math.max(c.priceNotice, s.params.unlockDelay), DDCConstants.MIN_PRICE_NOTICE);
        uint40 at;
        uint24 appliedBefore = c.price.appliedId;
        (at, schedule) = c.price.setPrices(c.checkpoints, inForce, newTarget, notice);
        Accrual.recordApplied(c, appliedBefore);
        uint96 current = c.price.price;
        if (current != before) emit IDDCCore.ClusterPriceChanged(cluster, before, current, indexNow);
        if (at != 0) {
            if (at != wasPendingAt || newTarget != wasPending) {
                emit IDDCCore.ClusterPriceScheduled(cluster, current, uint96(newTarget), at);
            }
        } else if (wasPendingAt != 0 && current != wasPending) {
            emit IDDCCore.ClusterPriceScheduleCancelled(cluster, wasPending, wasPendingAt);
        }
    }

    /// @dev Puts the member's vNodes on the ring at `tokens` (each free).
    function _placeTokens(
        Cluster storage c,
        Membership storage m,
        ClusterId cluster,
        NodeId node,
        uint64[] calldata tokens
    ) private {
        for (uint256 i = 0; i < tokens.length; ++i) {
            uint64 t = tokens[i];
            VNode storage v = c.ring[t];
            require(NodeId.unwrap(v.node) == 0, IDDCCore.ClusterTokenTaken(cluster, t, v.node));
            v.node = node;
            v.position = uint32(c.tokens.length);
            c.tokens.push(t);
            m.tokens.push(t);
        }
    }

    /// @dev Takes `cluster` out of the node's list of clusters (swap-and-pop).
    function _leaveNodeList(CoreStorage storage s, Node storage n, NodeId node, uint8 slot) private {
        (ClusterId moved, bool didMove) = NodeClusters.remove(n, slot);
        if (didMove) s.clusters[moved].members[node].nodeSlot = slot;
    }

    function _removeToken(Cluster storage c, uint64 t) private {
        uint32 position = c.ring[t].position;
        uint64 last = c.tokens[c.tokens.length - 1];
        c.tokens[position] = last;
        c.ring[last].position = position;
        c.tokens.pop();
        delete c.ring[t];
    }

    function _setMember(
        ClusterId cluster,
        EnumerableSet.AddressSet storage set,
        address account,
        bool enabled,
        bytes32 name,
        uint256 max
    ) private {
        if (enabled) {
            set.add(account);
            require(set.length() <= max, IDDCCore.ClusterTooManyMembers(cluster, name, max));
        } else {
            set.remove(account);
        }
    }

    function _validateParams(ClusterParams calldata params) private pure {
        Lookup.checkRange("replicationFactor", params.replicationFactor, 1, DDCConstants.MAX_REPLICATION_FACTOR);
        Lookup.checkRange("eraLength", params.eraLength, DDCConstants.MIN_ERA_LENGTH, DDCConstants.MAX_ERA_LENGTH);
        Lookup.checkRange("qosThreshold", params.qosThreshold, 0, DDCConstants.BPS);
        Lookup.checkRange("managementFeeBps", params.managementFeeBps, 0, DDCConstants.MAX_MANAGEMENT_FEE_BPS);
        Lookup.checkRange("priceNotice", params.priceNotice, 0, DDCConstants.MAX_PRICE_NOTICE);
    }

    function _storeParams(Cluster storage c, ClusterParams calldata params) private {
        c.replicationFactor = params.replicationFactor;
        c.eraLength = params.eraLength;
        c.qosThreshold = params.qosThreshold;
        c.managementFeeBps = params.managementFeeBps;
        c.priceNotice = params.priceNotice;
    }
}
