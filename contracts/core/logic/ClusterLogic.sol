// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
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

    /// @dev A replacement member's schedule while the replacement runs: set to the pending
    /// schedule's id at the end (no real schedule reaches this id: ids grow by one per increase).
    uint24 private constant JOINING = type(uint24).max;

    /// @dev What each vNode handed over in a replacement needs to know.
    struct Handover {
        ClusterId cluster;
        NodeId node;
        uint256 outRent;
        uint256 acc;
        uint64 reservedPerVNode;
    }

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
        c.exclusionFactor = params.replicationFactor;
        _storeParams(c, params);
        c.price.updatedAt = uint40(block.timestamp);
        c.checkpoints.push(PriceCheckpoint(uint40(block.timestamp), 0, 0));
        emit IDDCCore.ClusterCreated(cluster, manager, params, unitSize);
    }

    function changeParams(CoreStorage storage s, ClusterId cluster, ClusterParams calldata params) external {
        Cluster storage c = s.managedCluster(cluster);
        _validateParams(params);
        uint8 factor = params.replicationFactor;
        if (c.billableBuckets != 0) {
            // Owners rely on the replicas they pay for: the factor cannot be lowered under them, and
            // a higher one needs the nodes to hold it.
            uint8 current = c.replicationFactor;
            require(factor >= current, IDDCCore.ClusterReplicationInUse(cluster, current, factor));
            uint256 nodes = c.nodes.length;
            require(nodes >= factor, IDDCCore.ClusterBelowReplication(cluster, nodes, factor));
        }
        // A distribution excludes at most `nodes − factor` nodes, with the largest factor in force
        // since the previous distribution: lowering the factor for a moment excludes no more.
        if (factor > c.exclusionFactor) c.exclusionFactor = factor;
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
        uint96 rent = _enroll(c, m, n, cluster, node, c.accPerWeight);
        require(
            c.tokens.length + k <= DDCConstants.MAX_VNODES_PER_CLUSTER,
            IDDCCore.ClusterTooManyVNodes(cluster, DDCConstants.MAX_VNODES_PER_CLUSTER)
        );
        uint256 required = n.reserved + uint256(c.reservedPerVNode) * k;
        require(required <= n.capacity, IDDCCore.NodeCapacityExceeded(node, n.capacity, required));

        _placeTokens(c, m, cluster, node, tokens);
        m.vNodes = uint8(k);
        n.reserved = uint64(required);
        emit IDDCCore.ClusterNodeAdded(cluster, node, tokens, rent);
        // The new vNodes are charged once the increase is in force (at once if no open bucket can be billed).
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        PriceState memory p = c.price;
        m.scheduleId = _setPrices(s, cluster, c, indexNow, p.price, p.target() + uint256(rent) * k);
    }

    function removeNode(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        Cluster storage c = s.managedCluster(cluster);
        _remove(s, c, cluster, node);
    }

    /// @dev See {IDDCCore.clusterReplaceNode}.
    function replaceNode(
        CoreStorage storage s,
        ClusterId cluster,
        NodeId node,
        NodeId[] calldata replacements,
        bytes32 evidenceHash
    ) external {
        Cluster storage c = s.managedCluster(cluster);
        Membership storage m = c.member(cluster, node);
        uint64[] memory tokens = m.tokens;
        uint256 k = tokens.length;
        require(replacements.length == k, IDDCCore.DDCLengthMismatch(replacements.length, k));
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        PriceState memory p = c.price;
        // The leaving vNodes stop being charged; the replacements' vNodes are charged at once at most
        // what the leaving ones were (a new member's higher rent waits the notice).
        uint256 outRent = Accrual.inForce(c, m);
        uint256 inForceNew = p.price - outRent * k;
        uint256 targetNew = p.target() - uint256(m.rent) * k;
        uint256 nodesBefore = c.nodes.length;
        _dropMember(s, c, node, m, k);
        Handover memory h = Handover(cluster, node, outRent, c.accPerWeight, c.reservedPerVNode);
        for (uint256 i = 0; i < k; ++i) {
            (uint256 inForceRate, uint256 rate) = _handToken(s, c, h, replacements[i], tokens[i]);
            inForceNew += inForceRate;
            targetNew += rate;
        }
        bool billable = c.billableBuckets != 0;
        require(
            !billable || inForceNew <= p.price,
            IDDCCore.ClusterReplacementRaisesPrice(cluster, p.price, inForceNew)
        );
        // A replacement that keeps the number of nodes is always allowed (it is how a cluster
        // below its factor is repaired); one that hands vNodes to fewer nodes keeps the replicas.
        uint256 nodes = c.nodes.length;
        require(
            !billable || nodes >= nodesBefore || nodes >= c.replicationFactor,
            IDDCCore.ClusterBelowReplication(cluster, nodes, c.replicationFactor)
        );
        emit IDDCCore.ClusterNodeReplaced(cluster, node, tokens, replacements, evidenceHash);
        uint24 schedule = _setPrices(s, cluster, c, indexNow, inForceNew, targetNew);
        // New members charged less than their rent until the notice has passed: that schedule.
        for (uint256 i = 0; i < k; ++i) {
            Membership storage r = c.members[replacements[i]];
            if (r.scheduleId == JOINING) r.scheduleId = schedule;
        }
    }

    /// @dev See {IDDCCore.nodeRequestLeave}.
    function requestLeave(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        s.providedNode(node);
        Cluster storage c = s.existingCluster(cluster);
        Membership storage m = c.member(cluster, node);
        require(m.leaveAt == 0, IDDCCore.ClusterNodeAlreadyLeaving(cluster, node, m.leaveAt));
        uint40 at = uint40(block.timestamp + _notice(s, c));
        m.leaveAt = at;
        emit IDDCCore.ClusterNodeLeaveRequested(cluster, node, at);
    }

    /// @dev See {IDDCCore.nodeCancelLeave}.
    function cancelLeave(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        s.providedNode(node);
        Cluster storage c = s.existingCluster(cluster);
        Membership storage m = c.member(cluster, node);
        require(m.leaveAt != 0, IDDCCore.ClusterNodeNotLeaving(cluster, node));
        m.leaveAt = 0;
        emit IDDCCore.ClusterNodeLeaveCancelled(cluster, node);
    }

    /// @dev See {IDDCCore.nodeLeaveCluster}.
    function leave(CoreStorage storage s, ClusterId cluster, NodeId node) external {
        s.providedNode(node);
        Cluster storage c = s.existingCluster(cluster);
        uint40 at = c.member(cluster, node).leaveAt;
        require(at != 0, IDDCCore.ClusterNodeNotLeaving(cluster, node));
        require(block.timestamp >= at, IDDCCore.ClusterNodeLeaveNotDue(cluster, node, at));
        _remove(s, c, cluster, node);
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
        // Operators and validators are cleared: the new generation's sets start empty. The new
        // manager names the validators it answers for (the eras it reports are measured by them).
        ++c.generation;
        emit IDDCCore.ClusterManagerChanged(cluster, oldManager, msg.sender);
    }

    function setOperator(CoreStorage storage s, ClusterId cluster, address operator, bool enabled) external {
        Cluster storage c = s.managedCluster(cluster);
        require(operator != address(0), IDDCCore.DDCZeroAddress("operator"));
        _setMember(cluster, c.operators[c.generation], operator, enabled, "operators", DDCConstants.MAX_OPERATORS);
        emit IDDCCore.ClusterOperatorSet(cluster, operator, enabled);
    }

    function setValidator(CoreStorage storage s, ClusterId cluster, address validator, bool enabled) external {
        Cluster storage c = s.managedCluster(cluster);
        require(validator != address(0), IDDCCore.DDCZeroAddress("validator"));
        _setMember(cluster, c.validators[c.generation], validator, enabled, "validators", DDCConstants.MAX_VALIDATORS);
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
                revenuePool: c.revenuePool,
                billableBuckets: c.billableBuckets,
                bucketCount: uint64(c.buckets.length),
                exclusionFactor: c.exclusionFactor
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
        uint256 notice = _notice(s, c);
        uint40 at;
        uint24 appliedBefore = c.price.appliedId;
        (at, schedule) = c.price.setPrices(c.checkpoints, inForce, newTarget, notice, c.billableBuckets == 0);
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

    /// @dev Takes the node and its vNodes out of the cluster (the manager's removal, or the
    /// provider's after its notice). The remaining nodes must still hold every replica.
    function _remove(CoreStorage storage s, Cluster storage c, ClusterId cluster, NodeId node) private {
        Membership storage m = c.member(cluster, node);
        uint256 remaining = c.nodes.length - 1;
        require(
            c.billableBuckets == 0 || remaining >= c.replicationFactor,
            IDDCCore.ClusterBelowReplication(cluster, remaining, c.replicationFactor)
        );
        uint64[] memory tokens = m.tokens;
        uint256 k = tokens.length;
        uint256 indexNow = Accrual.accruePrice(cluster, c);
        PriceState memory p = c.price;
        // What the node is charged now stops now; what it would have been charged is withdrawn.
        uint256 inForceOut = Accrual.inForce(c, m) * k;
        uint256 rentOut = uint256(m.rent) * k;
        _dropMember(s, c, node, m, k);
        for (uint256 i = 0; i < k; ++i) {
            _removeToken(c, tokens[i]);
        }
        emit IDDCCore.ClusterNodeRemoved(cluster, node, tokens);
        _setPrices(s, cluster, c, indexNow, p.price - inForceOut, p.target() - rentOut);
    }

    /// @dev Ends a membership (its vNodes stay on the ring for the caller to remove or hand over):
    /// the node keeps what it earned so far and earns nothing after; its reservation is released.
    function _dropMember(
        CoreStorage storage s,
        Cluster storage c,
        NodeId node,
        Membership storage m,
        uint256 k
    ) private {
        Node storage n = s.nodes[node];
        Accrual.syncTo(c, m, n, c.accPerWeight);
        _leaveNodeList(s, n, node, m.nodeSlot);
        // Swap-and-pop the node out of the cluster's node list.
        uint16 position = m.position;
        NodeId last = c.nodes[c.nodes.length - 1];
        c.nodes[position] = last;
        c.members[last].position = position;
        c.nodes.pop();
        n.reserved -= uint64(uint256(c.reservedPerVNode) * k);
        delete c.members[node];
    }

    /// @dev Gives the vNode at `token` (whose node left) to `to`, which joins the cluster if it is not
    /// a member. Returns the rent per unit `to` is charged for it now, and its rent.
    function _handToken(
        CoreStorage storage s,
        Cluster storage c,
        Handover memory h,
        NodeId to,
        uint64 token
    ) private returns (uint256 inForceRate, uint256 rate) {
        require(NodeId.unwrap(to) != NodeId.unwrap(h.node), IDDCCore.ClusterReplacementInvalid(h.cluster, h.node, to));
        Node storage n = s.existingNode(to);
        require(s.trust[n.provider][c.manager], IDDCCore.NodeManagerNotTrusted(to, n.provider, c.manager));
        Membership storage m = c.members[to];
        if (m.status == NodeStatus.None) {
            _join(c, m, n, h, to);
        } else {
            // Only an active member that is not leaving takes over vNodes, and only at the rent it
            // accepted: one still charged less (an increase announced) would serve them underpaid.
            // Its revenue so far is at its weight so far (a second sync at one point adds nothing).
            require(
                m.status == NodeStatus.Active &&
                    m.leaveAt == 0 &&
                    (m.scheduleId == JOINING || Accrual.inForce(c, m) == m.rent),
                IDDCCore.ClusterReplacementInvalid(h.cluster, h.node, to)
            );
            Accrual.syncTo(c, m, n, h.acc);
        }
        uint256 count = m.vNodes + 1;
        require(
            count <= DDCConstants.MAX_VNODES_PER_NODE,
            IDDCCore.ClusterTokensInvalid(h.cluster, count, DDCConstants.MAX_VNODES_PER_NODE)
        );
        m.vNodes = uint8(count);
        m.tokens.push(token);
        c.ring[token].node = to;
        uint256 reserved = n.reserved + uint256(h.reservedPerVNode);
        require(reserved <= n.capacity, IDDCCore.NodeCapacityExceeded(to, n.capacity, reserved));
        n.reserved = uint64(reserved);
        inForceRate = Accrual.inForce(c, m); // a joining member's inForceRent (JOINING > appliedId)
        rate = m.rent;
    }

    /// @dev `to` joins the cluster (with no vNode yet) as a replacement: it earns from now on, and
    /// is charged at most the leaving node's rent until the notice has passed.
    function _join(Cluster storage c, Membership storage m, Node storage n, Handover memory h, NodeId to) private {
        uint96 rent = _enroll(c, m, n, h.cluster, to, h.acc);
        if (rent > h.outRent) {
            m.inForceRent = uint96(h.outRent);
            m.scheduleId = JOINING;
        }
    }

    /// @dev Makes `node` an active member (with no vNode yet) at its asked rent, earning from
    /// revenue per weight `acc` on (nothing from earlier distributions), within the node and
    /// cluster maxima. Returns the rent.
    function _enroll(
        Cluster storage c,
        Membership storage m,
        Node storage n,
        ClusterId cluster,
        NodeId node,
        uint256 acc
    ) private returns (uint96 rent) {
        require(
            c.nodes.length < DDCConstants.MAX_NODES_PER_CLUSTER,
            IDDCCore.ClusterTooManyNodes(cluster, DDCConstants.MAX_NODES_PER_CLUSTER)
        );
        require(
            n.clusterCount < DDCConstants.MAX_CLUSTERS_PER_NODE,
            IDDCCore.NodeTooManyClusters(node, DDCConstants.MAX_CLUSTERS_PER_NODE)
        );
        rent = n.rent;
        m.status = NodeStatus.Active;
        m.rent = rent;
        m.position = uint16(c.nodes.length);
        c.nodes.push(node);
        m.accCheckpoint = acc;
        m.nodeSlot = NodeClusters.push(n, cluster);
    }

    /// @dev How long a price increase, or a provider's request to leave, waits.
    function _notice(CoreStorage storage s, Cluster storage c) private view returns (uint256) {
        return Math.max(Math.max(c.priceNotice, s.params.unlockDelay), DDCConstants.MIN_PRICE_NOTICE);
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
