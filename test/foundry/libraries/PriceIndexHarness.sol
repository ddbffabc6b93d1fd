// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {PriceCheckpoint} from "../../../contracts/interfaces/IDDCTypes.sol";
import {PriceState, PriceIndex} from "../../../contracts/libraries/PriceIndex.sol";

/// @notice One cluster's price, as {ClusterLogic} keeps it (a {PriceState} and its checkpoints),
/// with {PriceIndex}'s functions exposed.
contract PriceIndexHarness {
    using PriceIndex for PriceState;

    PriceState private _state;
    PriceCheckpoint[] private _checkpoints;

    /// @dev As a new cluster starts: no price, index 0 from now, one checkpoint.
    constructor() {
        _state.updatedAt = uint40(block.timestamp);
        _checkpoints.push(PriceCheckpoint(uint40(block.timestamp), 0, 0));
    }

    function state() external view returns (PriceState memory) {
        return _state;
    }

    function checkpointCount() external view returns (uint256) {
        return _checkpoints.length;
    }

    function checkpoint(uint256 i) external view returns (PriceCheckpoint memory) {
        return _checkpoints[i];
    }

    function indexAt(uint256 t) external view returns (uint256) {
        return _state.indexAt(t);
    }

    function priceAt(uint256 t) external view returns (uint256) {
        return _state.priceAt(t);
    }

    function target() external view returns (uint256) {
        return _state.target();
    }

    function timeAtIndex(uint256 idx) external view returns (uint256) {
        return PriceIndex.timeAtIndex(_state, _checkpoints, idx);
    }

    function accrue() external returns (uint256 indexNow, bool applied, uint96 oldPrice) {
        return _state.accrue(_checkpoints);
    }

    /// @dev {PriceIndex.setPrices} after {PriceIndex.accrue}, as the core calls it. `atOnce`: no
    /// open bucket of the cluster can be billed, so any change may apply now.
    function setPrices(
        uint256 inForce,
        uint256 newTarget,
        uint256 notice,
        bool atOnce
    ) external returns (uint40 scheduledAt, uint24 schedule) {
        _state.accrue(_checkpoints);
        return _state.setPrices(_checkpoints, inForce, newTarget, notice, atOnce);
    }
}
