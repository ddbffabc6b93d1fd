import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture, time } from "@nomicfoundation/hardhat-network-helpers";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { ContractFactory } from "ethers";
import { createSafe, safeArtifact } from "../../deploy/safe";
import { distribution, operators } from "../../governance/actions";
import { decodeCall, decodeSafeTransaction } from "../../governance/decode";
import { safeTxProblems } from "../../governance/multiSend";
import SafeApiKit from "@safe-global/api-kit";
import { createSignatureServer } from "../../governance/safeServer";
import { TransactionServiceStore } from "../../governance/safeTxService";
import {
  SafeQueue,
  buildSafeTxData,
  safeTxHash,
  signSafeTx,
  type SafeTxData,
  type SignatureStore,
} from "../../governance/safeStore";
import { buildCluster, bySafe, systemFixture } from "../helpers/system";
import { DEV_MNEMONIC, devAccount, tempSignatureStore } from "../helpers/temp";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const EVIDENCE = ethers.id("era evidence");

/** A development account's wallet (Hardhat's default mnemonic), as another process would hold it. */
const wallet = (index: number) => devAccount(index);

/**
 * Signs a stored Safe transaction in a separate Node process, with account `index`, through api-kit
 * against the signature server: what an owner on another machine does. Prints the answer, or the
 * error's status and message.
 */
async function signFromAnotherProcess(url: string, hash: string, index: number): Promise<string> {
  const script = `
    const { HDNodeWallet } = require("ethers");
    const SafeApiKit = require("@safe-global/api-kit").default;
    (async () => {
      const hash = process.env.HASH;
      const api = new SafeApiKit({ chainId: BigInt(process.env.CHAIN_ID), txServiceUrl: process.env.STORE_URL });
      const tx = await api.getTransaction(hash);
      const w = HDNodeWallet.fromPhrase(process.env.MNEMONIC, undefined, "m/44'/60'/0'/0/" + process.env.INDEX);
      const types = { SafeTx: [["to","address"],["value","uint256"],["data","bytes"],["operation","uint8"],
        ["safeTxGas","uint256"],["baseGas","uint256"],["gasPrice","uint256"],["gasToken","address"],
        ["refundReceiver","address"],["nonce","uint256"]].map(([name, type]) => ({ name, type })) };
      const signature = await w.signTypedData({ chainId: Number(process.env.CHAIN_ID), verifyingContract: tx.safe },
        types, { ...tx, data: tx.data ?? "0x" });
      try {
        console.log(JSON.stringify(await api.confirmTransaction(hash, signature)) === JSON.stringify({ signature }));
      } catch (e) {
        console.log(e.statusCode + " " + e.message);
      }
    })();`;
  const { stdout } = await run(process.execPath, ["-e", script], {
    cwd: ROOT,
    env: {
      ...process.env,
      STORE_URL: `${url}/api`,
      CHAIN_ID: String((await ethers.provider.getNetwork()).chainId),
      HASH: hash,
      INDEX: String(index),
      MNEMONIC: DEV_MNEMONIC,
    },
  });
  return stdout.trim();
}

/** A signature server over a fresh directory store, listening; `close` stops it. */
async function startServer(chainId: number) {
  const backing = tempSignatureStore();
  const server = createSignatureServer({
    store: backing,
    queueFor: (safe) => new SafeQueue(ethers.provider, chainId, safe, backing),
  });
  const url = await server.listen({ host: "127.0.0.1", port: 0 });
  return { backing, url, api: `${url}/api`, close: () => server.close() };
}

