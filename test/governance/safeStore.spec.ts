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
import { createSignatureServer, HttpSignatureStore } from "../../governance/safeServer";
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
 * Signs a stored Safe transaction in a separate Node process, with account `index`, and posts the
 * signature to the HTTP store: what an owner on another machine does.
 */
async function signFromAnotherProcess(url: string, safe: string, hash: string, index: number): Promise<string> {
  const script = `
    const { HDNodeWallet } = require("ethers");
    (async () => {
      const base = process.env.STORE_URL, safe = process.env.SAFE, hash = process.env.HASH;
      const tx = await (await fetch(base + "/safes/" + safe + "/transactions/" + hash)).json();
      const w = HDNodeWallet.fromPhrase(process.env.MNEMONIC, undefined, "m/44'/60'/0'/0/" + process.env.INDEX);
      const types = { SafeTx: [["to","address"],["value","uint256"],["data","bytes"],["operation","uint8"],
        ["safeTxGas","uint256"],["baseGas","uint256"],["gasPrice","uint256"],["gasToken","address"],
        ["refundReceiver","address"],["nonce","uint256"]].map(([name, type]) => ({ name, type })) };
      const signature = await w.signTypedData({ chainId: tx.chainId, verifyingContract: safe }, types, tx.data);
      const r = await fetch(base + "/safes/" + safe + "/transactions/" + hash + "/signatures", {
        method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ owner: w.address, signature }) });
      console.log(r.status, JSON.stringify(await r.json()));
    })();`;
  const { stdout } = await run(process.execPath, ["-e", script], {
    cwd: ROOT,
    env: { ...process.env, STORE_URL: url, SAFE: safe, HASH: hash, INDEX: String(index), MNEMONIC: DEV_MNEMONIC },
  });
  return stdout.trim();
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
  it("two owners sign from two processes through the HTTP store; it executes at the threshold, not before", async function () {
    const f = await loadFixture(storeFixture);
    const backing = tempSignatureStore();
    const queueFor = (safe: string) => new SafeQueue(ethers.provider, f.chainId, safe, backing);
    const server = createSignatureServer({ store: backing, queueFor });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    try {
      const http: SignatureStore = new HttpSignatureStore(url);
      const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, http);
      const nonce = await queue.nextNonce();
      // Stored with its proposer's signature (owner 1): one owner is not enough.
      const tx = await queue.propose(await distributionTx(f, nonce), "distribution", wallet(1));
      expect(tx.safeTxHash).to.equal(safeTxHash(f.chainId, f.opsSafe, tx.data));
      let entry = await queue.entry(tx.safeTxHash);
      expect([entry.confirmations.length, entry.threshold, entry.status]).to.deep.equal([1, 2, "pending"]);
      await expect(queue.execute(f.connection, f.guardians[2].address, tx.safeTxHash)).to.be.rejectedWith(
        "1 of 2 confirmations: 1 missing",
      );
      // A second owner from another process: executable; anyone executes.
      expect(await signFromAnotherProcess(url, f.opsSafe, tx.safeTxHash, 2)).to.equal('200 {"ok":true}');
      entry = await queue.entry(tx.safeTxHash);
      expect(entry.confirmations.sort()).to.deep.equal([f.guardians[0].address, f.guardians[1].address].sort());
      expect(entry.status).to.equal("executable");
      await queue.execute(f.connection, f.stranger.address, tx.safeTxHash);
      expect((await f.system.ddc.clusterRevenue(f.cluster)).nextEra).to.be.greaterThan(0);
      expect((await queue.entry(tx.safeTxHash)).status).to.equal("stale");
      // A late signature of the executed transaction: refused as stale.
      const late = await signFromAnotherProcess(url, f.opsSafe, tx.safeTxHash, 3);
      expect(late).to.equal(`400 {"error":"stale: nonce ${nonce} is already used (the Safe is at ${nonce + 1})"}`);
    } finally {
      await server.close();
    }
  });

  it("takes a transaction only with an owner's signature on it: the server refuses the others, a reader ignores them", async function () {
    const f = await loadFixture(storeFixture);
    const backing = tempSignatureStore();
    const queue = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, backing);
    const server = createSignatureServer({
      store: backing,
      queueFor: (safe) => new SafeQueue(ethers.provider, f.chainId, safe, backing),
    });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    try {
      const data = await distributionTx(f, await queue.nextNonce());
      const tx = { chainId: f.chainId, safe: f.opsSafe, safeTxHash: safeTxHash(f.chainId, f.opsSafe, data), data };
      const post = async (body: unknown) => {
        const r = await fetch(`${url}/safes/${f.opsSafe}/transactions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return `${r.status} ${JSON.stringify(await r.json())}`;
      };
      const stranger = wallet(11);
      const strangers = await signSafeTx(stranger, f.chainId, f.opsSafe, data);
      expect(await post(tx)).to.equal(
        '400 {"error":"transaction: signature: Invalid input: expected object, received undefined"}',
      );
      expect(await post({ ...tx, signature: { owner: stranger.address, signature: strangers } })).to.equal(
        `400 {"error":"${stranger.address} is not an owner of the Safe"}`,
      );
      expect(await post({ ...tx, signature: { owner: wallet(1).address, signature: strangers } })).to.equal(
        `400 {"error":"the signature is not ${wallet(1).address}'s for this transaction (it recovers to ${stranger.address})"}`,
      );
      expect(await queue.list()).to.deep.equal([]);
      // Written straight into a shared directory with no owner's signature: nobody's decision.
      await backing.putTransaction(tx, { owner: stranger.address, signature: strangers });
      expect(await queue.list()).to.deep.equal([]);
      expect(await queue.nextNonce()).to.equal(data.nonce);
      await expect(queue.entry(tx.safeTxHash)).to.be.rejectedWith(/^no transaction 0x[0-9a-f]{64} for Safe/);
      // With an owner's signature it is taken, and listed with that confirmation.
      const owners = await signSafeTx(wallet(1), f.chainId, f.opsSafe, data);
      const taken = await post({ ...tx, description: "x", signature: { owner: wallet(1).address, signature: owners } });
      expect(taken).to.match(/^200 /);
      expect((await queue.list()).map((t) => [t.safeTxHash, t.confirmations])).to.deep.equal([
        [tx.safeTxHash, [wallet(1).address]],
      ]);
      // Through the HTTP store, a non-owner cannot propose either.
      const http = new SafeQueue(ethers.provider, f.chainId, f.opsSafe, new HttpSignatureStore(url));
      await expect(http.propose({ ...data, nonce: data.nonce + 1 }, undefined, stranger)).to.be.rejectedWith(
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
    await queue.executeWith(f.stranger, tx.safeTxHash);
    expect((await queue.entry(tx.safeTxHash)).status).to.equal("stale");
    expect(await queue.wasExecuted(tx.safeTxHash)).to.equal(true);
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
    await queue.execute(f.connection, f.guardians[0].address, rejection.safeTxHash);
    expect((await queue.entry(stuck.safeTxHash)).status).to.equal("stale");
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

  it("the HTTP store refuses malformed input with the reason and 400", async function () {
    const f = await loadFixture(storeFixture);
    const backing = tempSignatureStore();
    const server = createSignatureServer({
      store: backing,
      queueFor: (s) => new SafeQueue(ethers.provider, f.chainId, s, backing),
    });
    const url = await server.listen({ host: "127.0.0.1", port: 0 });
    try {
      const post = async (path: string, body: unknown) => {
        const r = await fetch(url + path, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
        });
        return [r.status, await r.json()];
      };
      expect(await post(`/safes/0x1234/transactions`, {})).to.deep.equal([
        400,
        { error: "path: safe: a Safe address" },
      ]);
      expect(await post(`/safes/${f.opsSafe}/transactions`, { chainId: 1 })).to.deep.equal([
        400,
        { error: "transaction: safe: Invalid input: expected string, received undefined" },
      ]);
      const hash = ethers.id("x");
      expect(
        await post(`/safes/${f.opsSafe}/transactions/${hash}/signatures`, {
          owner: f.guardians[0].address,
          signature: "0x00",
        }),
      ).to.deep.equal([400, { error: "signature: signature: a 65-byte signature" }]);
      const r = await fetch(`${url}/safes/${f.opsSafe}/transactions/${hash}`);
      expect(r.status).to.equal(404);
    } finally {
      await server.close();
    }
  });
});
