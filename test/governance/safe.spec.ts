import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { Contract, concat, zeroPadValue } from "ethers";
import { createSafe, safeArtifact, safeConfig } from "../../deploy/safe";
import { decodeCall, packMultiSend } from "../../governance/decode";
import { safeTxProblems } from "../../governance/multiSend";
import { createSafeTransaction, executeSafeTransaction, safeFor, signSafeTransaction } from "../../governance/safe";
import { USD } from "../helpers/fixtures";
import { buildCluster, bySafe, systemFixture, type SystemFixture } from "../helpers/system";

const EVIDENCE = ethers.id("era evidence");

/** A 2-of-3 operations Safe (the guardians as owners, another salt) and a cluster handed to it. */
async function safeClusterFixture() {
  const f = await systemFixture();
  const owners = f.guardians.map((g) => g.address);
  const opsSafe = await createSafe(f.deployer, f.system.safe, owners, 2, 1n);
  const built = await buildCluster(f, [opsSafe]);
  // A day of rent in the pool, and the era that holds it over.
  await time.increase(86_400);
  await f.system.ddc.bucketSettlePayment(built.cluster, [built.bucket]);
  await f.system.ddc.connect(f.manager).clusterProposeManager(built.cluster, opsSafe);
  return { ...f, ...built, opsSafe };
}

/** The Safe accepts the cluster (signed by the first two guardians). */
async function acceptBySafe(f: SystemFixture & { opsSafe: string; cluster: bigint }): Promise<void> {
  const data = f.system.ddc.interface.encodeFunctionData("clusterAcceptManager", [f.cluster]);
  await bySafe(f, f.opsSafe, [{ to: await f.system.ddc.getAddress(), data }]);
}

