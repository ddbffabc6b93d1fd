// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IDDC} from "../../../contracts/interfaces/IDDCViews.sol";
import {GlobalParams} from "../../../contracts/interfaces/IDDCTypes.sol";
import {Vm, VM_ADDRESS} from "./Vm.sol";

/// @notice Deploys the core as deploy/core.ts does (its logic libraries, the views extension and
/// the core linked to them), from the artifacts forge built of contracts/. Tests deploy from the
/// artifacts rather than with `new`, so that they do not compile the core again each time a test
/// changes (the core takes over a minute with viaIR through the npm compiler).
library CoreDeployment {
    Vm private constant vm = Vm(VM_ADDRESS);

    /// @dev Where forge writes artifacts (`out` in foundry.toml).
    string private constant OUT = "/cache/forge-out/";

    struct Library {
        string name;
        string path;
        address at;
    }

    function deployCore(address token, address admin, GlobalParams memory params) internal returns (IDDC) {
        Library[] memory libraries = new Library[](5);
        libraries[0] = _deployLibrary("NodeLogic", "contracts/core/logic/NodeLogic.sol");
        libraries[1] = _deployLibrary("ClusterLogic", "contracts/core/logic/ClusterLogic.sol");
        libraries[2] = _deployLibrary("BucketLogic", "contracts/core/logic/BucketLogic.sol");
        libraries[3] = _deployLibrary("UsageLogic", "contracts/core/logic/UsageLogic.sol");
        libraries[4] = _deployLibrary("RevenueLogic", "contracts/core/logic/RevenueLogic.sol");
        address views = _deploy(_linked("DDCViews", libraries), "");
        address core = _deploy(_linked("DDCCore", libraries), abi.encode(token, admin, params, views));
        return IDDC(core);
    }

    function _deployLibrary(string memory name, string memory path) private returns (Library memory) {
        return Library(name, path, vm.deployCode(string.concat(name, ".sol:", name)));
    }

    /// @dev The creation code of `name` with each library placeholder (`__$` + the first 17 bytes of
    /// keccak256 of the library's fully qualified name, in hex, + `$__`) replaced by its address.
    function _linked(string memory name, Library[] memory libraries) private view returns (bytes memory) {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), OUT, name, ".sol/", name, ".json"));
        bytes memory code = bytes(vm.parseJsonString(json, ".bytecode.object"));
        bytes[] memory placeholders = new bytes[](libraries.length);
        bytes[] memory addresses = new bytes[](libraries.length);
        for (uint256 j = 0; j < libraries.length; ++j) {
            bytes32 hash = keccak256(bytes(string.concat(libraries[j].path, ":", libraries[j].name)));
            placeholders[j] = bytes(_hex(abi.encodePacked(bytes17(hash))));
            addresses[j] = bytes(_hex(abi.encodePacked(libraries[j].at)));
        }
        for (uint256 i = 0; i + 40 <= code.length; ++i) {
            if (code[i] != "_" || code[i + 1] != "_" || code[i + 2] != "$") continue;
            uint256 j = _which(code, i + 3, placeholders);
            for (uint256 k = 0; k < 40; ++k) code[i + k] = addresses[j][k];
            i += 39;
        }
        return vm.parseBytes(string(code));
    }

    function _which(bytes memory code, uint256 at, bytes[] memory placeholders) private pure returns (uint256) {
        for (uint256 j = 0; j < placeholders.length; ++j) {
            bool same = true;
            for (uint256 k = 0; k < 34 && same; ++k) same = code[at + k] == placeholders[j][k];
            if (same) return j;
        }
        revert("CoreDeployment: a library the artifact links is not deployed");
    }

    function _hex(bytes memory data) private pure returns (string memory) {
        bytes16 digits = "0123456789abcdef";
        bytes memory out = new bytes(2 * data.length);
        for (uint256 i = 0; i < data.length; ++i) {
            out[2 * i] = digits[uint8(data[i]) >> 4];
            out[2 * i + 1] = digits[uint8(data[i]) & 15];
        }
        return string(out);
    }

    function _deploy(bytes memory code, bytes memory args) private returns (address deployed) {
        bytes memory initCode = bytes.concat(code, args);
        assembly ("memory-safe") {
            deployed := create(0, add(initCode, 32), mload(initCode))
        }
        require(deployed != address(0), "CoreDeployment: deployment failed");
    }
}
