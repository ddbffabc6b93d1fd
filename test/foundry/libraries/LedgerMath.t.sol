// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ForgeTest} from "../base/ForgeTest.sol";
import {DDCConstants} from "../../../contracts/interfaces/IDDCTypes.sol";
import {LedgerMath} from "../../../contracts/libraries/LedgerMath.sol";

/// @notice {LedgerMath}: rent accrual that splits exactly, the carried remainder, the runway.
contract LedgerMathTest is ForgeTest {
    uint256 private constant MONTH = DDCConstants.MONTH;
    /// @dev Indices stay below 2^120 (the ledger's checkpoint field).
    uint256 private constant MAX_INDEX = (1 << 120) - 1;

    /// @notice Settling k times at random index points charges exactly what settling once does,
    /// and leaves the same remainder, always below MONTH.
    function testFuzz_settlingKTimesChargesWhatOnceDoes(
        uint64 units,
        uint256 checkpoint,
        uint256 remainder,
        uint256[8] memory steps,
        uint8 k
    ) public pure {
        checkpoint = bound(checkpoint, 0, MAX_INDEX / 2);
        remainder = bound(remainder, 0, MONTH - 1);
        k = uint8(bound(k, 1, 8));
        uint256 index = checkpoint;
        uint256 charged;
        uint256 carried = remainder;
        for (uint256 i = 0; i < k; ++i) {
            uint256 next = index + bound(steps[i], 0, MAX_INDEX / 16);
            (uint256 amount, uint256 newRemainder) = LedgerMath.accrued(units, index, carried, next);
            vm.assertLt(newRemainder, MONTH, "the remainder stays below MONTH");
            charged += amount;
            carried = newRemainder;
            index = next;
        }
        (uint256 once, uint256 onceRemainder) = LedgerMath.accrued(units, checkpoint, remainder, index);
        vm.assertEq(charged, once, "k settlements charge what one does");
        vm.assertEq(carried, onceRemainder, "and carry the same remainder");
        // Nothing is lost to rounding: what is charged plus what is carried is the exact rent.
        vm.assertEq(
            once * MONTH + onceRemainder,
            uint256(units) * (index - checkpoint) + remainder,
            "charged * MONTH + remainder is units * (index delta) + the remainder carried in"
        );
    }

    /// @notice The runway is `units × price × grace / MONTH` rounded up: never short, never a whole
    /// unit too much.
    function testFuzz_runwayRoundsUp(uint64 units, uint96 price, uint32 grace) public pure {
        uint256 exact = uint256(units) * price * grace;
        uint256 runway = LedgerMath.runway(units, price, grace);
        vm.assertGe(runway * MONTH, exact, "the runway covers the grace period");
        if (runway != 0) vm.assertLt((runway - 1) * MONTH, exact, "and no more than rounding up");
        else vm.assertEq(exact, 0, "a runway of 0 only for nothing to cover");
    }

    /// @notice The hot slot holds the balance, checkpoint and remainder without loss, and never sets
    /// the arrears-mode bit.
    function testFuzz_packUnpackRoundTrips(uint112 balance, uint120 checkpoint, uint256 remainder) public pure {
        remainder = bound(remainder, 0, MONTH - 1);
        uint256 hot = LedgerMath.pack(balance, checkpoint, remainder);
        (uint256 b, uint256 c, uint256 r) = LedgerMath.unpack(hot);
        vm.assertEq(b, balance, "balance");
        vm.assertEq(c, checkpoint, "checkpoint");
        vm.assertEq(r, remainder, "remainder");
        vm.assertEq(hot & LedgerMath.LAZY, 0, "normal mode");
    }
}
