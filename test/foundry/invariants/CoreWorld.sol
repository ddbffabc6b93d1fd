// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {IDDC} from "../../../contracts/interfaces/IDDCViews.sol";
import {GlobalParams} from "../../../contracts/interfaces/IDDCTypes.sol";
import {ForgeTest} from "../base/ForgeTest.sol";
import {CoreDeployment} from "../base/CoreDeployment.sol";
import {CoreHandler} from "./CoreHandler.sol";

/// @dev The test stablecoin's mint (contracts/mocks/TestStablecoin.sol).
interface IMintable {
    function mint(address to, uint256 amount) external;
}

/// @notice The core, its test stablecoin and the world of {CoreHandler}, deployed as deploy/core.ts
/// deploys them.
abstract contract CoreWorld is ForgeTest {
    uint256 internal constant START = 1_700_000_000;
    uint256 internal constant FUNDS = 1e15;

    IERC20 internal token;
    IDDC internal ddc;
    CoreHandler internal handler;
    address internal feeDestination = address(0xFEE);

    function _deployWorld(GlobalParams memory params) internal {
        vm.warp(START);
        token = IERC20(vm.deployCode("TestStablecoin.sol:TestStablecoin", abi.encode(address(this))));
        ddc = CoreDeployment.deployCore(address(token), address(this), params);
        handler = new CoreHandler(ddc, token, feeDestination);
        for (uint256 i = 0; i < handler.OWNERS(); ++i) IMintable(address(token)).mint(handler.owners(i), FUNDS);
        IMintable(address(token)).mint(handler.payer(), FUNDS);
        handler.init();
    }

    /// @dev The deployed parameters: a week's unlock delay and grace period.
    function _deployedParams() internal view returns (GlobalParams memory) {
        return
            GlobalParams({
                networkFeeBps: 500,
                feeDestination: feeDestination,
                unlockDelay: 7 days,
                gracePeriod: 7 days
            });
    }
}
