// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PriceCheckpoint} from "../../../contracts/interfaces/IDDCTypes.sol";
import {PriceState} from "../../../contracts/libraries/PriceIndex.sol";
import {Ledger, LedgerMath} from "../../../contracts/libraries/LedgerMath.sol";
import {Settlement} from "../../../contracts/core/Settlement.sol";

/// @notice Ledgers of one cluster settled by {Settlement}: the batch path ({Settlement.settleBatch},
/// as {DDCCore.bucketSettlePayment} runs it) and the one-by-one path ({Settlement.settle}, as every
/// other operation runs it), and deposits as {DDCCore} credits them.
contract LedgerHarness {
    mapping(uint256 key => Ledger) private _ledgers;
    PriceState private _price;
    PriceCheckpoint[] private _checkpoints;

    /// @dev A cluster whose index grows by `price` per second from 0 at `start` (only the
    /// arrears start that a settlement records reads it).
    constructor(uint40 start, uint96 price) {
        _price.updatedAt = start;
        _price.price = price;
        _checkpoints.push(PriceCheckpoint(start, 0, price));
    }

    /// @dev A ledger in normal mode.
    function open(
        uint256 key,
        uint256 balance,
        uint256 checkpoint,
        uint256 remainder,
        uint64 units,
        uint112 debt
    ) external {
        Ledger storage l = _ledgers[key];
        l.hot = LedgerMath.pack(balance, checkpoint, remainder);
        l.units = units;
        l.debt = debt;
        l.arrearsSince = debt == 0 ? 0 : _price.updatedAt;
    }

    function settleBatch(uint256 key, uint256 indexNow) external returns (uint256 paid, uint256 debt) {
        return Settlement.settleBatch(_ledgers[key], indexNow);
    }

    function settle(uint256 key, uint256 indexNow) external returns (uint256 paid, uint256 debt) {
        return Settlement.settle(_ledgers[key], _price, _checkpoints, indexNow);
    }

    /// @dev {DDCCore}'s deposit against index `indexNow`: a ledger in arrears mode, or one that ran
    /// out unrecorded, is settled first; then the amount is credited and any debt repaid. Returns
    /// what the settlements paid.
    function deposit(uint256 key, uint256 amount, uint256 indexNow) external returns (uint256 paid) {
        Ledger storage l = _ledgers[key];
        if (l.hot & LedgerMath.LAZY != 0) {
            (paid, ) = Settlement.settle(l, _price, _checkpoints, indexNow);
        } else if (l.debt == 0) {
            (uint256 balance, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
            (uint256 accrued, ) = LedgerMath.accrued(l.units, checkpoint, remainder, indexNow);
            if (accrued > balance) (paid, ) = Settlement.settle(l, _price, _checkpoints, indexNow);
        }
        (uint256 amount0, uint256 checkpoint0, uint256 remainder0) = LedgerMath.unpack(l.hot);
        l.hot = LedgerMath.pack(amount0 + amount, checkpoint0, remainder0);
        if (l.debt != 0) {
            (uint256 repaid, ) = Settlement.settle(l, _price, _checkpoints, indexNow);
            paid += repaid;
        }
    }

    /// @dev The ledger's balance in normal mode (0 in arrears mode), its debt as the batch derives
    /// it at `indexNow`, and whether it is in arrears mode.
    function figures(uint256 key, uint256 indexNow) external view returns (uint256 balance, uint256 debt, bool lazy) {
        Ledger storage l = _ledgers[key];
        (uint256 amount, uint256 checkpoint, uint256 remainder) = LedgerMath.unpack(l.hot);
        lazy = l.hot & LedgerMath.LAZY != 0;
        if (lazy) {
            (uint256 accrued, ) = LedgerMath.accrued(l.units, checkpoint, remainder, indexNow);
            debt = l.debt + accrued - amount;
        } else {
            balance = amount;
            debt = l.debt;
        }
    }
}
