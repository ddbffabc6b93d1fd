// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Prints from a test through forge's console (the `console.log(...)` signatures forge
/// decodes). Shown with `forge test -vv`.
library Console {
    /// @dev The address forge watches for console calls: "console.log" in ASCII.
    address internal constant CONSOLE = 0x000000000000000000636F6e736F6c652e6c6f67;

    function log(string memory message) internal view {
        _send(abi.encodeWithSignature("log(string)", message));
    }

    function log(string memory message, uint256 value) internal view {
        _send(abi.encodeWithSignature("log(string,uint256)", message, value));
    }

    function _send(bytes memory payload) private view {
        // The console answers nothing and changes nothing: a static call is enough.
        (bool ok, ) = CONSOLE.staticcall(payload);
        ok;
    }
}
