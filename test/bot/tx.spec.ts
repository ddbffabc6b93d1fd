import { expect } from "chai";
import { ethers, network } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";
import {
  FetchRequest,
  JsonRpcProvider,
  Wallet,
  makeError,
  parseUnits,
  toUtf8Bytes,
  toUtf8String,
  type Provider,
} from "ethers";
import { decodeRevert } from "../../cli/errors";
import {
  DEFAULT_TX_OPTIONS,
  ManagedSigner,
  TxError,
  isRevert,
  isTransient,
  type ManagedSignerOptions,
  type TxErrorKind,
  type TxEvent,
} from "../../manager-bot/src/tx";
import { TestStablecoin__factory } from "../../typechain-types";
import { devAccount } from "../helpers/temp";

// Accounts 14–19 are this spec's own: no other spec sends from them.
const wallet = (i: number) => devAccount(i, ethers.provider);
const GWEI = parseUnits("1", "gwei");
const SINK = "0x000000000000000000000000000000000000dEaD";
/** Short waits: a receipt timeout of 300 ms, polls every 20 ms, retries after 1–5 ms. */
const FAST: ManagedSignerOptions = {
  maxFeePerGasCap: 1_000n * GWEI,
  receiptTimeoutMs: 300,
  pollMs: 20,
  retryBaseMs: 1,
  retryMaxMs: 5,
};

/** A ManagedSigner of dev account `i`, recording its events; `on` reacts to them (its promises are kept in `work`). */
function managed(
  i: number,
  options: ManagedSignerOptions = {},
  on?: (e: TxEvent) => Promise<unknown> | undefined,
  provider: Provider = ethers.provider,
) {
  const events: TxEvent[] = [];
  const work: Promise<unknown>[] = [];
  const signer = new ManagedSigner(wallet(i), provider, {
    ...FAST,
    ...options,
    events: (e) => {
      events.push(e);
      const w = on?.(e);
      if (w !== undefined) work.push(w);
    },
  });
  const of = (type: TxEvent["type"]) => events.filter((e) => e.type === type);
  return { signer, events, of, work, address: wallet(i).address };
}

async function txError(promise: Promise<unknown>, kind: TxErrorKind): Promise<TxError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(TxError);
    expect((error as TxError).kind, (error as Error).message).to.equal(kind);
    return error as TxError;
  }
  throw new Error(`expected a TxError "${kind}", the send succeeded`);
}

const pending = (address: string) => ethers.provider.getTransactionCount(address, "pending");
const baseFee = async () => (await ethers.provider.getBlock("latest"))!.baseFeePerGas!;
const setAutomine = (on: boolean) => network.provider.send("evm_setAutomine", [on]);

function econnreset(): Error {
  return Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET", errno: -104, syscall: "read" });
}

/**
 * `target` behind a proxy that counts calls per method and, as `fault` says for the n-th call of a
 * method, fails with ECONNRESET before reaching the node ("fail") or after it answered ("lose-answer").
 */
function faulty(target: Provider, fault: (method: string, n: number) => "fail" | "lose-answer" | undefined) {
  const calls: Record<string, number> = {};
  const provider = new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      return async (...args: unknown[]) => {
        const n = (calls[prop] = (calls[prop] ?? 0) + 1);
        const f = fault(prop, n);
        if (f === "fail") throw econnreset();
        const result: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        if (f === "lose-answer") throw econnreset();
        return result;
      };
    },
  });
  return { provider, calls };
}

/** The error a JsonRpcProvider throws for a node answering HTTP `status`, or the JSON-RPC `error`. */
async function rpcFailure(answer: { status?: number; error?: { code: number; message: string; data?: string } }) {
  const request = new FetchRequest("http://rpc.test");
  request.retryFunc = async () => false;
  request.getUrlFunc = async (req) => {
    const sent = JSON.parse(toUtf8String(req.body!)) as { id: number } | { id: number }[];
    const reply = (id: number) => ({ jsonrpc: "2.0", id, error: answer.error ?? { code: -32603, message: "x" } });
    const body = Array.isArray(sent) ? sent.map((s) => reply(s.id)) : reply(sent.id);
    return {
      statusCode: answer.status ?? 200,
      statusMessage: "",
      headers: { "content-type": "application/json" },
      body: toUtf8Bytes(JSON.stringify(body)),
    };
  };
  const provider = new JsonRpcProvider(request, 31337, { staticNetwork: true });
  try {
    await provider.call({ to: SINK, data: "0x" });
  } catch (error) {
    return error;
  } finally {
    provider.destroy();
  }
  throw new Error("expected the call to fail");
}

