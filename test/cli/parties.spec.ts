import { expect } from "chai";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { Contract, JsonRpcProvider, Wallet, parseEther } from "ethers";
import { readRecord } from "../../deploy/record";
import { settledRecords } from "../../cli/commands/owner";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { tempDir } from "../helpers/temp";

const run = promisify(execFile);
const ROOT = join(__dirname, "..", "..");
const USD = 1_000_000n;

/** A key a party holds. */
type Key = { address: string; privateKey: string };

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Each party from a FRESH account (a random key the node never funded), driving `ddc` as separate
 * processes against `npx hardhat node` with the demo world deployed: the faucet is how a
 * newcomer starts, and every bad input is refused with a clear error before anything is sent
 * (the account's nonce and balances are checked unchanged).
 */
describe("the parties from fresh accounts, with ddc against npx hardhat node", function () {
  this.timeout(900_000);
  let node: LocalNode;
  let provider: JsonRpcProvider;
  let token: Contract;
  const dir = tempDir("parties");
  let env: NodeJS.ProcessEnv;
  const owner = Wallet.createRandom();
  const operator = Wallet.createRandom();

  /** `ddc <args>` as `key` (or with no key), in a separate process. */
  async function ddc(args: string[], key?: Key): Promise<Result> {
    const e = { ...env };
    delete e.DDC_PRIVATE_KEY;
    if (key !== undefined) e.DDC_PRIVATE_KEY = key.privateKey;
    try {
      const { stdout, stderr } = await run(process.execPath, [join(ROOT, "bin", "ddc"), ...args], {
        cwd: ROOT,
        env: e,
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const f = error as { code: number; stdout: string; stderr: string };
      return { code: f.code, stdout: f.stdout, stderr: f.stderr };
    }
  }

  async function ok(args: string[], key?: Key): Promise<string> {
    const r = await ddc(["--quiet", ...args], key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stderr}`).to.equal(0);
    return r.stdout;
  }

  async function json<T>(args: string[], key?: Key): Promise<T> {
    return JSON.parse(await ok(["--json", ...args], key)) as T;
  }

  /** What a refused command must leave as it was: the account's nonce, native and token balances. */
  async function state(address: string): Promise<[number, bigint, bigint]> {
    return [
      await provider.getTransactionCount(address),
      await provider.getBalance(address),
      (await token.balanceOf(address)) as bigint,
    ];
  }

  /** Runs `args`, expects exit 1 with `message` on stderr, and nothing sent by `key`. */
  async function refused(args: string[], key: Key, message: string | RegExp): Promise<Result> {
    const before = await state(key.address);
    const r = await ddc(args, key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stdout}${r.stderr}`).to.equal(1);
    if (typeof message === "string") expect(r.stderr).to.include(`error: ${message}`);
    else expect(r.stderr).to.match(message);
    expect(await state(key.address), "nothing sent").to.deep.equal(before);
    return r;
  }

  async function travel(seconds: number): Promise<void> {
    await provider.send("evm_increaseTime", [seconds]);
    await provider.send("evm_mine", []);
  }

  before(async function () {
    node = await startNode("hardhat", await freePort());
    provider = new JsonRpcProvider(node.url, 31337, { staticNetwork: true, cacheTimeout: -1 });
    env = {
      ...process.env,
      DDC_LOCAL_RPC: node.url,
      DDC_DEPLOYMENTS_DIR: dir,
      HARDHAT_DISABLE_TELEMETRY_PROMPT: "true",
    };
    await run(join(ROOT, "node_modules", ".bin", "hardhat"), ["deploy", "--network", "localhost", "--demo"], {
      cwd: ROOT,
      env,
    });
    const record = readRecord(join(dir, "localhost.json"))!;
    token = new Contract(
      record.contracts.PaymentToken,
      ["function balanceOf(address) view returns (uint256)"],
      provider,
    );
  });
  after(async function () {
    await node?.stop();
  });

  it("a new owner: faucet, balance, deposit, bucket, unlock refused over free, unlock, wait, withdraw", async function () {
    const me = owner.address;
    // A fresh account: nothing at all, no ledger.
    const empty = await json<{ native: string; balance: string; ledgers: unknown[]; token: { symbol: string } }>(
      ["account", "balance"],
      owner,
    );
    expect(empty).to.deep.include({ owner: me, native: "0", balance: "0", allowance: "0", ledgers: [] });
    expect(empty.token).to.deep.include({ symbol: "tUSD", decimals: 6 });

    // The faucet: tokens, and native tokens for gas.
    const got = await ok(["token", "faucet", "500"], owner);
    expect(got).to.equal(`faucet: 500 tUSD to ${me}, and 10.0 of the native token for gas\nbalance 500 tUSD\n`);
    expect(await state(me)).to.deep.equal([0, parseEther("10"), 500n * USD]);
    await refused(
      ["token", "faucet", "1000001"],
      owner,
      "the faucet gives at most 1000000 tUSD a call, asked 1000001 tUSD: nothing sent",
    );
    await refused(["token", "faucet", "12,5"], owner, 'amount must be a decimal number, got "12,5"');

    // Deposits: over the wallet's balance, a malformed amount, an unknown cluster: nothing sent.
    await refused(
      ["account", "deposit", "1", "600"],
      owner,
      `${me} holds 500 tUSD, less than the 600 tUSD to deposit: nothing sent`,
    );
    await refused(["account", "deposit", "1", "1.0000001"], owner, 'amount "1.0000001" has more than 6 decimals');
    await refused(["account", "deposit", "1", "abc"], owner, 'amount must be a decimal number, got "abc"');
    await refused(["account", "deposit", "9", "10"], owner, "reverted: ClusterNotFound(cluster=9)");

    // --dry-run: the first transaction (the approval) simulated and shown decoded, nothing sent.
    const dry = await ddc(["--dry-run", "account", "deposit", "1", "200"], owner);
    expect(dry.code, dry.stderr).to.equal(0);
    expect(dry.stdout).to.include("dry run: nothing was sent");
    expect(dry.stdout).to.match(/PaymentToken\.approve\(spender=0x[0-9a-fA-F]{40}, value=200 tUSD\)/);
    expect(await state(me)).to.deep.equal([0, parseEther("10"), 500n * USD]);

    const deposited = await ok(["account", "deposit", "1", "200"], owner);
    expect(deposited).to.equal("deposited 200 tUSD into cluster 1; ledger balance 200 tUSD\n");
    expect(await provider.getTransactionCount(me)).to.equal(2); // the approval and the deposit
    expect((await token.balanceOf(me)) as bigint).to.equal(300n * USD);

    // A bucket: its id printed, and returned with --json.
    const created = await ok(["bucket", "create", "1"], owner);
    expect(created).to.equal("bucket 5 created in cluster 1\n");
    const second = await json<{ bucket: string; cluster: string }>(["bucket", "create", "1"], owner);
    expect(second).to.deep.include({ bucket: "6", cluster: "1" });
    await ok(["bucket", "alloc", "5", "10"], owner);

    // Free is less than the balance now (the runway of 10 units): an unlock above it is refused,
    // naming what is free.
    const ledger = await json<{ balance: string; free: string; runway: string; units: string; status: string }>(
      ["account", "show", "1"],
      owner,
    );
    expect(ledger).to.deep.include({ units: "10", status: "active" });
    const free = BigInt(ledger.free);
    expect(free < 200n * USD && free > 190n * USD, `free ${free}`).to.equal(true);
    const over = await refused(
      ["account", "withdraw", "1", "200"],
      owner,
      /error: only (\d+\.\d+) tUSD can be freed now in cluster 1 \(balance (\d+(?:\.\d+)?) tUSD less rent owed, debt and runway\), asked 200 tUSD: not unlocked, nothing sent/,
    );
    const named = /only (\d+)\.(\d+) tUSD/.exec(over.stderr)!;
    const namedFree = BigInt(named[1]) * USD + BigInt(named[2].padEnd(6, "0"));
    // Rent accrues by the second: what is named is what was free a few seconds after the read.
    expect(namedFree <= free && free - namedFree < USD / 100n, `${namedFree} vs ${free}`).to.equal(true);
    expect(over.stderr).to.match(/hint: ask for at most \d+\.\d+ tUSD/);
    // A ledger never paid into cannot be unlocked.
    await refused(
      ["account", "withdraw", "2", "10"],
      owner,
      `the ledger of ${me} in cluster 2 is empty: nothing to unlock, nothing sent`,
    );
    await refused(["account", "withdraw", "1", "0"], owner, 'amount must be more than 0, got "0"');

    // A valid unlock, a withdrawal too early (when it unlocks, as a time), then after the delay.
    const unlocked = await ok(["account", "withdraw", "1", "50"], owner);
    expect(unlocked).to.match(
      /^unlocked 50 tUSD: withdraw from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 7 d\) \(run the same command again then\)\n$/,
    );
    await refused(
      ["account", "withdraw", "1", "50"],
      owner,
      /error: 50 tUSD unlocks \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in (7 d|6 d 23 h)\): nothing sent/,
    );
    await travel(7 * 86_400 + 60);
    const withdrawn = await ok(["account", "withdraw", "1", "50"], owner);
    expect(withdrawn).to.equal(`withdrew 50 tUSD from cluster 1 to ${me}\n`);
    expect((await token.balanceOf(me)) as bigint).to.equal(350n * USD);

    // The wallet and every ledger, in words and in raw integers.
    const all = await json<{
      balance: string;
      allowance: string;
      ledgers: { cluster: string; units: string; status: string; balance: string; unlockAmount: string }[];
    }>(["account", "balance", "--owner", me]);
    expect(all).to.deep.include({ balance: String(350n * USD), allowance: "0" });
    expect(all.ledgers.map((l) => [l.cluster, l.units, l.status, l.unlockAmount])).to.deep.equal([
      ["1", "10", "active", "0"],
    ]);
    expect(BigInt(all.ledgers[0].balance) < 150n * USD).to.equal(true); // a week of rent paid
    const words = await ok(["account", "balance", "--owner", me]);
    expect(words).to.include("wallet     350 tUSD\n");
    expect(words).to.include("allowance  0 tUSD to the core\n");
    expect(words).to.match(
      /cluster 1: active, balance \d+(\.\d+)? tUSD, 10 units, debt 0 tUSD, free \d+(\.\d+)? tUSD, unlock nothing, covered until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in /,
    );
  });

  it("anyone settles a cluster's buckets, without the bot; an unknown bucket is refused", async function () {
    const settled = await json<{
      settled: { cluster: string; total: string; buckets: { bucket: string; paid: string; debt: string }[] }[];
      token: { symbol: string; decimals: number };
    }>(["bucket", "settle", "--cluster", "1"], owner);
    expect(settled.token).to.deep.equal({ symbol: "tUSD", decimals: 6 });
    expect(settled.settled).to.have.length(1);
    const [batch] = settled.settled;
    expect(batch.cluster).to.equal("1");
    // Cluster 1's buckets: the demo owners' (1, 3) and the new owner's (5, 6).
    expect(batch.buckets.map((b) => b.bucket)).to.deep.equal(["1", "3", "5", "6"]);
    expect(batch.buckets.map((b) => b.debt)).to.deep.equal(["0", "0", "0", "0"]);
    expect(BigInt(batch.total)).to.equal(batch.buckets.reduce((s, b) => s + BigInt(b.paid), 0n));
    expect(BigInt(batch.buckets[0].paid) > 0n).to.equal(true); // a week and more of rent

    const words = await ok(["bucket", "settle", "1", "3"], owner);
    expect(words).to.match(
      /^bucket 1: paid \d+(\.\d+)? tUSD\nbucket 3: paid \d+(\.\d+)? tUSD\ncluster 1: \d+(\.\d+)? tUSD settled into the revenue pool\n$/,
    );

    await refused(["bucket", "settle", "999"], owner, "reverted: BucketNotFound(bucket=999)");
    await refused(["bucket", "settle", "2", "--cluster", "1"], owner, "bucket 2 is in cluster 2, not 1: nothing sent");
    await refused(["bucket", "settle"], owner, "name the buckets to settle, or --cluster <id> for all of a cluster's");
  });

  it("a new provider: registers a node (its id printed), sees its revenue, a claim of nothing is refused", async function () {
    const me = operator.address;
    await ok(["token", "faucet", "1"], operator);
    const registered = await ok(
      ["node", "register", "--signing-key", Wallet.createRandom().address, "--capacity", "100", "--rent", "2.5"],
      operator,
    );
    expect(registered).to.match(/^node 5 registered \(tx 0x[0-9a-f]{64}\)\n$/);
    const created = await json<{ node: string }>(
      ["node", "create", "--signing-key", Wallet.createRandom().address, "--capacity", "50", "--rent", "1"],
      operator,
    );
    expect(created.node).to.equal("6");
    const shown = await json<{ provider: string; rent: string; token: { symbol: string } }>(["node", "show", "5"]);
    expect(shown).to.deep.include({ provider: me, rent: "2500000" });
    expect(shown.token).to.deep.equal({ symbol: "tUSD", decimals: 6 });
    expect(await ok(["node", "show", "5"])).to.include("rent        2.5 tUSD per vNode per unit per month\n");
    expect(await ok(["revenue", "show", "5,6"])).to.equal("node 5: 0 tUSD\nnode 6: 0 tUSD\n");

    await refused(
      ["revenue", "claim", "5,6"],
      operator,
      "nothing to claim: nodes 5, 6 have 0 tUSD of revenue: nothing sent",
    );
    await refused(
      ["revenue", "claim", "1"],
      operator,
      /error: node 1 belongs to 0x[0-9a-fA-F]{40}, not to 0x[0-9a-fA-F]{40}: nothing sent/,
    );
    await refused(["revenue", "claim", "99"], operator, "reverted: NodeNotFound(node=99)");
    await refused(
      ["node", "register", "--signing-key", me, "--capacity", "100", "--rent", "1,5"],
      operator,
      'amount must be a decimal number, got "1,5"',
    );
  });

  it("the faucet refuses a chain that is not a development chain, asking it nothing else", async function () {
    const asked: string[] = [];
    const server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const calls = [JSON.parse(body)].flat() as { id: number; method: string }[];
        asked.push(...calls.map((c) => c.method));
        const answers = calls.map((c) => ({
          jsonrpc: "2.0",
          id: c.id,
          result: c.method === "eth_chainId" ? "0x1" : "0x0",
        }));
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(Array.isArray(JSON.parse(body)) ? answers : answers[0]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const r = await ddc(["--rpc", url, "token", "faucet", "10"], owner);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(
        "error: the faucet works on development chains only (chain id 31337: hardhat node, anvil); this RPC answers chain id 1: nothing sent",
      );
      // Only the chain id was asked before the refusal (printing the error reads the token's symbol
      // and decimals, eth_call): no balance set, no account impersonated, nothing sent.
      expect(asked.filter((m) => m !== "eth_call")).to.deep.equal(["eth_chainId"]);
    } finally {
      server.close();
    }
  });

  it("reads the settlement record as the core packs it", function () {
    const record = `0x${[
      [5n, 1_500_000n, 0n],
      [7n, 0n, 2n ** 112n - 1n],
    ]
      .map(
        ([b, p, d]) =>
          b.toString(16).padStart(16, "0") + p.toString(16).padStart(28, "0") + d.toString(16).padStart(28, "0"),
      )
      .join("")}`;
    expect(settledRecords(record)).to.deep.equal([
      { bucket: 5n, paid: 1_500_000n, debt: 0n },
      { bucket: 7n, paid: 0n, debt: 2n ** 112n - 1n },
    ]);
  });
});
