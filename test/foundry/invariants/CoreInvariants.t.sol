// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ClusterId, NodeId} from "../../../contracts/types/Ids.sol";
import {ClusterView, GlobalParams} from "../../../contracts/interfaces/IDDCTypes.sol";
import {Console} from "../base/Console.sol";
import {CoreErrors} from "./CoreErrors.sol";
import {CoreHandler} from "./CoreHandler.sol";
import {CoreWorld} from "./CoreWorld.sol";

/// @notice The core's invariants over random sequences of its parties' actions (see
/// {CoreHandler}): the handler is the only target, and the properties below must hold throughout.
///
/// (a) Conservation: the core's token balance is the sum of ledger balances, revenue pools, fee
///     balances, reserves and the nodes' unclaimed revenue, plus rounding dust within the bound
///     of {IDDCCore}'s NatSpec (one unit per membership sync, two per distribution; here also one
///     per membership for the rounding of the revenue view, and one for the carried remainder).
/// (b) No value from nothing: deposits − withdrawals − claims − fee and reserve withdrawals is the
///     core's balance.
/// (c) An owner never pays a price that was not announced with the notice.
/// (d) A cluster with an open billable bucket has at least `replicationFactor` nodes.
/// (e) A distribution never excludes more than `nodes − replicationFactor` nodes, with the largest
///     factor in force since the previous distribution.
/// (f) A bucket's billed units are `min(cap, max(reserved, measured))`, so never above its cap,
///     and its cap is never set below its measured units capped by the cap before.
/// (g) A withdrawal leaves a ledger at least the runway of Σ cap of its open buckets, and an unlock
///     is accepted exactly when it does not pass what is free now.
/// (h) The core refuses only with its own errors (no panic, no bare revert).
/// (i) The core's own counts agree with the buckets: per cluster the open billable buckets, the
///     exclusion factor and the bucket index, per ledger Σ cap of its open buckets.
///
/// (c)–(i) are checked by the handler around each action (they are about transitions, or cheap
/// there) and asserted here after every call; (b) is checked here after every call; (a), which
/// reads every ledger and node, every `DDC_CONSERVATION_EVERY` calls (default 25) and at the end of
/// every run. `DDC_INVARIANTS` (default "abcdefghi") selects the properties asserted, to explore one
/// alone.
///
/// Two worlds run as two campaigns (forge runs them on two cores): {CoreInvariantsTest} with the
/// deployed parameters (a week's unlock delay and grace period), {CoreInvariantsShortDelaysTest}
/// with none and an hour (notices of a day, ledgers suspended and evicted within hours).
abstract contract CoreInvariants is CoreWorld {
    /// @dev Bit `p - "a"`: property `p` is asserted.
    uint256 private selectedMask;
    uint256 private conservationEvery;

    function setUp() public {
        _deployWorld(_globalParams());
        bytes memory selected = bytes(vm.envOr("DDC_INVARIANTS", string("abcdefghi")));
        for (uint256 i = 0; i < selected.length; ++i) selectedMask |= 1 << (uint8(selected[i]) - uint8(bytes1("a")));
        conservationEvery = vm.envOr("DDC_CONSERVATION_EVERY", uint256(25));

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](23);
        selectors[0] = CoreHandler.deposit.selector;
        selectors[1] = CoreHandler.bucketCreate.selector;
        selectors[2] = CoreHandler.alloc.selector;
        selectors[3] = CoreHandler.allocWithMaxPrice.selector;
        selectors[4] = CoreHandler.setCap.selector;
        selectors[5] = CoreHandler.close.selector;
        selectors[6] = CoreHandler.evict.selector;
        selectors[7] = CoreHandler.settle.selector;
        selectors[8] = CoreHandler.unlock.selector;
        selectors[9] = CoreHandler.withdraw.selector;
        selectors[10] = CoreHandler.reportUsage.selector;
        selectors[11] = CoreHandler.distribute.selector;
        selectors[12] = CoreHandler.claim.selector;
        selectors[13] = CoreHandler.withdrawFees.selector;
        selectors[14] = CoreHandler.withdrawReserve.selector;
        selectors[15] = CoreHandler.changeRent.selector;
        selectors[16] = CoreHandler.acceptRent.selector;
        selectors[17] = CoreHandler.addNode.selector;
        selectors[18] = CoreHandler.removeNode.selector;
        selectors[19] = CoreHandler.replaceNode.selector;
        selectors[20] = CoreHandler.changeParams.selector;
        selectors[21] = CoreHandler.warp.selector;
        selectors[22] = CoreHandler.setCapWithMaxPrice.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev The core's global parameters in this world.
    function _globalParams() internal view virtual returns (GlobalParams memory);

    // ───────────────────────────────────────── invariants ─────────────────────────────────────────

    function invariant_core() public view {
        if (_selected("a") && handler.calls() % conservationEvery == 0) _conservation();
        if (_selected("b")) _noValueFromNothing();
        uint256 violated = handler.violated() & selectedMask;
        if (violated == 0) return;
        _recorded("c", "(c) a price increase in force was not announced with the notice");
        _recorded("d", "(d) a cluster with an open billable bucket is below its replication factor");
        _recorded("e", "(e) a distribution excluded too many nodes");
        _recorded("f", "(f) a bucket's billed units or cap");
        _recorded("g", "(g) a withdrawal left less than the runway of the caps, or an unlock passed what is free");
        _recorded("h", "(h) unexpected revert");
        _recorded("i", "(i) the core's counts disagree with its buckets");
    }

    /// @notice At the end of every run, the check sampled during it.
    function afterInvariant() public view {
        if (_selected("a") && handler.calls() % conservationEvery != 0) _conservation();
    }

    // ─────────────────────────────────────────── coverage ─────────────────────────────────────────

    /// @notice A long pseudo-random walk through the handler: every action both succeeds and is
    /// refused (by one of the core's errors) at some point, so the campaigns exercise both sides;
    /// the properties hold all along. Prints the table of outcomes (`forge test -vv`).
    function test_everyActionSucceedsAndIsRefused() public {
        for (uint256 i = 0; i < COVERAGE_STEPS; ++i) {
            _step(uint256(keccak256(abi.encode("coverage", i))));
            if (i % 25 == 24) {
                invariant_core();
                _conservation();
            }
        }
        bytes32[] memory names = handler.actionNames();
        for (uint256 i = 0; i < names.length; ++i) {
            string memory name = _name(names[i]);
            uint256 ok = handler.succeeded(names[i]);
            uint256 refused = handler.refused(names[i]);
            Console.log(string.concat(name, ": succeeded ", vm.toString(ok), ", refused ", vm.toString(refused)));
            bytes4[] memory selectors = handler.refusals(names[i]);
            for (uint256 j = 0; j < selectors.length; ++j) {
                string memory error = CoreErrors.name(selectors[j]);
                Console.log(
                    string.concat("    ", bytes(error).length == 0 ? "(not the core's)" : error),
                    handler.refusedWith(names[i], selectors[j])
                );
            }
            vm.assertGt(ok, 0, string.concat(name, " never succeeded"));
            if (names[i] != "warp") vm.assertGt(refused, 0, string.concat(name, " was never refused"));
        }
    }

    uint256 private constant COVERAGE_STEPS = 3_000;

    /// @dev One action chosen and parameterised by `r`, as the fuzzer would.
    function _step(uint256 r) private {
        uint256 a = r % 23;
        uint256 x = uint256(keccak256(abi.encode(r, 1)));
        uint256 y = uint256(keccak256(abi.encode(r, 2)));
        uint256 z = uint256(keccak256(abi.encode(r, 3)));
        uint256 w = uint256(keccak256(abi.encode(r, 4)));
        if (a == 0) handler.deposit(x, y, z % 200e6, w % 2 == 0);
        else if (a == 1) handler.bucketCreate(x, y);
        else if (a == 2) handler.alloc(x, y % 50, z);
        else if (a == 3) handler.allocWithMaxPrice(x, y % 50, z);
        else if (a == 4) handler.setCap(x, y % 70, z);
        else if (a == 5) handler.close(x, y);
        else if (a == 6) handler.evict(x, y);
        else if (a == 7) handler.settle(x, y, z);
        else if (a == 8) handler.unlock(x, y, z % 130);
        else if (a == 9) handler.withdraw(x, y, z % 120);
        else if (a == 10) handler.reportUsage(x, y, z, w, r >> 128);
        else if (a == 11) handler.distribute(x, y, z, w);
        else if (a == 12) handler.claim(x, y, z);
        else if (a == 13) handler.withdrawFees(x, y % 110);
        else if (a == 14) handler.withdrawReserve(x, y % 110, z);
        else if (a == 15) handler.changeRent(x, y % 5e6, z);
        else if (a == 16) handler.acceptRent(x, y, z);
        else if (a == 17) handler.addNode(x, y, z % 4, w);
        else if (a == 18) handler.removeNode(x, y, z);
        else if (a == 19) handler.replaceNode(x, y, z);
        else if (a == 20) handler.changeParams(x, y % 6, z % 25 days, w % 3000, r >> 128);
        else if (a == 21) handler.warp(x, y);
        else handler.setCapWithMaxPrice(x, y % 70, z);
    }

    function _name(bytes32 name) private pure returns (string memory) {
        uint256 length;
        while (length < 32 && name[length] != 0) ++length;
        bytes memory out = new bytes(length);
        for (uint256 i = 0; i < length; ++i) out[i] = name[i];
        return string(out);
    }

    /// (a)
    function _conservation() private view {
        uint256 owed;
        uint256 memberships;
        for (uint256 c = 0; c < handler.CLUSTERS(); ++c) {
            ClusterId cluster = handler.clusters(c);
            for (uint256 o = 0; o < handler.OWNERS(); ++o) owed += ddc.getLedger(handler.owners(o), cluster).balance;
            ClusterView memory v = ddc.getCluster(cluster);
            (uint256 reserve, , ) = ddc.clusterRevenue(cluster);
            owed += v.revenuePool + reserve + ddc.accountBalance(handler.managers(c));
            memberships += v.nodeCount;
        }
        owed += ddc.accountBalance(feeDestination);
        for (uint256 n = 1; n <= handler.NODES(); ++n) owed += ddc.nodeRevenue(NodeId.wrap(uint32(n)));
        uint256 balance = token.balanceOf(address(ddc));
        vm.assertLe(owed, balance, "(a) conservation: the core owes more than it holds");
        uint256 dustBound = handler.ghostSyncs() + 2 * handler.ghostDistributions() + memberships + 1;
        vm.assertLe(balance - owed, dustBound, "(a) conservation: the core holds more than its dust bound");
    }

    /// (b)
    function _noValueFromNothing() private view {
        vm.assertEq(
            handler.ghostHeld(),
            token.balanceOf(address(ddc)),
            "(b) deposits - withdrawals - claims - fee and reserve withdrawals is the core's balance"
        );
    }

    function _recorded(bytes1 property, string memory what) private view {
        if (!_selected(property)) return;
        (uint256 count, string memory first) = handler.violation(property);
        vm.assertEq(count, 0, string.concat(what, ": ", first));
    }

    function _selected(bytes1 property) private view returns (bool) {
        return selectedMask & (1 << (uint8(property) - uint8(bytes1("a")))) != 0;
    }
}

/// @notice The deployed parameters: a week's unlock delay and grace period.
contract CoreInvariantsTest is CoreInvariants {
    function _globalParams() internal view override returns (GlobalParams memory) {
        return _deployedParams();
    }
}

/// @notice No unlock delay (a price increase waits the cluster's notice, at least a day) and the
/// shortest grace period: withdrawals right after an unlock, suspensions and evictions within hours.
contract CoreInvariantsShortDelaysTest is CoreInvariants {
    function _globalParams() internal view override returns (GlobalParams memory) {
        return
            GlobalParams({networkFeeBps: 1000, feeDestination: feeDestination, unlockDelay: 0, gracePeriod: 1 hours});
    }
}
