// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The cheatcodes of forge's test EVM that the project's Solidity tests use (a subset of
/// forge's `Vm` interface; the signatures are forge's own). Forge serves them at {VM_ADDRESS}.
interface Vm {
    function warp(uint256 newTimestamp) external;

    function getBlockTimestamp() external view returns (uint256 timestamp);

    function prank(address msgSender) external;

    function startPrank(address msgSender) external;

    function stopPrank() external;

    function label(address account, string calldata newLabel) external;

    function expectRevert(bytes4 revertData) external;

    function expectRevert(bytes calldata revertData) external;

    function projectRoot() external view returns (string memory path);

    function readFile(string calldata path) external view returns (string memory data);

    function parseJsonString(string calldata json, string calldata key) external pure returns (string memory);

    function parseBytes(string calldata stringifiedValue) external pure returns (bytes memory parsedValue);

    function deployCode(string calldata artifactPath) external returns (address deployedAddress);

    function deployCode(
        string calldata artifactPath,
        bytes calldata constructorArgs
    ) external returns (address deployedAddress);

    function envOr(string calldata name, string calldata defaultValue) external view returns (string memory value);

    function envOr(string calldata name, uint256 defaultValue) external view returns (uint256 value);

    function toString(uint256 value) external pure returns (string memory stringifiedValue);

    function toString(int256 value) external pure returns (string memory stringifiedValue);

    function toString(address value) external pure returns (string memory stringifiedValue);

    function toString(bytes calldata value) external pure returns (string memory stringifiedValue);

    function assertTrue(bool condition, string calldata error) external pure;

    function assertFalse(bool condition, string calldata error) external pure;

    function assertEq(uint256 left, uint256 right, string calldata error) external pure;

    function assertEq(bool left, bool right, string calldata error) external pure;

    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;

    function assertEq(address left, address right, string calldata error) external pure;

    function assertLe(uint256 left, uint256 right, string calldata error) external pure;

    function assertLt(uint256 left, uint256 right, string calldata error) external pure;

    function assertGe(uint256 left, uint256 right, string calldata error) external pure;

    function assertGt(uint256 left, uint256 right, string calldata error) external pure;
}

/// @dev `address(uint160(uint256(keccak256("hevm cheat code"))))`.
address constant VM_ADDRESS = 0x7109709ECfa91a80626fF3989D68f67F5b1DD12D;
