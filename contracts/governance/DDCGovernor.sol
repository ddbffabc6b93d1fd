// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
// solhint-disable-next-line max-line-length
import {GovernorVotesQuorumFraction} from "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorProposalGuardian} from "@openzeppelin/contracts/governance/extensions/GovernorProposalGuardian.sol";

/// @title The DDC DAO's Governor.
/// @notice OpenZeppelin's Governor assembled from its stock extensions, with no voting logic of its
/// own, so that the tools DAO members use read it as they read any OpenZeppelin Governor:
/// settings (voting delay, voting period, proposal threshold: changeable by proposal), simple
/// counting (against, for, abstain: `COUNTING_MODE() == "support=bravo&quorum=for,abstain"`),
/// votes from {DDCGovernanceToken} (timestamp clock), a quorum as a fraction of the supply,
/// execution through a TimelockController (which is the cluster manager and holds the core's
/// parameters role), and a proposal guardian: an address (a Safe of trusted people) that may
/// cancel any proposal before it executes, e.g. a bad one the manager bot proposed. A description
/// ending in `#proposer=<address>` may only be proposed by that address (front-running guard).
contract DDCGovernor is
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl,
    GovernorProposalGuardian
{
    /// @notice The Governor's settings at deployment (the first three are changeable by proposal).
    /// @param votingDelay Seconds between a proposal and the start of its vote.
    /// @param votingPeriod Seconds a vote lasts.
    /// @param proposalThreshold The votes an account needs to propose.
    /// @param quorumPercent The quorum, in percent of the token's supply at the proposal's snapshot.
    /// @param proposalGuardian The address that may cancel any proposal before it executes (0: none).
    struct Params {
        uint48 votingDelay;
        uint32 votingPeriod;
        uint256 proposalThreshold;
        uint256 quorumPercent;
        address proposalGuardian;
    }

    /// @notice Assembles the Governor over `token` and `timelock` with the given settings.
    /// @param token The voting token ({DDCGovernanceToken}).
    /// @param timelock The TimelockController that executes proposals (and manages DAO clusters).
    /// @param params The Governor's settings.
    constructor(
        IVotes token,
        TimelockController timelock,
        Params memory params
    )
        Governor("DDC Governor")
        GovernorSettings(params.votingDelay, params.votingPeriod, params.proposalThreshold)
        GovernorVotes(token)
        GovernorVotesQuorumFraction(params.quorumPercent)
        GovernorTimelockControl(timelock)
    {
        _setProposalGuardian(params.proposalGuardian);
    }

    // The overrides below only combine the extensions (Solidity requires naming each base).

    /// @notice Seconds between a proposal and the start of its vote.
    /// @return The delay.
    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    /// @notice Seconds a vote lasts.
    /// @return The period.
    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    /// @notice The votes an account needs to propose.
    /// @return The threshold, in token units.
    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    /// @notice The votes (for and abstain) a proposal needs at `timepoint`.
    /// @param timepoint A timestamp (the Governor's clock is the token's).
    /// @return The quorum, in token units.
    function quorum(uint256 timepoint) public view override(Governor, GovernorVotesQuorumFraction) returns (uint256) {
        return super.quorum(timepoint);
    }

    /// @notice A proposal's state, the Timelock's queue included.
    /// @param proposalId The proposal.
    /// @return Its state.
    function state(uint256 proposalId) public view override(Governor, GovernorTimelockControl) returns (ProposalState) {
        return super.state(proposalId);
    }

    /// @notice Whether a proposal is queued in the Timelock before it executes (always, here).
    /// @param proposalId The proposal.
    /// @return True.
    function proposalNeedsQueuing(
        uint256 proposalId
    ) public view override(Governor, GovernorTimelockControl) returns (bool) {
        return super.proposalNeedsQueuing(proposalId);
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }

    function _validateCancel(
        uint256 proposalId,
        address caller
    ) internal view override(Governor, GovernorProposalGuardian) returns (bool) {
        return super._validateCancel(proposalId, caller);
    }
}
