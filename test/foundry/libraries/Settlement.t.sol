// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ForgeTest} from "../base/ForgeTest.sol";
import {LedgerHarness} from "./LedgerHarness.sol";

/// @notice The assembly batch settlement ({Settlement.settleBatch}) against settling one by one
/// ({Settlement.settle}): two copies of a random ledger, settled at the same random index points
/// with the same deposits in between, pay the same totals and owe the same debts.
contract SettlementTest is ForgeTest {
    uint256 private constant BATCH = 1;
    uint256 private constant ONE = 2;
    uint40 private constant START = 1_700_000_000;
    /// @dev The cluster's price per unit per month: 3 tokens of 6 decimals.
    uint96 private constant PRICE = 3e6;

    LedgerHarness private h;

    function setUp() public {
        h = new LedgerHarness(START, PRICE);
    }

    function testFuzz_batchPaysWhatOneByOnePays(
        uint256 balance,
        uint256 checkpoint,
        uint256 remainder,
        uint64 units,
        uint256 debt,
        uint256 seed
    ) public {
        balance = bound(balance, 0, 1e15);
        checkpoint = bound(checkpoint, 0, 1 << 100);
        remainder = bound(remainder, 0, 30 days - 1);
        units = uint64(bound(units, 0, 1e6));
        debt = seed % 4 == 0 ? bound(debt, 1, 1e12) : 0;
        h.open(BATCH, balance, checkpoint, remainder, units, uint112(debt));
        h.open(ONE, balance, checkpoint, remainder, units, uint112(debt));

        uint256 index = checkpoint;
        uint256 paidBatch;
        uint256 paidOne;
        for (uint256 i = 0; i < 12; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            // Up to a month of a price of 3e6 per unit per second-scaled month, sometimes nothing.
            index += r % 5 == 0 ? 0 : bound(r >> 8, 0, uint256(PRICE) * 30 days);
            if ((r >> 200) % 4 == 0) {
                uint256 amount = bound(r >> 128, 1, 1e12);
                paidBatch += h.deposit(BATCH, amount, index);
                paidOne += h.deposit(ONE, amount, index);
            } else {
                (uint256 pb, uint256 db) = h.settleBatch(BATCH, index);
                (uint256 po, uint256 dOne) = h.settle(ONE, index);
                paidBatch += pb;
                paidOne += po;
                vm.assertEq(db, dOne, "the batch reports the debt one-by-one settlement records");
            }
            vm.assertEq(paidBatch, paidOne, "the batch has paid what one-by-one settlement paid");
            (uint256 balanceBatch, uint256 debtBatch, ) = h.figures(BATCH, index);
            (uint256 balanceOne, uint256 debtOne, bool lazyOne) = h.figures(ONE, index);
            vm.assertFalse(lazyOne, "one-by-one settlement leaves normal mode");
            vm.assertEq(balanceBatch, balanceOne, "same balance");
            vm.assertEq(debtBatch, debtOne, "same debt");
        }
        // Settling the batch ledger once more, one by one, turns it back to normal mode: same figures.
        index += 1 days * uint256(PRICE);
        (uint256 lastBatch, ) = h.settle(BATCH, index);
        (uint256 lastOne, ) = h.settle(ONE, index);
        vm.assertEq(paidBatch + lastBatch, paidOne + lastOne, "same totals after a final settlement");
    }

    /// @notice A ledger the batch runs out goes into arrears mode (one slot, the debt derived) and
    /// still reports what settling one by one records, up to a deposit that repays it.
    function test_arrearsModeMatchesOneByOne() public {
        uint256 month = uint256(PRICE) * 30 days;
        h.open(BATCH, 5e6, 0, 0, 2, 0);
        h.open(ONE, 5e6, 0, 0, 2, 0);
        (uint256 pb, uint256 db) = h.settleBatch(BATCH, month);
        (uint256 po, uint256 dOne) = h.settle(ONE, month);
        vm.assertEq(pb, 5e6, "the batch pays the whole balance");
        vm.assertEq(po, 5e6, "so does one-by-one settlement");
        vm.assertEq(db, 1e6, "2 units at 3e6 a month owe 6e6: 1e6 short");
        vm.assertEq(dOne, db, "the same debt");
        (, , bool lazy) = h.figures(BATCH, month);
        vm.assertTrue(lazy, "the batch left the ledger in arrears mode");
        (pb, db) = h.settleBatch(BATCH, 2 * month);
        (po, dOne) = h.settle(ONE, 2 * month);
        vm.assertEq(pb + po, 0, "nothing to pay with");
        vm.assertEq(db, 7e6, "a second month adds 6e6 of debt");
        vm.assertEq(dOne, db, "the same debt");
        vm.assertEq(h.deposit(BATCH, 10e6, 2 * month), 7e6, "a deposit repays the debt first");
        vm.assertEq(h.deposit(ONE, 10e6, 2 * month), 7e6, "in both");
        (uint256 balanceBatch, uint256 debtBatch, bool stillLazy) = h.figures(BATCH, 2 * month);
        vm.assertFalse(stillLazy, "back to normal mode");
        vm.assertEq(balanceBatch, 3e6, "what is left");
        vm.assertEq(debtBatch, 0, "no debt");
    }
}
