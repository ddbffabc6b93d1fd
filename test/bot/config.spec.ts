import { expect } from "chai";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Wallet, parseEther, parseUnits } from "ethers";
import { ConfigError, describeConfig, loadConfig } from "../../manager-bot/src/config";
import { redactUrl } from "../../manager-bot/src/redact";
import { loadBotKey } from "../../manager-bot/src/main";
import { tempDir } from "../helpers/temp";

const KEY = "0x" + "11".repeat(32);

function write(config: unknown): string {
  const file = join(tempDir("ddc-bot-config-"), "bot.json");
  writeFileSync(file, typeof config === "string" ? config : JSON.stringify(config));
  return file;
}

const minimal = {
  rpc: "http://127.0.0.1:8545",
  deployment: "deployments/localhost.json",
  key: { env: "DDC_BOT_KEY" },
  store: "bot.sqlite",
  clusters: [{ id: 1, manager: { kind: "governor" } }],
};

function problems(file: string, env: NodeJS.ProcessEnv = { DDC_BOT_KEY: KEY }): string[] {
  try {
    loadConfig(file, env);
  } catch (error) {
    expect(error).to.be.instanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("the configuration was accepted");
}

describe("manager bot: configuration", function () {
  it("fills the defaults, resolves paths beside the file, and converts amounts", function () {
    const file = write(minimal);
    const c = loadConfig(file, { DDC_BOT_KEY: KEY });
    const dir = join(file, "..");
    expect(c.store).to.equal(join(dir, "bot.sqlite"));
    expect(c.deployment).to.equal(join(dir, "deployments/localhost.json"));
    expect(c.key).to.deep.equal({ kind: "env", name: "DDC_BOT_KEY" });
    expect(c.schedule).to.equal("*/5 * * * *");
    expect(c.clusters[0]).to.deep.include({
      routine: "operator",
      policy: { failingEras: 3, maxPerEra: 1 },
      missed: { mode: "catch-up", waitEras: 3 },
      settlement: { minimum: "1" },
      paused: false,
    });
    expect(c.tx).to.deep.include({
      maxFeePerGasCap: parseUnits("200", "gwei"),
      priorityFee: parseUnits("1", "gwei"),
      receiptTimeoutMs: 120_000,
      maxBumps: 3,
    });
    expect(c.alerts).to.deep.equal({ minBalance: parseEther("0.1"), stuckAfterSeconds: 86_400 });
    expect(c.logLevel).to.equal("info");
    expect(c.evidence).to.deep.equal({ baseUrl: null });
    expect(c.intake).to.deep.equal({
      host: "127.0.0.1",
      port: 8080,
      directory: null,
      bodyLimitBytes: 8 * 1024 * 1024,
    });
  });

  it("intake.bodyLimitBytes: any size from 1 KiB to 1 GiB", function () {
    const limit = (bodyLimitBytes: unknown) => write({ ...minimal, intake: { bodyLimitBytes } });
    expect(loadConfig(limit(16 * 1024 * 1024), { DDC_BOT_KEY: KEY }).intake.bodyLimitBytes).to.equal(16_777_216);
    expect(problems(limit(512))).to.deep.equal(["intake.bodyLimitBytes: Too small: expected number to be >=1024"]);
    expect(problems(limit(2 ** 31))).to.deep.equal([
      "intake.bodyLimitBytes: Too big: expected number to be <=1073741824",
    ]);
    expect(problems(limit("8MiB"))).to.deep.equal([
      "intake.bodyLimitBytes: Invalid input: expected number, received string",
    ]);
  });

  it("takes a public base URL for the evidence, an http(s) URL without query or fragment", function () {
    const at = (baseUrl: unknown) => ({ ...minimal, evidence: { baseUrl } });
    expect(loadConfig(write(at("https://bot.example/ddc")), { DDC_BOT_KEY: KEY }).evidence).to.deep.equal({
      baseUrl: "https://bot.example/ddc",
    });
    expect(describeConfig(loadConfig(write(at("https://bot.example/ddc")), { DDC_BOT_KEY: KEY }))).to.deep.include({
      evidence: "https://bot.example/ddc",
    });
    expect(problems(write(at("ftp://bot.example")))).to.deep.equal(["evidence.baseUrl: an http(s) URL"]);
    expect(problems(write(at("https://bot.example/?key=1")))).to.deep.equal([
      "evidence.baseUrl: a base URL: no query or fragment",
    ]);
    expect(problems(write(at("https://bot.example/#top")))).to.deep.equal([
      "evidence.baseUrl: a base URL: no query or fragment",
    ]);
    expect(problems(write({ ...minimal, evidence: { baseUrl: null, url: "x" } }))).to.deep.equal([
      'evidence: Unrecognized key: "url"',
    ]);
  });

  it("accepts a cluster managed by a plain key (the bot's own); names the three kinds of manager otherwise", function () {
    const c = loadConfig(write({ ...minimal, clusters: [{ id: 3, manager: { kind: "key" } }] }), { DDC_BOT_KEY: KEY });
    expect(c.clusters[0]).to.deep.include({ id: 3, manager: { kind: "key" }, routine: "operator" });
    expect(describeConfig(c).clusters).to.deep.equal([{ id: 3, manager: "key", routine: "operator", paused: false }]);
    expect(problems(write({ ...minimal, clusters: [{ id: 3, manager: { kind: "eoa" } }] }))).to.deep.equal([
      'clusters.0.manager.kind: one of "governor", "safe" or "key"',
    ]);
    expect(
      problems(write({ ...minimal, clusters: [{ id: 3, manager: { kind: "key", address: KEY } }] })),
    ).to.deep.equal(['clusters.0.manager: Unrecognized key: "address"']);
  });

  it("lets the environment override the RPC URL and the store", function () {
    const c = loadConfig(write(minimal), {
      DDC_BOT_KEY: KEY,
      DDC_BOT_RPC: "https://rpc.example/v3/secret-key",
      DDC_BOT_STORE: "/var/lib/ddc/bot.sqlite",
    });
    expect(c.rpc).to.equal("https://rpc.example/v3/secret-key");
    expect(c.store).to.equal("/var/lib/ddc/bot.sqlite");
  });

  it("lists every problem at once, each with where it is", function () {
    const file = write({
      rpc: "not a url",
      deployment: "",
      key: { env: "lower-case" },
      store: "bot.sqlite",
      schedule: "every minute",
      clusters: [
        { id: 1, manager: { kind: "safe", safe: "0x1234" } },
        { id: 1, manager: { kind: "governor" }, policy: { failingEras: 0 }, surprise: true },
      ],
      tx: { bumpPercent: 5 },
    });
    const list = problems(file);
    expect(list).to.include.members([
      "rpc: an http(s) URL",
      "deployment: Too small: expected string to have >=1 characters",
      'schedule: a cron expression (e.g. "*/5 * * * *")',
      "clusters.1.policy.failingEras: Too small: expected number to be >=1",
      "tx.bumpPercent: Too small: expected number to be >=13",
      "key.env: an environment variable name",
      "clusters.0.manager.safe: an address (0x + 40 hex digits) or a contract name of the deployment record",
      "clusters.0.manager.store: Invalid input: expected string, received undefined",
      'clusters.1: Unrecognized key: "surprise"',
    ]);
    expect(list).to.have.length(9);
  });

  it("names a duplicate cluster, a missing secret, a bad log level, a missing or unparsable file", function () {
    expect(
      problems(write({ ...minimal, clusters: [minimal.clusters[0], minimal.clusters[0]] }), { DDC_BOT_KEY: KEY }),
    ).to.deep.equal(["clusters.1.id: cluster 1 twice"]);
    expect(problems(write(minimal), {})).to.deep.equal(["key.env: the environment variable DDC_BOT_KEY is not set"]);
    expect(
      problems(write({ ...minimal, key: { keystore: "bot.json" } }), { DDC_BOT_KEY: KEY, DDC_BOT_LOG_LEVEL: "loud" }),
    ).to.deep.equal([
      "DDC_BOT_LOG_LEVEL: one of fatal, error, warn, info, debug, trace, silent",
      "key.passwordEnv: the environment variable DDC_BOT_KEYSTORE_PASSWORD (the keystore's password) is not set",
    ]);
    expect(problems(join(tempDir("ddc-bot-config-"), "none.json"))).to.deep.equal(["no such file"]);
    expect(problems(write("{ not json"))[0]).to.match(/^not JSON: /);
    expect(
      problems(write({ ...minimal, tx: { maxFeePerGasGwei: "1", priorityFeeGwei: "2" } }), { DDC_BOT_KEY: KEY }),
    ).to.deep.equal(["tx.priorityFeeGwei: above tx.maxFeePerGasGwei"]);
    // Values zod's types allow but the bot could not use: caught here, not at the first run.
    expect(
      problems(
        write({
          ...minimal,
          rpc: "ws://127.0.0.1:8546",
          clusters: [{ ...minimal.clusters[0], policy: { maxPerEra: 2 } }],
          tx: { maxFeePerGasGwei: "1.0000000001", receiptTimeoutSeconds: 0.5 },
          alerts: { minBalance: "0.0000000000000000001" },
          http: { port: 8080 },
        }),
      ),
    ).to.deep.equal([
      "rpc: an http(s) URL",
      "clusters.0.policy.maxPerEra: at most 1: an era's replacement is one action (cluster, era, replace-node)",
      "tx.maxFeePerGasGwei: a decimal number as a string, at most 9 decimals",
      "tx.receiptTimeoutSeconds: Too small: expected number to be >=1",
      "alerts.minBalance: a decimal number as a string, at most 18 decimals",
      "intake.port: the same as http.port (8080)",
    ]);
  });

  it("never shows a secret: the description names the key's source only, and the RPC URL loses its key", function () {
    const c = loadConfig(write({ ...minimal, rpc: "https://user:pw@rpc.example/v3/abcdef?key=1" }), {
      DDC_BOT_KEY: KEY,
    });
    const shown = JSON.stringify(describeConfig(c));
    expect(shown).to.not.include(KEY.slice(2));
    expect(shown).to.not.include("abcdef");
    expect(shown).to.not.include("user:pw");
    expect(shown).to.include('"key":"env DDC_BOT_KEY"');
    expect(redactUrl("http://127.0.0.1:8545")).to.equal("http://127.0.0.1:8545");
    expect(redactUrl("https://rpc.example/v3/abcdef")).to.equal("https://rpc.example/…");
  });

  it("the example configuration in manager-bot/deploy/ loads as it is", function () {
    const file = join(__dirname, "..", "..", "manager-bot", "deploy", "bot.example.json");
    const c = loadConfig(file, { DDC_BOT_KEY: KEY });
    expect(c.clusters.map((x) => [x.id, x.manager.kind])).to.deep.equal([
      [1, "governor"],
      [2, "safe"],
    ]);
    expect(c.deployment).to.equal(join(__dirname, "..", "..", "deployments", "localhost.json"));
    expect(c.intake.directory).to.equal(join(__dirname, "..", "..", ".ddc-bot", "reports"));
  });

  it("loads the key from an encrypted keystore or the environment, and says what is wrong", async function () {
    const wallet = Wallet.createRandom();
    const dir = tempDir("ddc-bot-key-");
    writeFileSync(join(dir, "bot-keystore.json"), await wallet.encrypt("right"));
    const file = write({ ...minimal, key: { keystore: join(dir, "bot-keystore.json") } });
    const config = loadConfig(file, { DDC_BOT_KEYSTORE_PASSWORD: "right" });
    expect((await loadBotKey(config, { DDC_BOT_KEYSTORE_PASSWORD: "right" })).address).to.equal(wallet.address);
    await expect(loadBotKey(config, { DDC_BOT_KEYSTORE_PASSWORD: "wrong" })).to.be.rejectedWith(
      `cannot open the keystore ${join(dir, "bot-keystore.json")}: wrong password`,
    );
    const missing = loadConfig(write({ ...minimal, key: { keystore: "nowhere.json" } }), {
      DDC_BOT_KEYSTORE_PASSWORD: "x",
    });
    await expect(loadBotKey(missing, { DDC_BOT_KEYSTORE_PASSWORD: "x" })).to.be.rejectedWith(/^no keystore file at /);
    const fromEnv = loadConfig(write(minimal), { DDC_BOT_KEY: KEY });
    expect((await loadBotKey(fromEnv, { DDC_BOT_KEY: KEY })).privateKey).to.equal(KEY);
    await expect(loadBotKey(fromEnv, { DDC_BOT_KEY: "0x12" })).to.be.rejectedWith(
      "DDC_BOT_KEY is not a private key (32 bytes of hex)",
    );
  });
});
