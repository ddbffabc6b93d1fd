// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token that, once armed, calls back into a target during every transfer (as an ERC-777
/// hook would), and bubbles up the target's revert.
contract ReentrantToken is ERC20 {
    address public hookTarget;
    bytes public callData;

    constructor() ERC20("Reentrant Token", "RE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata callData_) external {
        hookTarget = target_;
        callData = callData_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = hookTarget;
        if (t != address(0) && from != address(0) && to != address(0)) {
            hookTarget = address(0);
            (bool ok, bytes memory reason) = t.call(callData);
            if (!ok) {
                assembly ("memory-safe") {
                    revert(add(reason, 32), mload(reason))
                }
            }
        }
    }
}
