import { expect } from "chai";
import { execFile, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { ContractFactory, JsonRpcProvider, Wallet, encryptKeystoreJson } from "ethers";
import { toProposal } from "../../governance/actions";
import { proposeOnce } from "../../governance/dao";
import { packMultiSend } from "../../governance/decode";
import {
  DirectorySignatureStore,
  SafeQueue,
  buildSafeTxData,
  signSafeTx,
  type SafeTxData,
} from "../../governance/safeStore";
import { coreChainView } from "../../manager-bot/src/chain";
import { decideEra, type EraDecision } from "../../manager-bot/src/decide";
import { signReport, type ReportBody } from "../../manager-bot/src/report";
import { DDCGovernor__factory, IDDC__factory } from "../../typechain-types";
import { readRecord, type DeploymentRecord } from "../../deploy/record";
import { SAFE_CONTRACT_NAMES, contractNetworks, safeArtifact, type SafeSingletons } from "../../deploy/safe";
import { freePort, startNode, type LocalNode } from "../helpers/localNode";
import { devAccount, tempDir } from "../helpers/temp";
import { runDdc, ROOT, type DdcResult } from "../helpers/ddcProcess";

const run = promisify(execFile);

const account = (i: number) => devAccount(i);

type Result = DdcResult;

describe("the ddc CLI, end to end against npx hardhat node", function () {
  this.timeout(600_000);
  let node: LocalNode;
  const dir = tempDir("cli");
  const store = join(dir, "signatures");
  let env: NodeJS.ProcessEnv;

  /** `ddc <args>` as account `key` (or with no key), in a separate process. */
  async function ddc(args: string[], key?: number, extraEnv: NodeJS.ProcessEnv = {}): Promise<Result> {
    const e = { ...env, ...extraEnv };
    delete e.DDC_PRIVATE_KEY;
    if (key !== undefined) e.DDC_PRIVATE_KEY = account(key).privateKey;
    return runDdc(args, e);
  }

  async function json<T>(args: string[], key?: number): Promise<T> {
    const r = await ddc(["--json", "--quiet", ...args], key);
    expect(r.code, `ddc ${args.join(" ")}: ${r.stderr}`).to.equal(0);
    return JSON.parse(r.stdout) as T;
  }

  async function travel(seconds: number): Promise<void> {
    for (const [method, params] of [
      ["evm_increaseTime", [seconds]],
      ["evm_mine", []],
    ] as const) {
      await fetch(node.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
      });
    }
  }

  before(async function () {
    node = await startNode("hardhat", await freePort());
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
  });
  after(async function () {
    await node?.stop();
  });

  it("a provider registers a node", async function () {
    const key = account(15).address;
    const r = await json<{ node: string }>(
      ["node", "create", "--signing-key", key, "--capacity", "500", "--rent", "1.5", "--url", "https://n5.example"],
      16,
    );
    expect(r.node).to.equal("5");
    const shown = await json<{ provider: string; rent: string; capacity: string; urls: string[] }>([
      "node",
      "show",
      "5",
    ]);
    expect(shown).to.include({ provider: account(16).address, rent: "1500000", capacity: "500" });
    expect(shown.urls).to.deep.equal(["https://n5.example"]);
    const human = await ddc(["node", "trust", account(10).address], 16);
    expect(human.code).to.equal(0);
    expect(human.stdout.trim()).to.equal(`trusting ${account(10).address}`);
    expect(human.stderr).to.match(/trust: mined in block \d+/);
  });

  it("an owner creates a bucket, funds it and reserves units", async function () {
    const owner = 17;
    // The owner needs tokens: the demo's test stablecoin is minted by the deployer (account 0).
    const record = readRecord(join(dir, "localhost.json"))!;
    const mint = await run(
      process.execPath,
      [
        "-e",
        `const { Wallet, JsonRpcProvider, Contract } = require("ethers");
         const w = new Wallet(process.env.K, new JsonRpcProvider(process.env.U));
         new Contract(process.env.T, ["function mint(address,uint256)"], w).mint(process.env.O, 1000000000n).then((t) => t.wait());`,
      ],
      {
        cwd: ROOT,
        env: {
          ...env,
          K: account(0).privateKey,
          U: node.url,
          T: record.contracts.PaymentToken,
          O: account(owner).address,
        },
      },
    );
    expect(mint.stderr).to.equal("");
    const { bucket } = await json<{ bucket: string }>(
      ["bucket", "create", "1", "--params", '{"engine":"ddc-storage"}'],
      owner,
    );
    await json(["account", "deposit", "1", "250.5"], owner);
    await json(["bucket", "alloc", bucket, "5", "--max-price", "10"], owner);
    const ledger = await json<{ balance: string; units: string }>(["account", "show", "1"], owner);
    expect(ledger.units).to.equal("5");
    expect(BigInt(ledger.balance)).to.be.within(250_400_000n, 250_500_000n);
    const b = await json<{ status: string; reserved: string; owner: string }>(["bucket", "show", bucket]);
    expect(b).to.include({ status: "Active", reserved: "5", owner: account(owner).address });
  });

  it("a DAO member proposes, voters vote, and the proposal is queued and executed", async function () {
    const { proposalId } = await json<{ proposalId: string; created: boolean }>(
      ["cluster", "reserve", "1", "120", "--propose"],
      4,
    );
    const again = await json<{ created: boolean; reason: string }>(["cluster", "reserve", "1", "120", "--propose"], 4);
    expect(again).to.include({ created: false, reason: "exists" });
    await travel(3601);
    for (const [voter, support] of [
      [4, "for"],
      [5, "for"],
      [6, "abstain"],
    ] as const) {
      await json(["gov", "vote", proposalId, support, "--reason", "capacity for the new buckets"], voter);
    }
    const show = await ddc(["gov", "show", proposalId]);
    expect(show.stdout).to.include("DDCCore.clusterReserveResource(cluster=1, unitsPerVNode=120)");
    expect(show.stdout).to.include("key        cluster 1, era -, reservation");
    expect(show.stdout).to.match(/simulated from the Timelock now:\n {2}1\. ok/);
    await travel(259_200);
    expect((await json<{ state: string }>(["gov", "queue", proposalId], 4)).state).to.equal("Queued");
    await travel(86_400);
    expect((await json<{ state: string }>(["gov", "execute", proposalId], 9)).state).to.equal("Executed");
    expect((await json<{ reservedPerVNode: string }>(["cluster", "show", "1"])).reservedPerVNode).to.equal("120");
    const list = await json<{ id: string; state: string }[]>(["gov", "list"]);
    expect(list[0]).to.include({ id: proposalId, state: "Executed" });
  });

  it("two Safe owners sign and execute; one is not enough; the executed one is listed with its hash", async function () {
    const safe = readRecord(join(dir, "localhost.json"))!.contracts.DemoOperationsSafe;
    const validator = account(18).address;
    // No --store: the network's default, the directory beside the deployment record.
    const created = await json<{ safeTxHash: string }>(
      ["cluster", "validators", "2", "--add", validator, "--safe", safe],
      1,
    );
    expect(existsSync(join(dir, "localhost.signatures", safe, created.safeTxHash, "transaction.json"))).to.equal(true);
    const early = await ddc(["safe", "execute", safe, created.safeTxHash], 3);
    expect(early.code).to.equal(1);
    expect(early.stderr).to.include("error: 1 of 2 confirmations: 1 missing");
    const listed = await json<{ status: string; confirmations: number }[]>(["safe", "list", safe]);
    expect(listed).to.have.length(1);
    expect(listed[0]).to.include({ status: "pending", confirmations: 1 });
    const shown = await ddc(["safe", "show", safe, created.safeTxHash]);
    expect(shown.stdout).to.include(`DDCCore.clusterSetValidator(cluster=2, validator=${validator}, enabled=true)`);
    expect(
      (await json<{ confirmations: number }>(["safe", "sign", safe, created.safeTxHash], 2)).confirmations,
    ).to.equal(2);
    const executed = await json<{ tx: string }>(["safe", "execute", safe, created.safeTxHash], 3);
    expect(await json<string[]>(["cluster", "validators", "2"])).to.include(validator);
    const after = await json<{ status: string; transactionHash: string }[]>(["safe", "list", safe]);
    expect(after.map((t) => [t.status, t.transactionHash])).to.deep.equal([["executed", executed.tx]]);
    const text = await ddc(["safe", "list", safe]);
    expect(text.stdout).to.include(`executed   2/2  ${created.safeTxHash}`);
    expect(text.stdout).to.include(`(executed in ${executed.tx})`);
    const signedTwice = await ddc(["safe", "sign", safe, created.safeTxHash], 2);
    expect(signedTwice.stderr).to.include(`error: already executed in ${executed.tx}`);
    // The same directory served by \`ddc safe serve\`: read through api-kit, the same answer.
    const port = await freePort();
    const server = spawn(process.execPath, [join(ROOT, "bin", "ddc"), "safe", "serve", "--port", String(port)], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const started = await new Promise<string>((resolve, reject) => {
        let out = "";
        server.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          if (out.includes("\n")) resolve(out.trim());
        });
        server.once("exit", (code) => reject(new Error(`ddc safe serve exited ${code}`)));
      });
      expect(started).to.equal(`owners: --store http://127.0.0.1:${port}`);
      const served = await json<{ status: string; transactionHash: string }[]>([
        "safe",
        "list",
        safe,
        "--store",
        `http://127.0.0.1:${port}`,
      ]);
      expect(served.map((t) => [t.status, t.transactionHash])).to.deep.equal([["executed", executed.tx]]);
    } finally {
      server.kill("SIGTERM");
    }
  });

  it("--help names the signature store and its default per network", async function () {
    const help = await ddc(["safe", "list", "--help"]);
    expect(help.stdout.replace(/\s+/g, " ")).to.include(
      "default DDC_SAFE_STORE, else `safe` on chains Safe's service serves, else deployments/<network>.signatures",
    );
  });

  it("keys come from an encrypted keystore too", async function () {
    const file = join(dir, "keystore.json");
    const key = account(0);
    const light = { scrypt: { N: 1024 } }; // a fast keystore for the test (real ones use the default cost)
    writeFileSync(
      file,
      await encryptKeystoreJson({ address: key.address, privateKey: key.privateKey }, "correct horse", light),
    );
    const r = await ddc(["--json", "--quiet", "--keystore", file, "node", "trust", account(10).address], undefined, {
      DDC_KEYSTORE_PASSWORD: "correct horse",
    });
    expect(r.code, r.stderr).to.equal(0);
    const wrong = await ddc(["--keystore", file, "node", "trust", account(10).address], undefined, {
      DDC_KEYSTORE_PASSWORD: "wrong",
    });
    expect(wrong.code).to.equal(1);
    expect(wrong.stderr).to.include(`error: cannot open the keystore ${file}: wrong password`);
  });

  it("every other party's command: a manager's EOA cluster, claims, withdrawals, roles, delegation, rejection", async function () {
    const manager = 19;
    const { cluster } = await json<{ cluster: string }>(
      ["cluster", "create", "--replication", "1", "--era-length", "600"],
      manager,
    );
    // Node 5 (account 16's) joins the new cluster, directly from the manager's key.
    await json(["node", "trust", account(manager).address], 16);
    await json(["cluster", "add-node", cluster, "5", "--tokens", "7,1000"], manager);
    await json(["cluster", "reserve", cluster, "10"], manager);
    await json(["cluster", "operators", cluster, "--add", account(4).address], manager);
    expect(await json<string[]>(["cluster", "operators", cluster])).to.deep.equal([account(4).address]);
    await json(["cluster", "params", cluster, "--management-fee", "500"], manager);
    const shown = await json<{ nodes: string[]; reservedPerVNode: string; manager: string }>([
      "cluster",
      "show",
      cluster,
    ]);
    expect(shown).to.deep.include({ nodes: ["5"], reservedPerVNode: "10", manager: account(manager).address });
    // The provider's node changes and revenue.
    await json(["node", "update", "5", "--capacity", "600", "--rent", "2"], 16);
    await json(["node", "rotate-key", "5", account(15).address], 16);
    expect(await json<{ nodes: unknown[] }>(["revenue", "show", "5"])).to.deep.equal({
      nodes: [{ node: "5", claimable: "0" }],
      token: { symbol: "tUSD", decimals: 6 },
    });
    // A claim of nothing is refused before anything is sent.
    const claim = await ddc(["revenue", "claim", "5", "--to", account(15).address], 16);
    expect(claim.code).to.equal(1);
    expect(claim.stderr).to.include("error: nothing to claim: node 5 has 0 tUSD of revenue: nothing sent");
    // The owner's bucket roles, cap, close and a withdrawal (unlock first, then after the delay).
    const owner = 17;
    const { bucket } = await json<{ bucket: string }>(["bucket", "create", "1"], owner);
    await json(["bucket", "grant", bucket, account(18).address, "--role", "reader"], owner);
    await json(["bucket", "revoke", bucket, account(18).address, "--role", "reader"], owner);
    await json(["bucket", "cap", bucket, "3"], owner);
    await json(["bucket", "close", bucket], owner);
    expect((await json<{ status: string }>(["bucket", "show", bucket])).status).to.equal("Closed");
    const unlock = await json<{ unlocked: string }>(["account", "withdraw", "1", "10"], owner);
    expect(unlock.unlocked).to.equal("10000000");
    const early = await ddc(["account", "withdraw", "1", "10"], owner);
    expect(early.stderr).to.match(
      /error: 10 tUSD unlocks \S+Z \(in (7 d|6 d 23 h)\): nothing sent\nhint: run the same command again then/,
    );
    await travel(7 * 86_400 + 1);
    expect(await json<{ withdrawn: string }>(["account", "withdraw", "1", "10"], owner)).to.include({
      withdrawn: "10000000",
    });
    // Handover of the EOA cluster to another key, which accepts.
    await json(["cluster", "handover", cluster, "--to", account(18).address], manager);
    await json(["cluster", "handover", cluster, "--accept"], 18);
    expect((await json<{ manager: string }>(["cluster", "show", cluster])).manager).to.equal(account(18).address);
    // Replacement by the new manager: node 5 out, a fresh node in.
    const { node: fresh } = await json<{ node: string }>(
      ["node", "create", "--signing-key", account(14).address, "--capacity", "100", "--rent", "1"],
      13,
    );
    await json(["node", "trust", account(18).address], 13);
    const evidence = "0x" + "ab".repeat(32);
    await json(["cluster", "replace-node", cluster, "5", "--to", `${fresh},${fresh}`, "--evidence", evidence], 18);
    expect((await json<{ nodes: string[] }>(["cluster", "show", cluster])).nodes).to.deep.equal([fresh]);
    // Node 5 was only in this cluster: now in none, its provider may deregister it.
    expect(await json<{ removed: boolean }>(["node", "remove", "5"], 16)).to.deep.equal({ node: "5", removed: true });
    // Delegation moves voting power; a Safe owner rejects a nonce nobody will sign.
    const delegated = await json<{ votes: string }>(["gov", "delegate", account(5).address], 6);
    expect(BigInt(delegated.votes)).to.equal(80_000n * 10n ** 18n);
    const safe = readRecord(join(dir, "localhost.json"))!.contracts.DemoOperationsSafe;
    const rejection = await json<{ nonce: number }>(["safe", "reject", safe, "2", "--store", store], 1);
    expect(rejection.nonce).to.equal(2);
  });

  /**
   * The last closed era of `cluster` (after the demo named its validators, development accounts),
   * decided from every validator's report as the bot decides it (the chain's validators, members
   * and parameters at the era's end; the last member failing, `buckets` measured), its evidence
   * written to `file`.
   */
  async function decided(
    provider: JsonRpcProvider,
    cluster: number,
    buckets: ReportBody["buckets"],
    file: string,
  ): Promise<Extract<EraDecision, { decided: true }>> {
    const record = readRecord(join(dir, "localhost.json"))!;
    const core = record.contracts.DDCCore;
    const ddcCore = IDDC__factory.connect(core, provider);
    const chain = coreChainView(ddcCore, provider, record.chainId, { fromBlock: record.block });
    await travel(3600);
    const era = Number((await ddcCore.clusterEra(cluster)).era) - 1;
    const validators = [...(await chain.validatorsAt(cluster, era))].sort();
    const accounts = new Map(Array.from({ length: 20 }, (_, i) => [account(i).address, account(i)]));
    const reporters = validators.map((v) => accounts.get(v)!);
    expect(reporters.length).to.be.greaterThanOrEqual(2);
    const members = await chain.membersAt(cluster, era);
    const reports = await Promise.all(
      reporters.map((w, i) =>
        signReport(w, record.chainId, core, {
          cluster,
          era,
          nodes: members.map((n) => ({
            node: n,
            availabilityBps: 10_000,
            latencyMs: 9,
            retrievable: true,
            score: n === members.at(-1) ? [100, 9500, 200][i % 3] : 9900,
          })),
          buckets,
        }),
      ),
    );
    const params = (await chain.paramsAt(cluster, era))!;
    const view = await ddcCore.getCluster(cluster);
    const decision = decideEra({
      chainId: record.chainId,
      core,
      cluster,
      era,
      validators,
      reports,
      members: members.map((n) => ({ node: n, vNodes: 1, pendingReplacement: false })),
      scored: members,
      history: {},
      candidates: [],
      params: {
        ...params,
        exclusionFactor: Number(view.exclusionFactor),
        reservedPerVNode: view.reservedPerVNode,
      },
      policy: { failingEras: 3, maxPerEra: 1 },
      previousEvidence: [],
      foreignBuckets: await chain.foreignBuckets(
        cluster,
        buckets.map((b) => b.bucket),
      ),
    });
    if (!decision.decided) throw new Error("undecided");
    writeFileSync(file, decision.json);
    return decision;
  }

  it("verify: a proposal matches its evidence; edited evidence does not", async function () {
    const record = readRecord(join(dir, "localhost.json"))!;
    const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
    const file = join(dir, "evidence.json");
    const decision = await decided(provider, 1, [], file);
    const governor = DDCGovernor__factory.connect(
      record.contracts.DDCGovernor,
      new Wallet(account(4).privateKey, provider),
    );
    const { id } = await proposeOnce(governor, toProposal(decision.actions[0], account(4).address));
    provider.destroy();
    const good = await ddc(["verify", id.toString(), "--evidence", file]);
    expect(good.code, good.stderr).to.equal(0);
    expect(good.stdout).to.include(`ok    policy.qosThreshold: 9000, in force at the era's end\n`);
    expect(good.stdout).to.include(`ok    ${decision.actions[0].title}: matches the evidence (${decision.hash})\n`);
    expect(good.stdout.trim().endsWith("\nverified")).to.equal(true);
    // A unique prefix of the id, as gov list prints it, names the proposal too.
    const asJson = await json<{ ok: boolean; lines: { action: string; ok: boolean; why: string }[] }>([
      "verify",
      id.toString().slice(0, 10),
      "--evidence",
      file,
    ]);
    expect(asJson.ok).to.equal(true);
    expect(asJson.lines.at(-1)).to.deep.equal({
      action: decision.actions[0].title,
      ok: true,
      why: `matches the evidence (${decision.hash})`,
    });
    // The document's threshold raised (and every figure recomputed from it): not the chain's.
    const raised = JSON.parse(decision.json) as { policy: { qosThreshold: number } };
    raised.policy.qosThreshold = 9950;
    writeFileSync(file, JSON.stringify(raised));
    const bad = await ddc(["verify", id.toString(), "--evidence", file]);
    expect(bad.code).to.equal(1);
    expect(bad.stdout).to.include(
      "FAIL  policy.qosThreshold: the evidence says 9950, the chain 9000 (in force at the era's end)\n",
    );
    expect(bad.stdout.trim().endsWith("NOT verified")).to.equal(true);
  });

  it("verify: without --evidence, the document the description names is fetched, and must hash to the decision's hash", async function () {
    const record = readRecord(join(dir, "localhost.json"))!;
    const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
    const file = join(dir, "published-evidence.json");
    const decision = await decided(provider, 1, [], file);
    // The bot's public evidence endpoint, as a reverse proxy would serve it.
    let served = decision.json;
    const server = createServer((req, res) => {
      const ok = req.url === `/ddc/evidence/${decision.hash}`;
      res.writeHead(ok ? 200 : 404, { "content-type": "application/json" });
      res.end(ok ? served : "{}");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ddc`;
    try {
      const governor = DDCGovernor__factory.connect(
        record.contracts.DDCGovernor,
        new Wallet(account(5).privateKey, provider),
      );
      const action = { ...decision.actions[0], evidenceUrl: `${base}/evidence/${decision.hash}` };
      const { id } = await proposeOnce(governor, toProposal(action, account(5).address));
      provider.destroy();
      const good = await ddc(["verify", id.toString()]);
      expect(good.code, good.stderr).to.equal(0);
      expect(good.stdout.trim().endsWith("\nverified")).to.equal(true);
      // The same URL serving another document: refused before anything is checked.
      served = decision.json.replace('"version":2', '"version":2 ');
      const swapped = await ddc(["verify", id.toString()]);
      expect(swapped.code).to.equal(1);
      expect(swapped.stderr).to.include(`error: the document at ${base}/evidence/${decision.hash} hashes to 0x`);
      expect(swapped.stderr).to.include(`not to ${decision.hash}: it is not this decision's evidence`);
    } finally {
      server.close();
    }
  });

  it("verify: an operator's transaction by its hash; a hash the chain does not know is a clear error", async function () {
    const record = readRecord(join(dir, "localhost.json"))!;
    const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
    const file = join(dir, "operator-evidence.json");
    const decision = await decided(provider, 1, [{ bucket: 1, measuredBytes: String(2n << 30n) }], file);
    expect(decision.actions.map((a) => a.key.kind)).to.deep.equal(["usage-report", "distribution"]);
    const operator = new Wallet(account(13).privateKey, provider);
    const sent: string[] = [];
    for (const action of decision.actions) {
      const tx = await operator.sendTransaction({ to: action.calls[0].target, data: action.calls[0].data });
      await tx.wait();
      sent.push(tx.hash);
    }
    provider.destroy();
    const results = await Promise.all(sent.map((hash) => ddc(["verify", hash, "--evidence", file])));
    for (const [i, r] of results.entries()) {
      expect(r.code, r.stdout + r.stderr).to.equal(0);
      expect(r.stdout).to.match(
        new RegExp(`^ok    transaction: ${sent[i]} from ${operator.address}, mined in block \\d+\n`),
      );
      expect(r.stdout).to.include(`ok    ${decision.actions[i].title}: matches the evidence (${decision.hash})\n`);
    }
    const unknown = "0x" + "cd".repeat(32);
    const missing = await ddc(["verify", unknown, "--evidence", file]);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.include(
      `error: no transaction ${unknown} on this chain\nhint: a Safe transaction hash needs --safe <address> (and --store)`,
    );
  });

  describe("a Safe transaction: only a batch through the canonical MultiSendCallOnly, no refund, no unasked value", function () {
    const file = join(dir, "safe-evidence.json");
    const takeover = "it runs that contract's code with the Safe's own storage and funds, and can take over the Safe";
    let record: DeploymentRecord;
    let safe: string;
    let decision: Extract<EraDecision, { decided: true }>;
    /** safeTxHash by case: the canonical batch, and variants of it put in the store as anyone could. */
    const hash: Record<string, string> = {};
    /** What the rule says of each variant. */
    let problem: Record<string, string>;

    before(async function () {
      record = readRecord(join(dir, "localhost.json"))!;
      safe = record.contracts.DemoOperationsSafe;
      const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
      decision = await decided(provider, 2, [{ bucket: 2, measuredBytes: String(3n << 30n) }], file);
      const calls = decision.actions
        .flatMap((a) => a.calls)
        .map((c) => ({ to: c.target, data: c.data, value: c.value }));
      expect(decision.actions.map((a) => a.key.kind)).to.deep.equal(["usage-report", "distribution"]);
      // The batch the project's own builder makes (protocol-kit, the record's Safe contracts).
      const singletons = Object.fromEntries(SAFE_CONTRACT_NAMES.map((n) => [n, record.contracts[n]])) as SafeSingletons;
      const connection = {
        provider: node.url,
        safeAddress: safe,
        contractNetworks: contractNetworks(record.chainId, singletons),
      };
      const queue = new SafeQueue(provider, record.chainId, safe, new DirectorySignatureStore(store));
      const canonical = await buildSafeTxData(connection, account(1).privateKey, calls, await queue.nextNonce());
      expect([canonical.to, canonical.operation]).to.deep.equal([record.contracts.MultiSendCallOnly, 1]);
      // The same audited MultiSendCallOnly, deployed again at another address.
      const { abi, bytecode } = safeArtifact("MultiSendCallOnly");
      const deployer = new Wallet(account(0).privateKey, provider);
      const again = await new ContractFactory(abi as never[], bytecode, deployer).deploy();
      await again.waitForDeployment();
      const elsewhere = await again.getAddress();
      const stranger = account(18).address;
      const [usage, distribution] = calls;
      const variants: Record<string, Partial<SafeTxData>> = {
        canonical: {},
        multiSend: { to: record.contracts.MultiSend },
        elsewhere: { to: elsewhere },
        gasPrice: { gasPrice: "1" },
        baseGas: { baseGas: "50000" },
        gasToken: { gasToken: record.contracts.PaymentToken },
        refundReceiver: { refundReceiver: stranger },
        value: { to: distribution.to, data: distribution.data, operation: 0, value: "1" },
        innerValue: { data: packMultiSend([{ ...usage, value: 1n }, distribution]) },
        batchValue: { value: "1" },
      };
      for (const [name, change] of Object.entries(variants)) {
        // Proposed (and signed) by one owner: as a compromised owner or anyone with its key could.
        const tx = await queue.propose(
          { ...canonical, ...change, nonce: await queue.nextNonce() },
          `# ${name}`,
          new Wallet(account(1).privateKey),
        );
        hash[name] = tx.safeTxHash;
      }
      provider.destroy();
      const refund = (field: string, value: string, zero: string) =>
        `a gas refund: ${field} is ${value}, not ${zero} (the Safe would pay it out of its own funds)`;
      problem = {
        multiSend:
          `a delegatecall to ${record.contracts.MultiSend} (MultiSend), which is not the canonical ` +
          `MultiSendCallOnly (it is ${record.contracts.MultiSendCallOnly}): ${takeover}`,
        elsewhere:
          `a delegatecall to ${elsewhere}, which is not the canonical MultiSendCallOnly ` +
          `(it is ${record.contracts.MultiSendCallOnly}): ${takeover}`,
        gasPrice: refund("gasPrice", "1", "0"),
        baseGas: refund("baseGas", "50000", "0"),
        gasToken: refund("gasToken", record.contracts.PaymentToken, "the zero address"),
        refundReceiver: refund("refundReceiver", stranger, "the zero address"),
      };
    });

    it("refuses to sign a delegatecall to anything but the canonical MultiSendCallOnly, and a gas refund (each field)", async function () {
      const refused = Object.keys(problem);
      const results = await Promise.all(
        refused.map((name) => ddc(["safe", "sign", safe, hash[name], "--store", store], 2)),
      );
      for (const [i, name] of refused.entries()) {
        const r = results[i];
        expect(r.code, `${name}: ${r.stdout}`).to.equal(1);
        expect(r.stderr, name).to.include(
          `error: refusing to sign the Safe transaction ${hash[name]}: ${problem[name]}\n`,
        );
        expect(r.stderr, name).to.match(/hint: nobody should sign or execute it: `ddc safe reject <safe> \d+`/);
      }
      const list = await json<{ safeTxHash: string; confirmations: number; problems: string[] }[]>([
        "safe",
        "list",
        safe,
        "--store",
        store,
      ]);
      for (const name of refused) {
        expect(
          list.find((t) => t.safeTxHash === hash[name]),
          name,
        ).to.deep.include({
          confirmations: 1,
          problems: [problem[name]],
        });
      }
      // Shown to the owners as what it is: a delegatecall, not a batch of the decided calls.
      const shown = await ddc(["safe", "show", safe, hash.multiSend, "--store", store]);
      expect(shown.stdout).to.include(
        `  1. DANGEROUS delegatecall to ${record.contracts.MultiSend}: MultiSend.multiSend(a batch, not unpacked)\n`,
      );
      expect(shown.stdout).to.include(`DO NOT SIGN: ${problem.multiSend}\n`);
    });

    it("refuses to execute what it refuses to sign, whoever signed it", async function () {
      const provider = new JsonRpcProvider(node.url, record.chainId, { staticNetwork: true, cacheTimeout: -1 });
      const queue = new SafeQueue(provider, record.chainId, safe, new DirectorySignatureStore(store));
      const { data } = await queue.entry(hash.refundReceiver);
      for (const i of [3]) {
        await queue.addSignature(
          hash.refundReceiver,
          account(i).address,
          await signSafeTx(account(i), record.chainId, safe, data),
        );
      }
      provider.destroy();
      const r = await ddc(["safe", "execute", safe, hash.refundReceiver, "--store", store], 3);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include(
        `error: refusing to execute the Safe transaction ${hash.refundReceiver}: ${problem.refundReceiver}\n`,
      );
    });

    it("signs the canonical batch, after decoding it", async function () {
      const shown = await ddc(["safe", "show", safe, hash.canonical, "--store", store]);
      const era = decision.actions[0].key.era;
      expect(shown.stdout).to.match(
        new RegExp(
          `calls:\\n {2}1\\. DDCCore\\.clusterReportUsage\\(cluster=2, era=${era}, .*\\n {2}2\\. DDCCore\\.clusterDistributeRevenues\\(cluster=2, era=${era}, `,
        ),
      );
      expect(shown.stdout).to.not.include("!");
      const signed = await ddc(["--json", "safe", "sign", safe, hash.canonical, "--store", store], 2);
      expect(signed.code, signed.stderr).to.equal(0);
      expect(JSON.parse(signed.stdout)).to.deep.include({ signedBy: account(2).address, confirmations: 2 });
      expect(signed.stderr).to.include(`signing ${hash.canonical}: MultiSendCallOnly batch of 2 calls`);
    });

    it("verify: the canonical batch matches its evidence; a foreign delegatecall, a refund or an unasked value is NOT verified", async function () {
      const names = Object.keys(hash);
      const results = await Promise.all(
        names.map((name) => ddc(["verify", hash[name], "--safe", safe, "--store", store, "--evidence", file])),
      );
      const out = Object.fromEntries(names.map((name, i) => [name, results[i]]));
      expect(out.canonical.code, out.canonical.stdout + out.canonical.stderr).to.equal(0);
      for (const title of decision.actions.map((a) => a.title)) {
        expect(out.canonical.stdout).to.include(`ok    ${title}: matches the evidence (${decision.hash})`);
      }
      expect(out.canonical.stdout.trim().endsWith("\nverified")).to.equal(true);
      const [usage, distribution] = decision.actions.map((a) => a.title);
      const fails: Record<string, string> = {
        ...Object.fromEntries(Object.entries(problem).map(([name, p]) => [name, `Safe transaction: ${p}`])),
        value: `${distribution}: the call on chain sends 1 wei, the decided action sends none`,
        innerValue: `${usage}: the call on chain sends 1 wei, the decided action sends none`,
        batchValue: "Safe transaction: the batch carries 1 wei: the decided actions send none",
      };
      for (const [name, line] of Object.entries(fails)) {
        const r = out[name];
        expect(r.code, `${name}: ${r.stderr}`).to.equal(1);
        expect(r.stdout, name).to.include(`FAIL  ${line}\n`);
        expect(r.stdout.trim().endsWith("NOT verified"), name).to.equal(true);
      }
      // A delegatecall that is not the canonical batch is not unpacked: none of its calls is read as decided.
      for (const name of ["multiSend", "elsewhere"]) expect(out[name].stdout).to.not.include("matches the evidence");
    });
  });

  describe("wrong inputs print a clear error and exit non-zero", function () {
    const cases: [string, string[], number | undefined, RegExp, RegExp?][] = [
      [
        "an unknown bucket",
        ["bucket", "show", "999"],
        undefined,
        /error: reverted: BucketNotFound\(bucket=999\)/,
        /hint: check the bucket id/,
      ],
      ["a bad address", ["node", "trust", "0x123"], 16, /error: manager is not an address: "0x123"/],
      ["a bad id", ["cluster", "show", "abc"], undefined, /error: cluster must be a positive integer, got "abc"/],
      [
        "a missing key",
        ["node", "trust", account(10).address],
        undefined,
        /error: this command sends a transaction and no key is set/,
        /hint: set DDC_PRIVATE_KEY, or --keystore <file>/,
      ],
      [
        "not the manager (a Safe's cluster, and the key no owner of it)",
        ["cluster", "reserve", "2", "5"],
        16,
        new RegExp(
          `error: the key ${account(16).address} is not an owner of the Safe 0x[0-9a-fA-F]{40}: cluster 2's manager is a Safe`,
        ),
        /hint: use an owner's key/,
      ],
      ["an unknown proposal", ["gov", "show", "1234567"], undefined, /error: no proposal 1234567 on this Governor/],
      [
        "Safe's Transaction Service on a chain it does not serve",
        ["safe", "list", account(1).address, "--store", "safe"],
        undefined,
        /error: no signature store: Safe's Transaction Service does not serve chain 31337/,
        /hint: pass --store <URL of a signature server \(`ddc safe serve`\) \| directory> \(or DDC_SAFE_STORE\)/,
      ],
    ];
    for (const [what, args, key, message, hint] of cases) {
      it(what, async function () {
        const r = await ddc(args, key);
        expect(r.code).to.equal(1);
        expect(r.stderr).to.match(message);
        if (hint) expect(r.stderr).to.match(hint);
      });
    }

    it("no deployment record, and an unreachable node", async function () {
      const none = await ddc(["cluster", "show", "1"], undefined, { DDC_DEPLOYMENTS_DIR: join(dir, "nowhere") });
      expect(none.code).to.equal(1);
      expect(none.stderr).to.match(/error: no deployment record at .*nowhere\/localhost\.json/);
      const down = await ddc(["--rpc", "http://127.0.0.1:9", "cluster", "show", "1"]);
      expect(down.code).to.equal(1);
      expect(down.stderr).to.match(/error: the RPC node cannot be reached/);
    });

    it("--json errors are JSON too", async function () {
      const r = await ddc(["--json", "bucket", "show", "999"]);
      expect(r.code).to.equal(1);
      expect(JSON.parse(r.stdout)).to.deep.equal({
        error: "reverted: BucketNotFound(bucket=999)",
        hint: "check the bucket id: `ddc bucket show <id>`",
      });
    });
  });
});
