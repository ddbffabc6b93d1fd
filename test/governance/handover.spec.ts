import { expect } from "chai";
import { ethers } from "hardhat";
import { createSafe } from "../../deploy/safe";
import { createSafeTransaction, executeSafeTransaction, safeFor, signSafeTransaction } from "../../governance/safe";
import { buildCluster, bySafe, passProposal, systemFixture } from "../helpers/system";

describe("manager handover: an EOA, then a Safe, then the DAO's Timelock", function () {
  it("each step is proposed by the current manager and accepted by the new one", async function () {
    const f = await systemFixture();
    const ddc = f.system.ddc;
    const core = await ddc.getAddress();
    const timelock = await f.system.timelock.getAddress();
    const opsSafe = await createSafe(
      f.deployer,
      f.system.safe,
      f.guardians.map((g) => g.address),
      2,
      7n,
    );
    const { cluster, nodes } = await buildCluster(f, [opsSafe, timelock]);
    const bot = (await ethers.getSigners())[12];
    await ddc.connect(f.manager).clusterSetOperator(cluster, bot.address, true);

    // EOA → Safe.
    await ddc.connect(f.manager).clusterProposeManager(cluster, opsSafe);
    expect((await ddc.getCluster(cluster)).pendingManager).to.equal(opsSafe);
    await expect(ddc.connect(f.stranger).clusterAcceptManager(cluster))
      .to.be.revertedWithCustomError(ddc, "ClusterNotPendingManager")
      .withArgs(cluster, f.stranger.address);
    await bySafe(f, opsSafe, [{ to: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [cluster]) }]);
    expect((await ddc.getCluster(cluster)).manager).to.equal(opsSafe);
    // The new manager starts with no operators; the old one has no power left.
    expect(await ddc.clusterOperators(cluster)).to.deep.equal([]);
    await expect(ddc.connect(f.manager).clusterSetNodeStatus(cluster, nodes[0], 2))
      .to.be.revertedWithCustomError(ddc, "ClusterNotManager")
      .withArgs(cluster, f.manager.address);

    // Safe → Timelock (the DAO accepts by proposal).
    await bySafe(f, opsSafe, [
      { to: core, data: ddc.interface.encodeFunctionData("clusterProposeManager", [cluster, timelock]) },
    ]);
    expect((await ddc.getCluster(cluster)).pendingManager).to.equal(timelock);
    await passProposal(f, {
      actions: [{ target: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [cluster]) }],
      description: `# Accept cluster ${cluster} from the operations Safe`,
    });
    const view = await ddc.getCluster(cluster);
    expect([view.manager, view.pendingManager]).to.deep.equal([timelock, ethers.ZeroAddress]);
    const changes = await ddc.queryFilter(ddc.filters.ClusterManagerChanged(cluster));
    expect(changes.map((e) => [e.args.oldManager, e.args.newManager])).to.deep.equal([
      [f.manager.address, opsSafe],
      [opsSafe, timelock],
    ]);
    // The Safe can no longer act for the cluster: a Safe transaction to do so reverts inside.
    const connection = f.safeConnection(opsSafe);
    let tx = await createSafeTransaction(await safeFor(connection, f.guardians[0].address), [
      { to: core, data: ddc.interface.encodeFunctionData("clusterSetNodeStatus", [cluster, nodes[0], 2]) },
    ]);
    for (const g of f.guardians.slice(0, 2)) tx = await signSafeTransaction(connection, g.address, tx);
    await expect(executeSafeTransaction(connection, f.guardians[0].address, tx)).to.be.rejectedWith(
      /ClusterNotManager\(1, "0x[0-9a-fA-F]{40}"\)/,
    );
    expect((await ddc.clusterNodeInfo(cluster, nodes[0])).status).to.equal(1n);
  });
});
