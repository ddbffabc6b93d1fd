// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ForgeTest} from "../base/ForgeTest.sol";
import {PriceState} from "../../../contracts/libraries/PriceIndex.sol";
import {PriceIndexHarness} from "./PriceIndexHarness.sol";

/// @notice {PriceIndex} over random price histories, against a model of the price in force over
/// time: a list of segments (from `start`, `price` per second), the past frozen, the future as the
/// state announces it (the current price, then the pending price from its time).
contract PriceIndexTest is ForgeTest {
    uint256 private constant START = 1_700_000_000;
    uint256 private constant MAX_STEPS = 10;
    uint256 private constant MAX_PRICE = 1 << 80;

    struct Model {
        uint256[] starts;
        uint256[] prices;
        uint256 length;
    }

    PriceIndexHarness private h;

    function setUp() public {
        vm.warp(START);
        h = new PriceIndexHarness();
    }

    // ─────────────────────────────────────────── model ────────────────────────────────────────────

    function _newModel() private pure returns (Model memory m) {
        m.starts = new uint256[](2 * MAX_STEPS + 2);
        m.prices = new uint256[](2 * MAX_STEPS + 2);
        m.starts[0] = START;
        m.length = 1;
    }

    /// @dev Replaces the model's future (from `now_`) by what the state says: its price from now,
    /// then its pending price from its time.
    function _observe(Model memory m, uint256 now_) private view {
        PriceState memory p = h.state();
        while (m.length > 0 && m.starts[m.length - 1] >= now_) --m.length;
        _push(m, now_, p.price);
        if (p.pendingAt != 0) _push(m, p.pendingAt, p.pendingPrice);
    }

    function _push(Model memory m, uint256 start, uint256 price) private pure {
        m.starts[m.length] = start;
        m.prices[m.length] = price;
        ++m.length;
    }

    /// @dev `∫ price dt` from the start to `t`.
    function _index(Model memory m, uint256 t) private pure returns (uint256 index) {
        for (uint256 i = 0; i < m.length && m.starts[i] < t; ++i) {
            uint256 end = i + 1 < m.length && m.starts[i + 1] < t ? m.starts[i + 1] : t;
            index += m.prices[i] * (end - m.starts[i]);
        }
    }

    /// @dev The price in force during the second `[t, t + 1)`.
    function _priceAt(Model memory m, uint256 t) private pure returns (uint256 price) {
        for (uint256 i = 0; i < m.length && m.starts[i] <= t; ++i) price = m.prices[i];
    }

    /// @dev Drives `steps` random operations (time passing, accruals, price changes with random
    /// notice and billability), checking after each that the index written and the index seen agree
    /// with the model, and that a price change never brings an increase forward.
    function _drive(uint256 seed, uint256 steps) private returns (Model memory m, uint256 now_) {
        m = _newModel();
        now_ = START;
        _observe(m, now_);
        for (uint256 i = 0; i < steps; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            now_ += bound(r & 0xffffffff, 0, 20 days);
            vm.warp(now_);
            if ((r >> 32) % 3 == 0) {
                (uint256 indexNow, , ) = h.accrue();
                vm.assertEq(indexNow, _index(m, now_), "accrue: the index written is the model's");
            } else {
                _changePrices(r >> 40, now_);
            }
            _observe(m, now_);
            vm.assertEq(h.indexAt(now_), _index(m, now_), "indexAt(now) is the model's index");
        }
    }

    /// @dev One price change: the price in force may drop (never rise: callers subtract only what
    /// is in force), the target moves anywhere.
    function _changePrices(uint256 r, uint256 now_) private {
        PriceState memory before = h.state();
        uint256 inForceBefore = h.priceAt(now_);
        uint256 inForce = bound(r & 0xffffffffffff, 0, inForceBefore);
        if ((r >> 48) % 4 == 0) inForce = inForceBefore;
        uint256 newTarget = (r >> 56) % 5 == 0 ? inForce : bound((r >> 64) & 0xffffffff, 0, 5e6);
        uint256 notice = bound((r >> 96) & 0xffffffff, 0, 30 days);
        bool atOnce = (r >> 128) % 3 == 0;
        (uint40 scheduledAt, ) = h.setPrices(inForce, newTarget, notice, atOnce);
        PriceState memory p = h.state();
        if (atOnce || newTarget <= inForce) {
            vm.assertEq(p.price, newTarget, "setPrices: a change that may apply now is in force");
            vm.assertEq(p.pendingAt, 0, "setPrices: nothing left pending");
            vm.assertEq(scheduledAt, 0, "setPrices: nothing scheduled");
            return;
        }
        // An increase an owner may be paying: only `inForce` now, the rest after the notice.
        vm.assertEq(p.price, inForce, "setPrices: an increase is not in force now");
        vm.assertEq(p.pendingPrice, newTarget, "setPrices: the increase is pending");
        vm.assertEq(p.pendingAt, scheduledAt, "setPrices: returns when it applies");
        bool wasPending = before.pendingAt != 0 && before.pendingAt > now_;
        if (wasPending && newTarget <= before.pendingPrice) {
            vm.assertEq(p.pendingAt, before.pendingAt, "setPrices: no more than announced keeps its time");
        } else {
            vm.assertGe(p.pendingAt, now_ + notice, "setPrices: more than announced waits the notice");
        }
        if (wasPending) vm.assertGe(p.pendingAt, before.pendingAt, "setPrices: never earlier than announced");
    }

    // ─────────────────────────────────────────── tests ────────────────────────────────────────────

    /// @notice The index is the integral of the price in force, written or seen, at every step.
    function testFuzz_indexFollowsThePriceInForce(uint256 seed, uint8 steps) public {
        _drive(seed, bound(steps, 1, MAX_STEPS));
    }

    /// @notice The index never decreases: seen at any two future times, and across every operation.
    function testFuzz_indexIsMonotone(uint256 seed, uint8 steps, uint256 t1, uint256 t2) public {
        (, uint256 now_) = _drive(seed, bound(steps, 1, MAX_STEPS));
        t1 = bound(t1, now_, now_ + 400 days);
        t2 = bound(t2, t1, now_ + 400 days);
        vm.assertLe(h.indexAt(t1), h.indexAt(t2), "indexAt is non-decreasing in time");
        vm.assertGe(h.indexAt(now_), h.state().index, "the index seen now is at least the one written");
    }

    /// @notice A pending increase changes nothing before its time, and applies exactly from it.
    function testFuzz_pendingIncreaseWaitsItsTime(uint256 seed, uint8 steps, uint256 t) public {
        (Model memory m, uint256 now_) = _drive(seed, bound(steps, 1, MAX_STEPS));
        PriceState memory p = h.state();
        if (p.pendingAt == 0 || p.pendingAt <= now_) return;
        t = bound(t, now_, p.pendingAt - 1);
        vm.assertEq(h.priceAt(t), p.price, "before its time the pending price is not in force");
        vm.assertEq(
            h.indexAt(t),
            p.index + uint256(p.price) * (t - p.updatedAt),
            "before its time the index grows at the current price"
        );
        vm.assertEq(h.priceAt(p.pendingAt), p.pendingPrice, "from its time the pending price is in force");
        vm.assertEq(h.indexAt(p.pendingAt + 1 days), _index(m, p.pendingAt + 1 days), "after it, the model's");
        // Written down after its time, the increase applies from its time, not from the write.
        vm.warp(p.pendingAt + 1 days);
        (uint256 indexNow, bool applied, ) = h.accrue();
        vm.assertTrue(applied, "accrue applies the due increase");
        vm.assertEq(indexNow, _index(m, p.pendingAt + 1 days), "accrue charges the increase from its time");
        PriceState memory q = h.state();
        vm.assertEq(q.price, p.pendingPrice, "the increase is in force");
        vm.assertEq(q.pendingAt, 0, "nothing pending after it");
    }

    /// @notice `timeAtIndex` inverts `indexAt`: the index at the time it gives for the index at t is
    /// the index at t; for any index, it gives a whole second at which the index has reached it, and
    /// the first such second unless the index stood still there (a stretch at price 0, where it
    /// gives the end of the stretch: a run-out recorded then is recorded late, in the owner's favour).
    function testFuzz_timeAtIndexInvertsIndexAt(uint256 seed, uint8 steps, uint256 t, uint256 idx) public {
        (Model memory m, uint256 now_) = _drive(seed, bound(steps, 1, MAX_STEPS));
        t = bound(t, START, now_ + 200 days);
        uint256 atT = _index(m, t);
        uint256 back = h.timeAtIndex(atT);
        vm.assertEq(_index(m, back), atT, "the index at timeAtIndex(index at t) is the index at t");
        if (back > t) vm.assertEq(_priceAt(m, t), 0, "a time after t only across a stretch at price 0");

        uint256 horizon = now_ + 200 days;
        idx = bound(idx, 0, _index(m, horizon));
        uint256 first = h.timeAtIndex(idx);
        vm.assertGe(_index(m, first), idx, "the index has reached idx at timeAtIndex(idx)");
        if (first > START && _index(m, first - 1) >= idx) {
            vm.assertEq(_priceAt(m, first - 1), 0, "one second earlier it had not, unless it stood still");
        }
    }

    /// @notice An index the price never reaches (no price after the last change) has no time.
    function test_timeAtIndexOfAnUnreachedIndex() public view {
        vm.assertEq(h.timeAtIndex(1), type(uint40).max, "a cluster with no price never reaches index 1");
        vm.assertEq(h.timeAtIndex(0), START, "index 0 is reached at the start");
    }

    /// @notice With an open billable bucket an increase never applies before its notice, however it
    /// is split into steps; with none it applies at once.
    function testFuzz_setPricesNeverAppliesAnIncreaseEarly(uint96 price, uint96 raise, uint32 notice) public {
        price = uint96(bound(price, 1, MAX_PRICE / 2));
        raise = uint96(bound(raise, 1, MAX_PRICE / 2));
        notice = uint32(bound(notice, 2, 90 days));
        h.setPrices(0, price, notice, true);
        vm.assertEq(h.state().price, price, "no billable bucket: in force at once");

        h.setPrices(price, uint256(price) + raise, notice, false);
        vm.assertEq(h.priceAt(START + notice - 1), price, "billable: not in force before the notice");
        vm.assertEq(h.priceAt(START + notice), uint256(price) + raise, "billable: in force after the notice");
        // A second step announced later does not pull the first forward.
        vm.warp(START + notice / 2);
        h.setPrices(price, uint256(price) + raise + 1, notice, false);
        vm.assertEq(h.priceAt(START + notice), price, "a further increase waits its own notice");
        vm.assertEq(h.state().pendingAt, START + notice / 2 + notice, "from when it was announced");
    }
}
