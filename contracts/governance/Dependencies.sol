// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

// Compiles OpenZeppelin's TimelockController as is, so that deployments use the audited contract
// under its own name (the DAO's executor, the manager of DAO-managed clusters).
// solhint-disable-next-line no-unused-import
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