/** A Safe-managed cluster (2-of-3 of accounts 1–3) with a day of rent to distribute. */
async function storeFixture() {
  const f = await systemFixture();
  const opsSafe = await createSafe(
    f.deployer,
    f.system.safe,
    f.guardians.map((g) => g.address),
    2,
    3n,
  );
  const built = await buildCluster(f, [opsSafe]);
  const ddc = f.system.ddc;
  const core = await ddc.getAddress();
  await ddc.connect(f.manager).clusterProposeManager(built.cluster, opsSafe);
  await bySafe(f, opsSafe, [
    { to: core, data: ddc.interface.encodeFunctionData("clusterAcceptManager", [built.cluster]) },
  ]);
  await time.increase(86_400);
  await ddc.bucketSettlePayment(built.cluster, [built.bucket]);
  const { chainId } = await ethers.provider.getNetwork();
  return { ...f, ...built, opsSafe, core, chainId: Number(chainId), connection: f.safeConnection(opsSafe) };
}

type StoreFixture = Awaited<ReturnType<typeof storeFixture>>;

/** The distribution of the last closed era as Safe transaction data at `nonce`. */
async function distributionTx(f: StoreFixture, nonce: number): Promise<SafeTxData> {
  const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
  const [c] = distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE }).calls;
  return buildSafeTxData(f.connection, f.guardians[0].address, [{ to: c.target, data: c.data }], nonce);
}