async function tokenFixture() {
  const owner = devAccount(16, ethers.provider);
  const token = await new TestStablecoin__factory(owner).deploy(owner.address);
  await (await token.mint(owner.address, 1_000n)).wait();
  return { token, owner };
}

describe("manager bot: ManagedSigner (tx.ts)", function () {
  afterEach(async function () {
    // A test that turned automine off may leave transactions behind: mine them.
    await setAutomine(true);
    await network.provider.send("evm_mine");
  });

  describe("nonces", function () {
    it("gives ten concurrent sends consecutive nonces, and all are mined", async function () {
      const { signer, address, of } = managed(14);
      const start = await pending(address);
      const sent = await Promise.all(
        Array.from({ length: 10 }, (_, i) => signer.sendTransaction({ to: SINK, value: BigInt(i + 1) })),
      );
      expect(sent.map((t) => t.nonce).sort((a, b) => a - b)).to.deep.equal(
        Array.from({ length: 10 }, (_, i) => start + i),
      );
      const receipts = await Promise.all(sent.map((t) => t.wait()));
      expect(receipts.map((r) => r!.status)).to.deep.equal(Array(10).fill(1));
      expect(await ethers.provider.getTransactionCount(address, "latest")).to.equal(start + 10);
      expect(of("sent")).to.have.length(10);
      expect(of("mined")).to.have.length(10);
    });

    it("starts after the transactions another signer sent with the key", async function () {
      const other = wallet(15);
      await (await other.sendTransaction({ to: SINK, value: 1n })).wait();
      await (await other.sendTransaction({ to: SINK, value: 1n })).wait();
      const { signer, address } = managed(15);
      const count = await pending(address);
      const tx = await signer.sendTransaction({ to: SINK, value: 1n });
      expect(tx.nonce).to.equal(count);
      expect(await signer.reconcile()).to.deep.equal({ latest: count + 1, pending: count + 1, next: count + 1 });
    });

    it("reconciles with the mempool: a transaction waiting there counts (pending, not latest)", async function () {
      const { signer, address } = managed(15);
      const latest = await ethers.provider.getTransactionCount(address, "latest");
      await setAutomine(false);
      await wallet(15).sendTransaction({ to: SINK, value: 1n, nonce: latest });
      expect(await signer.reconcile()).to.deep.equal({ latest, pending: latest + 1, next: latest + 1 });
    });

    it("takes the next nonce, once, when another process used the one it had", async function () {
      const { signer, address, of } = managed(15);
      await signer.sendTransaction({ to: SINK, value: 1n });
      // Another process with the same key: this signer's next nonce is now used.
      const theirs = await wallet(15).sendTransaction({ to: SINK, value: 2n });
      const ours = await signer.sendTransaction({ to: SINK, value: 3n });
      expect(ours.nonce).to.equal(theirs.nonce + 1);
      expect(ours.value).to.equal(3n);
      expect(await pending(address)).to.equal(ours.nonce + 1);
      expect(of("sent")).to.have.length(2);
    });
  });

  describe("fees", function () {
    it("signs maxFeePerGas = 2 × base fee + priority fee, and the cap when that is lower", async function () {
      const priorityFee = 2n * GWEI;
      const { signer } = managed(17, { priorityFee });
      const b1 = await baseFee();
      const tx = await signer.sendTransaction({ to: SINK, value: 1n });
      expect(tx.maxFeePerGas).to.equal(2n * b1 + priorityFee);
      expect(tx.maxPriorityFeePerGas).to.equal(priorityFee);

      const b2 = await baseFee();
      const cap = b2 + priorityFee + 1n; // above what is needed now, below 2 × base fee + priority fee
      const capped = await managed(17, { priorityFee, maxFeePerGasCap: cap }).signer.sendTransaction({ to: SINK });
      expect(capped.maxFeePerGas).to.equal(cap);
    });

    it("refuses with fee-cap naming the fee needed and the cap, and sends nothing", async function () {
      const { signer, address, of } = managed(17, { maxFeePerGasCap: GWEI, priorityFee: GWEI });
      const before = await pending(address);
      const needed = (await baseFee()) + GWEI;
      const e = await txError(signer.sendTransaction({ to: SINK, value: 1n }), "fee-cap");
      expect(e.message).to.contain(`${needed} wei/gas`).and.contain(`cap of ${GWEI} wei/gas`);
      expect(await pending(address)).to.equal(before);
      expect(of("sent")).to.be.empty;
    });

    it("refuses a caller's maxFeePerGas above the cap", async function () {
      const { signer, address } = managed(17, { maxFeePerGasCap: 100n * GWEI });
      const before = await pending(address);
      const e = await txError(signer.sendTransaction({ to: SINK, maxFeePerGas: 101n * GWEI }), "fee-cap");
      expect(e.message).to.contain(`${101n * GWEI} wei/gas`);
      expect(await pending(address)).to.equal(before);
    });
  });

  describe("simulation", function () {
    it("refuses a reverting call with its revert data, and sends nothing", async function () {
      const { token, owner } = await loadFixture(tokenFixture);
      const { signer, of } = managed(16);
      const before = await pending(owner.address);
      const e = await txError(token.connect(signer).transfer(SINK, 1_001n), "reverted");
      expect(e.decoded?.name).to.equal("ERC20InsufficientBalance");
      expect(decodeRevert(e.data)?.text).to.equal(
        `ERC20InsufficientBalance(sender=${owner.address}, balance=1000, needed=1001)`,
      );
      expect(e.message).to.contain("nothing was sent");
      expect(await pending(owner.address)).to.equal(before);
      expect(of("sent")).to.be.empty;
    });

    it("serves typechain contracts: a deployment and a call return mined, and .wait() gives the receipt", async function () {
      const { signer, address, of } = managed(16);
      const token = await new TestStablecoin__factory(signer).deploy(address);
      const deployment = token.deploymentTransaction()!;
      expect(deployment.blockNumber).to.not.equal(null);
      const minted = await token.mint(SINK, 5n);
      expect(minted.blockNumber).to.not.equal(null);
      expect((await minted.wait())!.status).to.equal(1);
      expect(await token.balanceOf(SINK)).to.equal(5n);
      expect(of("mined").map((e) => e.hash)).to.deep.equal([deployment.hash, minted.hash]);
    });

    it("adds the margin to the gas estimate, and keeps a caller's gasLimit", async function () {
      const { signer, address } = managed(18, { gasMarginPercent: 20 });
      const estimate = await ethers.provider.estimateGas({ from: address, to: SINK, value: 1n });
      expect((await signer.sendTransaction({ to: SINK, value: 1n })).gasLimit).to.equal((estimate * 120n + 99n) / 100n);
      expect((await signer.sendTransaction({ to: SINK, value: 1n, gasLimit: 50_000n })).gasLimit).to.equal(50_000n);
    });

    it("refuses with funds when the key cannot pay for gas, and sends nothing", async function () {
      const poor = Wallet.createRandom();
      const events: TxEvent[] = [];
      const signer = new ManagedSigner(poor, ethers.provider, { ...FAST, events: (e) => events.push(e) });
      await txError(signer.sendTransaction({ to: SINK }), "funds");
      expect(await pending(poor.address)).to.equal(0);
      expect(events.filter((e) => e.type === "sent")).to.be.empty;
    });

    it("refuses a nonce chosen by the caller", async function () {
      const { signer, address } = managed(18);
      await txError(signer.sendTransaction({ to: SINK, nonce: await pending(address) }), "unsupported");
    });
  });

  describe("stuck and dropped transactions", function () {
    it("replaces a stuck transaction at the same nonce with higher fees, and returns the one mined", async function () {
      await setAutomine(false);
      const { signer, address, of, work } = managed(19, { maxBumps: 3, bumpPercent: 15 }, (e) =>
        e.type === "replaced" ? network.provider.send("evm_mine") : undefined,
      );
      const start = await pending(address);
      const tx = await signer.sendTransaction({ to: SINK, value: 7n });
      await Promise.all(work);
      const [sent] = of("sent");
      const [replaced] = of("replaced");
      expect(of("replaced")).to.have.length(1);
      expect(tx.hash).to.equal(replaced.hash).and.not.equal(sent.hash);
      expect(tx.nonce).to.equal(start).and.equal(sent.nonce).and.equal(replaced.nonce);
      expect(tx.maxFeePerGas).to.equal(replaced.maxFeePerGas);
      expect(tx.maxFeePerGas! * 100n).to.be.gte(sent.maxFeePerGas! * 115n);
      expect(tx.blockNumber).to.not.equal(null);
      expect(await ethers.provider.getTransactionReceipt(sent.hash!)).to.equal(null);
      expect(tx.value).to.equal(7n);
    });

    it("sends again a transaction the node dropped, and returns it mined", async function () {
      await setAutomine(false);
      const { signer, address, of, work } = managed(19, {}, (e) => {
        if (e.type === "sent") return network.provider.send("hardhat_dropTransaction", [e.hash]);
        if (e.type === "dropped") return network.provider.send("evm_mine");
        return undefined;
      });
      const start = await pending(address);
      const tx = await signer.sendTransaction({ to: SINK, value: 1n });
      await Promise.all(work);
      const [sent] = of("sent");
      expect(of("dropped").map((e) => e.hash)).to.deep.equal([sent.hash]);
      expect(of("replaced")).to.be.empty;
      expect(tx.hash).to.equal(sent.hash);
      expect(tx.nonce).to.equal(start);
      expect(tx.blockNumber).to.not.equal(null);
      expect(await ethers.provider.getTransactionCount(address, "latest")).to.equal(start + 1);
    });

    it("gives up with stuck after maxBumps, naming the nonce and every hash", async function () {
      await setAutomine(false);
      const { signer, address, of } = managed(19, { maxBumps: 2 });
      const start = await pending(address);
      const e = await txError(signer.sendTransaction({ to: SINK, value: 1n }), "stuck");
      expect(e.nonce).to.equal(start);
      expect(e.hashes).to.deep.equal([...of("sent"), ...of("replaced")].map((x) => x.hash));
      expect(new Set(e.hashes).size).to.equal(3);
      expect(e.message).to.contain(`nonce: ${start}`).and.contain(e.hashes[2]);
      const fees = [...of("sent"), ...of("replaced")].map((x) => x.maxFeePerGas!);
      expect(fees[1] > fees[0] && fees[2] > fees[1]).to.equal(true);
    });

    it("never signs above the cap: with no room left under it, no replacement is sent", async function () {
      await setAutomine(false);
      const priorityFee = GWEI;
      const cap = 2n * (await baseFee()) + priorityFee; // the first attempt's fee is the cap already
      const { signer, of } = managed(19, { maxBumps: 1, priorityFee, maxFeePerGasCap: cap });
      const e = await txError(signer.sendTransaction({ to: SINK, value: 1n }), "stuck");
      expect(of("sent").map((x) => x.maxFeePerGas)).to.deep.equal([cap]);
      expect(of("replaced")).to.be.empty;
      expect(e.hashes).to.have.length(1);
      expect(e.message).to.contain("fee cap");
    });
  });

  describe("RPC failures", function () {
    it("retries transient failures with backoff, then sends", async function () {
      const { provider, calls } = faulty(ethers.provider, (m, n) => (m === "getBlock" && n <= 2 ? "fail" : undefined));
      const { signer, of } = managed(18, { retries: 3 }, undefined, provider);
      const tx = await signer.sendTransaction({ to: SINK, value: 1n });
      expect(tx.blockNumber).to.not.equal(null);
      expect(calls.getBlock).to.equal(3);
      expect(of("rpc-error")).to.have.length(2);
      expect(of("retry").map((e) => e.detail)).to.deep.equal([
        "eth_getBlockByNumber(latest): attempt 2 of 4 in 1 ms",
        "eth_getBlockByNumber(latest): attempt 3 of 4 in 2 ms",
      ]);
    });

    it("gives up with rpc after the retries, having sent nothing", async function () {
      const { provider, calls } = faulty(ethers.provider, (m) => (m === "getBlock" ? "fail" : undefined));
      const { signer, address, of } = managed(18, { retries: 2 }, undefined, provider);
      const before = await pending(address);
      const e = await txError(signer.sendTransaction({ to: SINK, value: 1n }), "rpc");
      expect(e.message).to.contain("failed 3 time(s)").and.contain("ECONNRESET");
      expect(calls.getBlock).to.equal(3);
      expect(await pending(address)).to.equal(before);
      expect(of("sent")).to.be.empty;
    });

    it("never retries a revert", async function () {
      const { token } = await loadFixture(tokenFixture);
      const { provider, calls } = faulty(ethers.provider, () => undefined);
      const { signer, of } = managed(16, { retries: 3 }, undefined, provider);
      await txError(token.connect(signer).transfer(SINK, 1_001n), "reverted");
      expect(calls.call).to.equal(1);
      expect(of("retry")).to.be.empty;
    });

    it("does not send twice when the answer to a broadcast was lost", async function () {
      const { provider, calls } = faulty(ethers.provider, (m, n) =>
        m === "broadcastTransaction" && n === 1 ? "lose-answer" : undefined,
      );
      const { signer, address, of } = managed(18, {}, undefined, provider);
      const start = await pending(address);
      const tx = await signer.sendTransaction({ to: SINK, value: 1n });
      expect(calls.broadcastTransaction).to.equal(2);
      expect(tx.nonce).to.equal(start);
      expect(await pending(address)).to.equal(start + 1);
      expect(of("sent")).to.have.length(1);
      expect(of("retry")).to.have.length(1);
    });
  });

  describe("isTransient", function () {
    it("is true for reset or refused connections and ethers' network errors and timeouts", function () {
      expect(isTransient(econnreset())).to.equal(true);
      expect(isTransient(new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } }))).to.equal(true);
      expect(isTransient(makeError("network changed", "NETWORK_ERROR", { event: "changed" }))).to.equal(true);
      expect(isTransient(makeError("request timeout", "TIMEOUT", { operation: "send", reason: "timeout" }))).to.equal(
        true,
      );
    });

    it("is true for a node that cannot be reached (a JsonRpcProvider to a closed port)", async function () {
      const provider = new JsonRpcProvider("http://127.0.0.1:1", 31337, { staticNetwork: true });
      try {
        await provider.getBlockNumber();
        expect.fail("the closed port answered");
      } catch (error) {
        expect(isTransient(error), String(error)).to.equal(true);
      } finally {
        provider.destroy();
      }
    });

    it("is true for HTTP 429 and 5xx and JSON-RPC rate limiting, false for other HTTP errors", async function () {
      expect(isTransient(await rpcFailure({ status: 429 }))).to.equal(true);
      expect(isTransient(await rpcFailure({ status: 503 }))).to.equal(true);
      expect(isTransient(await rpcFailure({ status: 502 }))).to.equal(true);
      expect(isTransient(await rpcFailure({ error: { code: -32005, message: "limit exceeded" } }))).to.equal(true);
      expect(isTransient(await rpcFailure({ status: 401 }))).to.equal(false);
      expect(isTransient(await rpcFailure({ status: 404 }))).to.equal(false);
    });

    it("is false for reverts, insufficient funds, used nonces and anything else", async function () {
      const reverted = await rpcFailure({
        error: { code: 3, message: "execution reverted", data: "0x08c379a0" + "00".repeat(64) },
      });
      expect(isTransient(reverted)).to.equal(false);
      const { token } = await loadFixture(tokenFixture);
      const hardhatRevert = await token
        .transfer(SINK, 1_001n)
        .then(() => undefined)
        .catch((e: unknown) => e);
      expect(hardhatRevert).to.not.equal(undefined);
      expect(isTransient(hardhatRevert)).to.equal(false);
      expect(isTransient(makeError("insufficient funds", "INSUFFICIENT_FUNDS", { transaction: {} }))).to.equal(false);
      expect(isTransient(makeError("nonce has already been used", "NONCE_EXPIRED", { transaction: {} }))).to.equal(
        false,
      );
      expect(isTransient(new Error("boom"))).to.equal(false);
      expect(isTransient(undefined)).to.equal(false);
      // isRevert: the contract's answer, from a JSON-RPC node or the in-process network; never the transport's.
      expect(isRevert(reverted)).to.equal(true);
      expect(isRevert(hardhatRevert)).to.equal(true);
      expect(isRevert(econnreset())).to.equal(false);
      expect(isRevert(await rpcFailure({ status: 503 }))).to.equal(false);
      expect(isRevert(new Error("boom"))).to.equal(false);
    });
  });

  describe("options", function () {
    it("connect gives a new signer over the same key and options, with its own nonce sequence", async function () {
      const { signer, address } = managed(18, { maxBumps: 1 });
      const other = signer.connect(ethers.provider);
      expect(other).to.be.instanceOf(ManagedSigner).and.not.equal(signer);
      expect(await other.getAddress()).to.equal(address);
      expect(other.options).to.deep.equal(signer.options);
      const tx = await other.sendTransaction({ to: SINK, value: 1n });
      expect(tx.from).to.equal(address);
    });

    it("defaults to a bump of at least 13% and refuses less, listing every problem", function () {
      expect(DEFAULT_TX_OPTIONS.bumpPercent).to.be.gte(13);
      let message = "";
      try {
        new ManagedSigner(wallet(18), ethers.provider, { bumpPercent: 10, retries: -1 });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).to.contain("invalid transaction options").and.contain("bumpPercent").and.contain("retries");
    });
  });
});
