import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { operationArgs, proposeArgs, restrictToProposer, stateName, type Proposal } from "../../governance/dao";
import { IGovernor__factory } from "../../typechain-types";
import { bySafe, daoClusterFixture, passProposal, systemFixture, voteOn, type SystemFixture } from "../helpers/system";

const EVIDENCE = ethers.id("replacement evidence");
const FOR = 1;
const AGAINST = 0;

/** Everything the core owes, which its token balance must cover (with a few units of dust). */
async function owed(f: SystemFixture, cluster: bigint, owners: string[], accounts: string[]): Promise<bigint> {
  const ddc = f.system.ddc;
  let total = (await ddc.getCluster(cluster)).revenuePool + (await ddc.clusterRevenue(cluster)).reserve;
  for (const o of owners) total += (await ddc.getLedger(o, cluster)).balance;
  for (const a of accounts) total += await ddc.accountBalance(a);
  for (let n = 1n; n <= (await ddc.nodeCount()); n++) total += await ddc.nodeRevenue(n);
  return total;
}

describe("a DAO-managed cluster (Governor + Timelock)", function () {
  it("the handover made the Timelock the manager and the bot an operator", async function () {
    const f = await loadFixture(daoClusterFixture);
    expect((await f.system.ddc.getCluster(f.cluster)).manager).to.equal(f.timelock);
    expect(await f.system.ddc.isClusterOperator(f.cluster, f.bot.address)).to.equal(true);
  });

  it("replaces a failing node by proposal: vote, queue, timelock, execute; balances right", async function () {
    const f = await loadFixture(daoClusterFixture);
    const ddc = f.system.ddc;
    // A day of rent, distributed by the bot (an operator), with the failing node excluded.
    await time.increase(86_400);
    await ddc.bucketSettlePayment(f.cluster, [f.bucket]);
    const [failing, spare] = [f.nodes[1], f.nodes[3]];
    const era = (await ddc.clusterEra(f.cluster)).era - 1n;
    await ddc.connect(f.bot).clusterDistributeRevenues(f.cluster, era, [failing], EVIDENCE);
    const accrued = await ddc.nodeRevenue(failing);
    const replace: Proposal = {
      actions: [
        {
          target: f.core,
          data: ddc.interface.encodeFunctionData("clusterReplaceNode", [f.cluster, failing, [spare], EVIDENCE]),
        },
      ],
      description: restrictToProposer(
        `# Replace node ${failing} by node ${spare} in cluster ${f.cluster}\n\nEvidence: ${EVIDENCE}`,
        f.bot.address,
      ),
    };
    // The bot proposes (it holds no votes: the threshold is 0); the voters decide.
    const proposalId = await voteOn(f, replace, FOR, f.bot);
    expect(stateName(await f.system.governor.state(proposalId))).to.equal("Succeeded");
    await f.system.governor.queue(...operationArgs(replace));
    expect(stateName(await f.system.governor.state(proposalId))).to.equal("Queued");
    // Not before the Timelock's delay.
    await expect(f.system.governor.execute(...operationArgs(replace))).to.be.revertedWithCustomError(
      f.system.timelock,
      "TimelockUnexpectedOperationState",
    );
    await time.increase(f.params.governance.timelockDelay);
    await expect(f.system.governor.execute(...operationArgs(replace)))
      .to.emit(ddc, "ClusterNodeReplaced")
      .withArgs(f.cluster, failing, [failing << 40n], [spare], EVIDENCE);
    expect(stateName(await f.system.governor.state(proposalId))).to.equal("Executed");
    const [tokens, holders] = await ddc.clusterRing(f.cluster);
    expect(holders[tokens.indexOf(failing << 40n)]).to.equal(spare);
    // The replaced node keeps what it had; the core still covers every party to within dust.
    expect(await ddc.nodeRevenue(failing)).to.equal(accrued);
    const balance = await f.token.balanceOf(f.core);
    const due = await owed(f, f.cluster, [f.owner.address], [f.timelock]);
    expect(balance - due).to.be.within(0n, 4n);
  });

  it("a defeated proposal changes nothing", async function () {
    const f = await loadFixture(daoClusterFixture);
    const ddc = f.system.ddc;
    const p: Proposal = {
      actions: [
        { target: f.core, data: ddc.interface.encodeFunctionData("clusterRemoveNode", [f.cluster, f.nodes[0]]) },
      ],
      description: "# Remove node 1",
    };
    const proposalId = await voteOn(f, p, AGAINST);
    expect(stateName(await f.system.governor.state(proposalId))).to.equal("Defeated");
    await expect(f.system.governor.queue(...operationArgs(p))).to.be.revertedWithCustomError(
      f.system.governor,
      "GovernorUnexpectedProposalState",
    );
    expect(await ddc.clusterNodes(f.cluster)).to.deep.equal([f.nodes[0], f.nodes[1], f.nodes[2]]);
  });

  it("the guardian Safe cancels a bad automated proposal; it can no longer run", async function () {
    const f = await loadFixture(daoClusterFixture);
    const ddc = f.system.ddc;
    const bad: Proposal = {
      actions: [
        { target: f.core, data: ddc.interface.encodeFunctionData("clusterRemoveNode", [f.cluster, f.nodes[0]]) },
      ],
      description: restrictToProposer("# Remove node 1 (a bad decision)", f.bot.address),
    };
    const proposalId = await voteOn(f, bad, FOR, f.bot);
    await f.system.governor.queue(...operationArgs(bad));
    // Two of the guardian Safe's three owners sign the cancellation.
    const data = f.system.governor.interface.encodeFunctionData("cancel", operationArgs(bad));
    await bySafe(f, f.system.guardianSafe, [{ to: await f.system.governor.getAddress(), data }]);
    expect(stateName(await f.system.governor.state(proposalId))).to.equal("Canceled");
    await time.increase(f.params.governance.timelockDelay);
    await expect(f.system.governor.execute(...operationArgs(bad))).to.be.revertedWithCustomError(
      f.system.governor,
      "GovernorUnexpectedProposalState",
    );
    expect(await ddc.clusterNodes(f.cluster)).to.have.length(3);
    // Anyone else's cancel is refused.
    const other: Proposal = { ...bad, description: restrictToProposer("# Another", f.bot.address) };
    await f.system.governor.connect(f.bot).propose(...proposeArgs(other));
    await expect(f.system.governor.connect(f.stranger).cancel(...operationArgs(other)))
      .to.be.revertedWithCustomError(f.system.governor, "GovernorUnableToCancel")
      .withArgs(await f.system.governor.hashProposal(...operationArgs(other)), f.stranger.address);
  });

  describe("attacks", function () {
    it("votes acquired after a proposal's snapshot have no weight", async function () {
      const f = await loadFixture(daoClusterFixture);
      const governor = f.system.governor;
      const p: Proposal = {
        actions: [
          {
            target: f.core,
            data: f.system.ddc.interface.encodeFunctionData("clusterRemoveNode", [f.cluster, f.nodes[0]]),
          },
        ],
        description: "# Remove node 1",
      };
      await governor.connect(f.voters[0]).propose(...proposeArgs(p));
      const proposalId = await governor.hashProposal(...operationArgs(p));
      const snapshot = await governor.proposalSnapshot(proposalId);
      await time.increase(f.params.governance.votingDelay + 1);
      // A whale buys in (from the deployer's unallocated supply) after the snapshot.
      await f.system.governanceToken.transfer(f.stranger.address, ethers.parseEther("500000"));
      await f.system.governanceToken.connect(f.stranger).delegate(f.stranger.address);
      expect(await f.system.governanceToken.getVotes(f.stranger.address)).to.equal(ethers.parseEther("500000"));
      expect(await governor.getVotes(f.stranger.address, snapshot)).to.equal(0n);
      await expect(governor.connect(f.stranger).castVote(proposalId, FOR))
        .to.emit(governor, "VoteCast")
        .withArgs(f.stranger.address, proposalId, FOR, 0n, "");
      await governor.connect(f.voters[1]).castVote(proposalId, AGAINST);
      await time.increase(f.params.governance.votingPeriod);
      expect(stateName(await governor.state(proposalId))).to.equal("Defeated");
      const votes = await governor.proposalVotes(proposalId);
      expect([votes.againstVotes, votes.forVotes]).to.deep.equal([ethers.parseEther("50000"), 0n]);
    });

    it("nothing but the Timelock changes global parameters; the deployer holds no role", async function () {
      const f = await loadFixture(daoClusterFixture);
      const core = f.system.core;
      const roles = {
        admin: await core.DEFAULT_ADMIN_ROLE(),
        parameters: await core.PARAMETERS_ROLE(),
        pauser: await core.PAUSER_ROLE(),
      };
      const governor = await f.system.governor.getAddress();
      for (const who of [f.deployer.address, governor, f.system.guardianSafe, f.manager.address]) {
        expect(await core.hasRole(roles.parameters, who), who).to.equal(false);
      }
      expect(await core.hasRole(roles.parameters, f.timelock)).to.equal(true);
      expect(await core.hasRole(roles.admin, f.timelock)).to.equal(true);
      expect(await core.hasRole(roles.pauser, f.system.guardianSafe)).to.equal(true);
      for (const role of Object.values(roles)) expect(await core.hasRole(role, f.deployer.address)).to.equal(false);
      const timelock = f.system.timelock;
      for (const role of [
        await timelock.DEFAULT_ADMIN_ROLE(),
        await timelock.PROPOSER_ROLE(),
        await timelock.CANCELLER_ROLE(),
      ]) {
        expect(await timelock.hasRole(role, f.deployer.address)).to.equal(false);
      }
      expect(await timelock.hasRole(await timelock.PROPOSER_ROLE(), governor)).to.equal(true);
      expect(await timelock.hasRole(await timelock.CANCELLER_ROLE(), governor)).to.equal(true);
      // The Timelock is its own admin only: nobody outside governance can change its roles.
      expect(await timelock.hasRole(await timelock.DEFAULT_ADMIN_ROLE(), f.timelock)).to.equal(true);
      for (const signer of [f.deployer, f.voters[0], f.guardians[0]]) {
        await expect(f.system.ddc.connect(signer).setNetworkFee(100))
          .to.be.revertedWithCustomError(core, "AccessControlUnauthorizedAccount")
          .withArgs(signer.address, roles.parameters);
      }
      await passProposal(f, {
        actions: [{ target: f.core, data: f.system.ddc.interface.encodeFunctionData("setNetworkFee", [100]) }],
        description: "# Network fee 1 %",
      });
      expect((await f.system.ddc.globalParams()).networkFeeBps).to.equal(100);
    });

    it("the same proposal cannot be created twice", async function () {
      const f = await loadFixture(daoClusterFixture);
      const p: Proposal = {
        actions: [{ target: f.core, data: f.system.ddc.interface.encodeFunctionData("setNetworkFee", [100]) }],
        description: "# Network fee 1 %",
      };
      await f.system.governor.connect(f.voters[0]).propose(...proposeArgs(p));
      await expect(f.system.governor.connect(f.voters[1]).propose(...proposeArgs(p))).to.be.revertedWithCustomError(
        f.system.governor,
        "GovernorUnexpectedProposalState",
      );
    });

    it("a front-runner cannot take the bot's proposal (#proposer= suffix)", async function () {
      const f = await loadFixture(daoClusterFixture);
      const p: Proposal = {
        actions: [{ target: f.core, data: f.system.ddc.interface.encodeFunctionData("setNetworkFee", [100]) }],
        description: restrictToProposer("# Network fee 1 %", f.bot.address),
      };
      await expect(f.system.governor.connect(f.stranger).propose(...proposeArgs(p)))
        .to.be.revertedWithCustomError(f.system.governor, "GovernorRestrictedProposer")
        .withArgs(f.stranger.address);
      await expect(f.system.governor.connect(f.bot).propose(...proposeArgs(p))).to.emit(
        f.system.governor,
        "ProposalCreated",
      );
      expect(() => restrictToProposer(p.description, f.stranger.address)).to.throw("already names a proposer");
    });
  });

  it("looks like any OpenZeppelin Governor to DAO tools (ERC-165, COUNTING_MODE, CLOCK_MODE)", async function () {
    const f = await loadFixture(systemFixture);
    const governor = f.system.governor;
    const iface = IGovernor__factory.createInterface();
    // type(IGovernor).interfaceId: its own functions, not those inherited from IERC165 and IERC6372.
    const inherited = new Set(["supportsInterface", "clock", "CLOCK_MODE"]);
    let interfaceId = 0n;
    iface.forEachFunction((fn) => {
      if (!inherited.has(fn.name)) interfaceId ^= BigInt(fn.selector);
    });
    expect(await governor.supportsInterface(ethers.toBeHex(interfaceId, 4))).to.equal(true);
    expect(await governor.supportsInterface("0x01ffc9a7")).to.equal(true); // ERC-165 itself
    expect(await governor.COUNTING_MODE()).to.equal("support=bravo&quorum=for,abstain");
    expect(await governor.CLOCK_MODE()).to.equal("mode=timestamp");
    expect(await f.system.governanceToken.CLOCK_MODE()).to.equal("mode=timestamp");
    expect(await governor.clock()).to.equal(BigInt(await time.latest()));
    expect(await governor.proposalGuardian()).to.equal(f.system.guardianSafe);
    expect(await governor.timelock()).to.equal(await f.system.timelock.getAddress());
    expect(await governor["quorumNumerator()"]()).to.equal(4n);
  });
});