describe("governance: the Safe signature store", function () {
  it("two owners sign from two processes through api-kit and the signature server; it executes at the threshold, not before", async function () {
    const f = await loadFixture(storeFixture);
    const server = await startServer(f.chainId);
    try {
      const store: SignatureStore = new TransactionServiceStore(f.chainId, server.api);
      const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, store);
      const nonce = await queue.nextNonce();
      // Proposed with its proposer's signature (owner 1): one owner is not enough.
      const tx = await queue.propose(await distributionTx(f, nonce), "# Distribution\n\nera 1", wallet(1));
      expect(tx.safeTxHash).to.equal(safeTxHash(f.chainId, f.opsSafe, tx.data));
      let entry = await queue.entry(tx.safeTxHash);
      expect([entry.confirmations.length, entry.threshold, entry.status]).to.deep.equal([1, 2, "pending"]);
      expect(entry.description).to.equal("# Distribution\n\nera 1");
      await expect(queue.execute(f.connection, f.guardians[2].address, tx.safeTxHash)).to.be.rejectedWith(
        "1 of 2 confirmations: 1 missing",
      );
      // A second owner from another process: executable; anyone executes.
      expect(await signFromAnotherProcess(server.url, tx.safeTxHash, 2)).to.equal("true");
      entry = await queue.entry(tx.safeTxHash);
      expect(entry.confirmations.sort()).to.deep.equal([f.guardians[0].address, f.guardians[1].address].sort());
      expect(entry.status).to.equal("executable");
      const executedIn = await queue.execute(f.connection, f.stranger.address, tx.safeTxHash);
      expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.be.greaterThan(0);
      entry = await queue.entry(tx.safeTxHash);
      expect([entry.status, entry.transactionHash, entry.executedIn]).to.deep.equal([
        "executed",
        executedIn,
        executedIn,
      ]);
      // A late signature of the executed transaction: refused, saying where it ran.
      expect(await signFromAnotherProcess(server.url, tx.safeTxHash, 3)).to.equal(
        `400 already executed in ${executedIn}`,
      );
    } finally {
      await server.close();
    }
  });

  it("api-kit against the signature server: propose, confirm, pending, next nonce, the Safe, executed with its hash", async function () {
    const f = await loadFixture(storeFixture);
    const server = await startServer(f.chainId);
    try {
      const api = new SafeApiKit({ chainId: BigInt(f.chainId), txServiceUrl: server.api });
      const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, server.backing);
      const info = await api.getSafeInfo(f.opsSafe);
      const n = Number(info.nonce);
      expect(info).to.deep.include({ address: f.opsSafe, threshold: 2, owners: await queue.owners() });
      expect([f.system.safe.Safe, f.system.safe.SafeL2]).to.include(info.singleton);
      expect([info.version, info.fallbackHandler, info.modules, info.guard]).to.deep.equal([
        "1.5.0",
        f.system.safe.CompatibilityFallbackHandler,
        [],
        ethers.ZeroAddress,
      ]);
      expect(await api.getNextNonce(f.opsSafe)).to.equal(String(n));
      // Proposed by owner 1 straight through api-kit, as Safe{Wallet} or any other client does.
      const data = await distributionTx(f, n);
      const hash = safeTxHash(f.chainId, f.opsSafe, data);
      await api.proposeTransaction({
        safeAddress: f.opsSafe,
        safeTransactionData: data,
        safeTxHash: hash,
        senderAddress: wallet(1).address,
        senderSignature: await signSafeTx(wallet(1), f.chainId, f.opsSafe, data),
        origin: "distribution",
      });
      const second = await distributionTx(f, n + 1);
      await api.proposeTransaction({
        safeAddress: f.opsSafe,
        safeTransactionData: second,
        safeTxHash: safeTxHash(f.chainId, f.opsSafe, second),
        senderAddress: wallet(2).address,
        senderSignature: await signSafeTx(wallet(2), f.chainId, f.opsSafe, second),
      });
      expect(await api.getNextNonce(f.opsSafe)).to.equal(String(n + 2));
      let pending = await api.getPendingTransactions(f.opsSafe, { ordering: "nonce" });
      expect(pending.count).to.equal(2);
      expect(pending.results.map((t) => [t.nonce, t.safeTxHash, t.isExecuted, t.confirmations?.length])).to.deep.equal([
        [String(n), hash, false, 1],
        [String(n + 1), safeTxHash(f.chainId, f.opsSafe, second), false, 1],
      ]);
      const one = await api.getTransaction(hash);
      expect(one).to.deep.include({
        safe: f.opsSafe,
        to: data.to,
        data: data.data,
        nonce: String(n),
        origin: "distribution",
        confirmationsRequired: 2,
        isExecuted: false,
        transactionHash: null,
      });
      expect(one.confirmations!.map((c) => [c.owner, c.signatureType])).to.deep.equal([[wallet(1).address, "EOA"]]);
      // The second owner confirms through api-kit: the owner is recovered from the signature.
      const signature = await signSafeTx(wallet(3), f.chainId, f.opsSafe, data);
      expect(await api.confirmTransaction(hash, signature)).to.deep.equal({ signature });
      expect((await api.getTransactionConfirmations(hash)).results.map((c) => c.owner).sort()).to.deep.equal(
        [wallet(1).address, wallet(3).address].sort(),
      );
      const page = await api.getMultisigTransactions(f.opsSafe, { limit: 1, ordering: "nonce" });
      expect([page.count, page.results.length, page.results[0].nonce]).to.deep.equal([2, 1, String(n)]);
      expect(page.next).to.match(/[?&]offset=1(&|$)/);
      // Executed: listed as executed with the transaction that ran it, no longer pending.
      const executedIn = await queue.execute(f.connection, f.stranger.address, hash);
      const executed = await api.getMultisigTransactions(f.opsSafe, { executed: true });
      expect(
        executed.results.map((t) => [t.safeTxHash, t.isExecuted, t.isSuccessful, t.transactionHash]),
      ).to.deep.equal([[hash, true, true, executedIn]]);
      expect(executed.results[0].executor).to.equal(f.stranger.address);
      expect(executed.results[0].blockNumber).to.equal(
        (await ethers.provider.getTransactionReceipt(executedIn))!.blockNumber,
      );
      pending = await api.getPendingTransactions(f.opsSafe);
      expect(pending.results.map((t) => t.nonce)).to.deep.equal([String(n + 1)]);
      expect(await api.getNextNonce(f.opsSafe)).to.equal(String(n + 2));
      expect((await api.getSafeInfo(f.opsSafe)).nonce).to.equal(String(n + 1));
      // Through the store, the same: executed, with its hash.
      const store = new TransactionServiceStore(f.chainId, server.api);
      expect((await store.get(f.opsSafe, hash))?.executedIn).to.equal(executedIn);
      // Asked for under another Safe: not that Safe's.
      expect(await store.get(f.stranger.address, hash)).to.equal(undefined);
      expect(await store.get(f.opsSafe, ethers.id("nothing"))).to.equal(undefined);
    } finally {
      await server.close();
    }
  });

  it("takes a transaction only with an owner's signature on it: the server refuses the others, a reader ignores them", async function () {
    const f = await loadFixture(storeFixture);
    const server = await startServer(f.chainId);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, server.backing);
    try {
      const api = new SafeApiKit({ chainId: BigInt(f.chainId), txServiceUrl: server.api });
      const data = await distributionTx(f, await queue.nextNonce());
      const tx = { chainId: f.chainId, safe: f.opsSafe, safeTxHash: safeTxHash(f.chainId, f.opsSafe, data), data };
      const propose = async (sender: string, signature: string) =>
        api
          .proposeTransaction({
            safeAddress: f.opsSafe,
            safeTransactionData: data,
            safeTxHash: tx.safeTxHash,
            senderAddress: sender,
            senderSignature: signature,
          })
          .then(
            () => "201",
            (e: Error & { statusCode?: number }) => `${e.statusCode} ${e.message}`,
          );
      const stranger = wallet(11);
      const strangers = await signSafeTx(stranger, f.chainId, f.opsSafe, data);
      // Unsigned: api-kit sends no signature at all.
      expect(await propose(wallet(1).address, undefined as unknown as string)).to.equal(
        "400 transaction: signature: required: an owner's 65-byte signature",
      );
      expect(await propose(stranger.address, strangers)).to.equal(
        `400 ${stranger.address} is not an owner of the Safe`,
      );
      expect(await propose(wallet(1).address, strangers)).to.equal(
        `400 the signature is not ${wallet(1).address}'s for this transaction (it recovers to ${stranger.address})`,
      );
      expect(await queue.list()).to.deep.equal([]);
      expect((await api.getMultisigTransactions(f.opsSafe)).count).to.equal(0);
      // A stranger's confirmation of an unknown transaction, then of a known one.
      const confirm = (signature: string) =>
        api.confirmTransaction(tx.safeTxHash, signature).then(
          () => "201",
          (e: Error & { statusCode?: number }) => `${e.statusCode} ${e.message}`,
        );
      expect(await confirm(strangers)).to.equal(`404 no transaction ${tx.safeTxHash}`);
      // Written straight into a shared directory with no owner's signature: nobody's decision.
      await server.backing.putTransaction(tx, { owner: stranger.address, signature: strangers });
      expect(await queue.list()).to.deep.equal([]);
      expect(await queue.nextNonce()).to.equal(data.nonce);
      await expect(queue.entry(tx.safeTxHash)).to.be.rejectedWith(/^no transaction 0x[0-9a-f]{64} for Safe/);
      expect(await confirm(strangers)).to.equal(`400 ${stranger.address} is not an owner of the Safe`);
      // With an owner's signature it is taken, and listed with that confirmation.
      expect(await propose(wallet(1).address, await signSafeTx(wallet(1), f.chainId, f.opsSafe, data))).to.equal("201");
      expect((await queue.list()).map((t) => [t.safeTxHash, t.confirmations])).to.deep.equal([
        [tx.safeTxHash, [wallet(1).address]],
      ]);
      // Through the store, a non-owner cannot propose either.
      const remote = new SafeQueue(
        ethers.provider,
        f.chainId,
        f.opsSafe,
        new TransactionServiceStore(f.chainId, server.api),
      );
      await expect(remote.propose({ ...data, nonce: data.nonce + 1 }, undefined, stranger)).to.be.rejectedWith(
        `${stranger.address} is not an owner of the Safe`,
      );
    } finally {
      await server.close();
    }
  });

  it("refuses a forged, foreign, duplicate or mistaken signature, saying why", async function () {
    const f = await loadFixture(storeFixture);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, tempSignatureStore());
    const tx = await queue.propose(await distributionTx(f, await queue.nextNonce()), undefined, wallet(2));
    const g1 = wallet(1);
    const stranger = wallet(11);
    const good = await signSafeTx(g1, f.chainId, f.opsSafe, tx.data);
    // Signed by someone else but claimed as an owner's.
    const forged = await signSafeTx(stranger, f.chainId, f.opsSafe, tx.data);
    await expect(queue.addSignature(tx.safeTxHash, g1.address, forged)).to.be.rejectedWith(
      `the signature is not ${g1.address}'s for this transaction (it recovers to ${stranger.address})`,
    );
    // A genuine signature of somebody who is not an owner.
    await expect(queue.addSignature(tx.safeTxHash, stranger.address, forged)).to.be.rejectedWith(
      `${stranger.address} is not an owner of the Safe`,
    );
    // An owner's signature of another transaction (another nonce).
    const otherTx = { ...tx.data, nonce: tx.data.nonce + 5 };
    const wrong = await signSafeTx(g1, f.chainId, f.opsSafe, otherTx);
    await expect(queue.addSignature(tx.safeTxHash, g1.address, wrong)).to.be.rejectedWith(/recovers to 0x/);
    await queue.addSignature(tx.safeTxHash, g1.address, good);
    await expect(queue.addSignature(tx.safeTxHash, g1.address, good)).to.be.rejectedWith(
      `${g1.address} already signed this transaction`,
    );
    await expect(queue.addSignature(ethers.id("nothing"), g1.address, good)).to.be.rejectedWith(/no transaction 0x/);
    await expect(queue.addSignature(tx.safeTxHash, g1.address, "0x" + "00".repeat(65))).to.be.rejectedWith(
      "not a valid signature: signature type v=0 is not an owner's ECDSA signature",
    );
    expect((await queue.entry(tx.safeTxHash)).confirmations.sort()).to.deep.equal(
      [g1.address, wallet(2).address].sort(),
    );
    // A transaction whose nonce is already used is not even stored.
    await expect(queue.propose({ ...tx.data, nonce: 0 }, undefined, g1)).to.be.rejectedWith(
      /^stale: nonce 0 is below the Safe's next nonce 1/,
    );
  });

  it("counts an on-chain approveHash as a confirmation", async function () {
    const f = await loadFixture(storeFixture);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, tempSignatureStore());
    const tx = await queue.propose(await distributionTx(f, await queue.nextNonce()), undefined, wallet(1));
    await queue.approveOnChain(f.connection, f.guardians[2].address, tx.safeTxHash);
    const entry = await queue.entry(tx.safeTxHash);
    expect(entry.confirmations.sort()).to.deep.equal([f.guardians[0].address, f.guardians[2].address].sort());
    // Executed as a plain execTransaction by a signer that is no owner (the bot's managed signer).
    const executedIn = await queue.executeWith(f.stranger, tx.safeTxHash);
    const entry2 = await queue.entry(tx.safeTxHash);
    expect([entry2.status, entry2.transactionHash]).to.deep.equal(["executed", executedIn]);
    expect(await queue.wasExecuted(tx.safeTxHash)).to.equal(true);
    await expect(queue.executeWith(f.stranger, tx.safeTxHash)).to.be.rejectedWith(`already executed in ${executedIn}`);
  });

  it("assigns nonces explicitly; a rejection unblocks a queue held up by a transaction nobody else signs", async function () {
    const f = await loadFixture(storeFixture);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, tempSignatureStore());
    const n = await queue.nextNonce();
    const stuck = await queue.propose(await distributionTx(f, n), "nobody else signs this", wallet(1));
    expect(await queue.nextNonce()).to.equal(n + 1);
    const next = await queue.propose(await distributionTx(f, n + 1), "the one that matters", wallet(1));
    for (const i of [2])
      await queue.addSignature(
        next.safeTxHash,
        wallet(i).address,
        await signSafeTx(wallet(i), f.chainId, f.opsSafe, next.data),
      );
    expect((await queue.entry(next.safeTxHash)).status).to.equal("blocked");
    await expect(queue.execute(f.connection, f.guardians[0].address, next.safeTxHash)).to.be.rejectedWith(
      `blocked: nonce ${n + 1} waits for nonce ${n} to execute first`,
    );
    // The owners reject nonce n instead of the stuck transaction.
    const rejection = await queue.proposeRejection(n, wallet(2));
    for (const i of [3]) {
      await queue.addSignature(
        rejection.safeTxHash,
        wallet(i).address,
        await signSafeTx(wallet(i), f.chainId, f.opsSafe, rejection.data),
      );
    }
    const rejectedIn = await queue.execute(f.connection, f.guardians[0].address, rejection.safeTxHash);
    // Its nonce used by the rejection: the stuck one is stale, the rejection executed.
    expect((await queue.entry(stuck.safeTxHash)).status).to.equal("stale");
    expect((await queue.entry(stuck.safeTxHash)).transactionHash).to.equal(undefined);
    expect((await queue.entry(rejection.safeTxHash)).transactionHash).to.equal(rejectedIn);
    expect((await queue.entry(next.safeTxHash)).status).to.equal("executable");
    await queue.execute(f.connection, f.guardians[0].address, next.safeTxHash);
    expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.be.greaterThan(0);
  });

  it("batches several actions in one Safe transaction through the canonical MultiSendCallOnly, decoded call by call", async function () {
    const f = await loadFixture(storeFixture);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, tempSignatureStore());
    const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
    const calls = [
      ...distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE }).calls,
      ...operators(f.core, { cluster: f.cluster, add: [f.stranger.address] }).calls,
    ].map((c) => ({ to: c.target, data: c.data }));
    const data = await buildSafeTxData(f.connection, f.guardians[0].address, calls, await queue.nextNonce());
    expect([data.to, data.operation]).to.deep.equal([f.system.safe.MultiSendCallOnly, 1]);
    const decoded = decodeCall({ ...data, value: BigInt(data.value) }, { contracts: { ...f.system.contracts } });
    expect(decoded.calls!.map((c) => c.function)).to.deep.equal(["clusterDistributeRevenues", "clusterSetOperator"]);
    expect(decoded.warnings).to.deep.equal([]);
    expect(safeTxProblems(data, { chainId: f.chainId, contracts: f.system.contracts })).to.deep.equal([]);
    const tx = await queue.propose(data, undefined, wallet(1));
    for (const i of [3])
      await queue.addSignature(
        tx.safeTxHash,
        wallet(i).address,
        await signSafeTx(wallet(i), f.chainId, f.opsSafe, tx.data),
      );
    await queue.execute(f.connection, f.guardians[1].address, tx.safeTxHash);
    expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.equal(era + 1n);
    expect(await f.system.ddc.clusterOperators(f.cluster)).to.deep.equal([f.stranger.address]);
  });

  it("decodes a delegatecall to the plain MultiSend or to a MultiSendCallOnly deployed elsewhere as a danger, not as a batch", async function () {
    const f = await loadFixture(storeFixture);
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, tempSignatureStore());
    const era = (await f.system.ddc.clusterEra(f.cluster)).era - 1n;
    const calls = [
      ...distribution(f.core, { cluster: f.cluster, era, ineligible: [], evidenceHash: EVIDENCE }).calls,
      ...operators(f.core, { cluster: f.cluster, add: [f.stranger.address] }).calls,
    ].map((c) => ({ to: c.target, data: c.data }));
    const canonical = await buildSafeTxData(f.connection, f.guardians[0].address, calls, await queue.nextNonce());
    // The same audited code, deployed again by anyone: the address is what the rule trusts.
    const { abi, bytecode } = safeArtifact("MultiSendCallOnly");
    const again = await new ContractFactory(abi as never[], bytecode, f.stranger).deploy();
    const elsewhere = await again.getAddress();
    const trust = { chainId: f.chainId, contracts: { ...f.system.contracts } };
    for (const [to, name] of [
      [f.system.safe.MultiSend, " (MultiSend)"],
      [elsewhere, ""],
    ]) {
      const decoded = decodeSafeTransaction({ ...canonical, to }, trust);
      expect(decoded.calls, to).to.equal(undefined);
      expect(decoded.text).to.match(new RegExp(`^DANGEROUS delegatecall to ${to}: `));
      expect(decoded.problems).to.deep.equal([
        `a delegatecall to ${to}${name}, which is not the canonical MultiSendCallOnly ` +
          `(it is ${f.system.safe.MultiSendCallOnly}): it runs that contract's code with the Safe's own storage ` +
          "and funds, and can take over the Safe",
      ]);
      expect(decoded.warnings[0]).to.equal(decoded.problems[0]);
    }
    const ok = decodeSafeTransaction(canonical, trust);
    expect([ok.text, ok.problems, ok.warnings]).to.deep.equal(["MultiSendCallOnly batch of 2 calls", [], []]);
  });

  it("the signature server refuses malformed input with the reason and a 4xx", async function () {
    const f = await loadFixture(storeFixture);
    const server = await startServer(f.chainId);
    try {
      const call = async (method: string, path: string, body?: string) => {
        const r = await fetch(server.api + path, {
          method,
          headers: body === undefined ? {} : { "content-type": "application/json" },
          body,
        });
        return [r.status, await r.json()];
      };
      const post = (path: string, body: unknown) => call("POST", path, JSON.stringify(body));
      expect(await post(`/v2/safes/0x1234/multisig-transactions/`, {})).to.deep.equal([
        400,
        { detail: "path: safe: a Safe address" },
      ]);
      expect(await post(`/v2/safes/${f.opsSafe}/multisig-transactions/`, { chainId: 1 })).to.deep.equal([
        400,
        { detail: "transaction: to: Invalid input: expected string, received undefined" },
      ]);
      expect(await call("POST", `/v2/safes/${f.opsSafe}/multisig-transactions/`, "{not json")).to.deep.include(400);
      const data = await distributionTx(f, 1);
      const proposal = {
        ...data,
        contractTransactionHash: safeTxHash(f.chainId, f.opsSafe, data),
        sender: wallet(1).address,
        signature: await signSafeTx(wallet(1), f.chainId, f.opsSafe, data),
      };
      expect(await post(`/v2/safes/${f.opsSafe}/multisig-transactions/`, { ...proposal, operation: 2 })).to.deep.equal([
        400,
        { detail: "transaction: operation: Invalid input" },
      ]);
      expect(
        await post(`/v2/safes/${f.opsSafe}/multisig-transactions/`, {
          ...proposal,
          contractTransactionHash: ethers.id("x"),
        }),
      ).to.deep.equal([
        400,
        { detail: `the transaction's hash is ${proposal.contractTransactionHash}, not ${ethers.id("x")}` },
      ]);
      // Not a Safe: 404.
      expect(await post(`/v2/safes/${f.stranger.address}/multisig-transactions/`, proposal)).to.deep.equal([
        404,
        { detail: `no Safe at ${f.stranger.address} on this chain` },
      ]);
      const hash = ethers.id("x");
      expect(await post(`/v1/multisig-transactions/${hash}/confirmations/`, { signature: "0x00" })).to.deep.equal([
        400,
        { detail: "confirmation: signature: an owner's 65-byte signature (0x + 130 hex digits)" },
      ]);
      expect(await call("GET", `/v2/multisig-transactions/${hash}/`)).to.deep.equal([
        404,
        { detail: `no transaction ${hash}` },
      ]);
      expect(await call("GET", `/v2/safes/${f.opsSafe}/multisig-transactions/?limit=abc`)).to.deep.equal([
        400,
        { detail: "query: limit: a non-negative integer" },
      ]);
      expect(await call("GET", `/v2/safes/${f.opsSafe}/multisig-transactions/?executed=maybe`)).to.deep.equal([
        400,
        { detail: "query: executed: true or false" },
      ]);
      expect(await call("GET", `/v1/delegates/`)).to.deep.equal([
        404,
        { detail: "no such endpoint: GET /api/v1/delegates/" },
      ]);
    } finally {
      await server.close();
    }
  });
});
