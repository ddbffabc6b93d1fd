// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @notice The base of the project's forge tests: the cheatcodes, input bounding, and the target
/// declarations forge reads before an invariant campaign (`targetContracts`, `targetSelectors`).
abstract contract ForgeTest {
    /// @notice A selector set forge may call on one target contract (forge reads this layout).
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    Vm internal constant vm = Vm(VM_ADDRESS);

    /// @notice Marks the contract as a test contract for forge.
    bool public IS_TEST = true;

    address[] private _targetedContracts;
    FuzzSelector[] private _targetedSelectors;

    /// @notice The contracts an invariant campaign calls (only these, when any is declared).
    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    /// @notice The functions an invariant campaign calls on each targeted contract.
    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function targetSelector(FuzzSelector memory selectors) internal {
        _targetedSelectors.push(selectors);
    }

    /// @dev `x` mapped into `[min, max]`, leaving values already inside unchanged, so that the
    /// fuzzer's edge values (0, 1, max) still land on the edges of the range.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return Bounds.bound(x, min, max);
    }
}

/// @notice Input bounding shared by tests and handlers.
library Bounds {
    /// @dev See {ForgeTest.bound}. Reverts if `min > max`.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        unchecked {
            // size + 1 cannot overflow: size < max uint256 here.
            return min + ((x - min) % (size + 1));
        }
    }
}