describe("a Safe-managed cluster (Safe 1.5, protocol-kit)", function () {
  it("the Safe is a real 2-of-3 Safe 1.5.0", async function () {
    const f = await loadFixture(safeClusterFixture);
    expect(await safeConfig(ethers.provider, f.opsSafe)).to.deep.equal({
      owners: f.guardians.map((g) => g.address),
      threshold: 2,
    });
    const kit = await safeFor(f.safeConnection(f.opsSafe), f.guardians[0].address);
    expect(await kit.getContractVersion()).to.equal("1.5.0");
  });

  it("accepts the cluster and distributes an era with two owners' signatures", async function () {
    const f = await loadFixture(safeClusterFixture);
    const ddc = f.system.ddc;
    await acceptBySafe(f);
    expect((await ddc.getCluster(f.cluster)).manager).to.equal(f.opsSafe);

    const pool = (await ddc.getCluster(f.cluster)).revenuePool;
    expect(pool).to.be.greaterThan(0n);
    const era = (await ddc.clusterEra(f.cluster)).era - 1n;
    const connection = f.safeConnection(f.opsSafe);
    const data = ddc.interface.encodeFunctionData("clusterDistributeRevenues", [f.cluster, era, [], EVIDENCE]);
    let tx = await createSafeTransaction(await safeFor(connection, f.guardians[1].address), [
      { to: await ddc.getAddress(), data },
    ]);
    tx = await signSafeTransaction(connection, f.guardians[1].address, tx);
    tx = await signSafeTransaction(connection, f.guardians[2].address, tx);
    const hash = await executeSafeTransaction(connection, f.guardians[0].address, tx);
    const receipt = await ethers.provider.getTransactionReceipt(hash);
    const events = receipt!.logs
      .filter((l) => l.address === (ddc.target as string))
      .map((l) => ddc.interface.parseLog(l))
      .filter((e) => e?.name === "RevenuesDistributed");
    expect(events).to.have.length(1);
    expect(events[0]!.args.evidenceHash).to.equal(EVIDENCE);
    expect(events[0]!.args.amount).to.equal(pool);
    // The management fee (10 %) is the Safe's internal balance; the network fee the Timelock's.
    expect(await ddc.accountBalance(f.opsSafe)).to.equal(pool / 10n);
    expect(await ddc.accountBalance(await f.system.timelock.getAddress())).to.equal((pool * 5n) / 100n);
  });

  it("one signature is not enough: refused before sending, and by the Safe itself (GS020)", async function () {
    const f = await loadFixture(safeClusterFixture);
    await acceptBySafe(f);
    const ddc = f.system.ddc;
    const connection = f.safeConnection(f.opsSafe);
    const era = (await ddc.clusterEra(f.cluster)).era - 1n;
    const data = ddc.interface.encodeFunctionData("clusterDistributeRevenues", [f.cluster, era, [], EVIDENCE]);
    const kit = await safeFor(connection, f.guardians[0].address);
    let tx = await createSafeTransaction(kit, [{ to: await ddc.getAddress(), data }]);
    tx = await signSafeTransaction(connection, f.guardians[0].address, tx);
    await expect(executeSafeTransaction(connection, f.guardians[0].address, tx)).to.be.rejectedWith(
      "the Safe needs 2 owner signatures, the transaction has 1",
    );
    await expect(kit.executeTransaction(tx)).to.be.rejectedWith("There is 1 signature missing");
    // Straight to the chain, the Safe contract refuses it too.
    const safe = new Contract(f.opsSafe, safeArtifact("Safe").abi as never[], f.guardians[0]);
    const d = tx.data;
    await expect(
      safe.execTransaction(
        d.to,
        d.value,
        d.data,
        d.operation,
        d.safeTxGas,
        d.baseGas,
        d.gasPrice,
        d.gasToken,
        d.refundReceiver,
        tx.encodedSignatures(),
      ),
    ).to.be.revertedWith("GS020");
    // A signature from a non-owner does not count either.
    await expect(signSafeTransaction(connection, f.stranger.address, tx)).to.be.rejectedWith(
      "Transactions can only be signed by Safe owners",
    );
    expect((await ddc.getCluster(f.cluster)).revenuePool).to.be.greaterThan(0n);
    expect((await ddc.clusterRevenue(f.cluster)).nextEra).to.equal(0);
  });

  it("the Safe's management fee reaches it through a Safe transaction", async function () {
    const f = await loadFixture(safeClusterFixture);
    await acceptBySafe(f);
    const ddc = f.system.ddc;
    const connection = f.safeConnection(f.opsSafe);
    const era = (await ddc.clusterEra(f.cluster)).era - 1n;
    const calls = [
      {
        to: await ddc.getAddress(),
        data: ddc.interface.encodeFunctionData("clusterDistributeRevenues", [f.cluster, era, [], EVIDENCE]),
      },
    ];
    let tx = await createSafeTransaction(await safeFor(connection, f.guardians[0].address), calls);
    for (const g of f.guardians.slice(0, 2)) tx = await signSafeTransaction(connection, g.address, tx);
    await executeSafeTransaction(connection, f.guardians[0].address, tx);
    const fee = await ddc.accountBalance(f.opsSafe);
    const withdraw = ddc.interface.encodeFunctionData("withdrawBalance", [fee, f.opsSafe]);
    let tx2 = await createSafeTransaction(await safeFor(connection, f.guardians[0].address), [
      { to: await ddc.getAddress(), data: withdraw },
    ]);
    for (const g of f.guardians.slice(1, 3)) tx2 = await signSafeTransaction(connection, g.address, tx2);
    await executeSafeTransaction(connection, f.guardians[1].address, tx2);
    expect(await f.token.balanceOf(f.opsSafe)).to.equal(fee);
    expect(fee).to.be.greaterThan(0n);
    expect(fee).to.be.lessThan(1000n * USD);
  });

  it("a batch through the plain MultiSend can hide a delegatecall that takes the Safe over: decoded as that danger, never unpacked", async function () {
    const f = await loadFixture(safeClusterFixture);
    await acceptBySafe(f);
    const ddc = f.system.ddc;
    const connection = f.safeConnection(f.opsSafe);
    // Code that writes slot 0 of whoever runs it: in a Safe proxy, the singleton it runs.
    // PUSH20 <attacker> PUSH1 0 SSTORE STOP, behind a constructor that returns it.
    const attacker = f.stranger.address;
    const runtime = concat(["0x73", attacker, "0x60005500"]);
    const sent = await f.stranger.sendTransaction({ data: concat(["0x6019600c60003960196000f3", runtime]) });
    const takeover = (await sent.wait())!.contractAddress!;
    expect(await ethers.provider.getCode(takeover)).to.equal(runtime.toLowerCase());
    // What a signer is shown: an honest-looking distribution, then the delegatecall.
    const era = (await ddc.clusterEra(f.cluster)).era - 1n;
    const honest = ddc.interface.encodeFunctionData("clusterDistributeRevenues", [f.cluster, era, [], EVIDENCE]);
    const batch = packMultiSend([
      { to: await ddc.getAddress(), data: honest },
      { to: takeover, data: "0x", operation: 1 },
    ]);
    const plainMultiSend = f.system.safe.MultiSend;
    const decoded = decodeCall({ to: plainMultiSend, data: batch, operation: 1 }, { contracts: f.system.contracts });
    expect(decoded.calls).to.equal(undefined);
    expect(decoded.text).to.equal(
      `DANGEROUS delegatecall to ${plainMultiSend}: MultiSend.multiSend(a batch, not unpacked)`,
    );
    expect(decoded.warnings[0]).to.equal(
      `a delegatecall to ${plainMultiSend} (MultiSend), which is not the canonical MultiSendCallOnly ` +
        `(it is ${f.system.safe.MultiSendCallOnly}): it runs that contract's code with the Safe's own storage ` +
        "and funds, and can take over the Safe",
    );
    // Signed anyway (protocol-kit signs what it is given), it does what the warning says.
    let tx = await createSafeTransaction(await safeFor(connection, f.guardians[0].address), [
      { to: plainMultiSend, data: batch },
    ]);
    tx.data.operation = 1;
    expect(safeTxProblems({ ...tx.data, operation: 1 }, { contracts: f.system.contracts })).to.deep.equal([
      decoded.warnings[0],
    ]);
    for (const g of f.guardians.slice(0, 2)) tx = await signSafeTransaction(connection, g.address, tx);
    await executeSafeTransaction(connection, f.guardians[0].address, tx);
    expect(await ethers.provider.getStorage(f.opsSafe, 0)).to.equal(zeroPadValue(attacker, 32).toLowerCase());
    expect((await ddc.clusterRevenue(f.cluster)).nextEra).to.equal(era + 1n);
  });
});
