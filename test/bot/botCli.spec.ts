import { expect } from "chai";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hashOfJson } from "../../manager-bot/src/evidence";
import { BotStore } from "../../manager-bot/src/store";
import { tempDir } from "../helpers/temp";
import { runDdc } from "../helpers/ddcProcess";

const KEY = "0x" + "22".repeat(32);

/** `ddc bot …` as a separate process: its exit code, stdout and stderr. */
function ddc(args: string[], env: NodeJS.ProcessEnv = {}) {
  return runDdc(args, { PATH: process.env.PATH, DDC_BOT_KEY: KEY, ...env });
}

describe("manager bot: `ddc bot` commands without a chain", function () {
  this.timeout(60_000);
  const dir = tempDir("ddc-bot-cli-");
  const config = join(dir, "bot.json");
  writeFileSync(
    config,
    JSON.stringify({
      rpc: "http://127.0.0.1:9",
      deployment: "none.json",
      key: { env: "DDC_BOT_KEY" },
      store: "state/bot.sqlite",
      clusters: [
        { id: 1, manager: { kind: "governor" } },
        { id: 2, manager: { kind: "governor" }, paused: true },
      ],
    }),
  );

  it("refuses a bad configuration listing every problem, and exits 1", async function () {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ rpc: "nope", clusters: [] }));
    const r = await ddc(["bot", "run", "--config", bad, "--once"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`error: invalid bot configuration ${bad}:`);
    for (const line of [
      "  - rpc: an http(s) URL",
      "  - deployment: Invalid input: expected string, received undefined",
      "  - key: Invalid input",
      "  - store: Invalid input: expected string, received undefined",
      "  - clusters: at least one cluster",
    ])
      expect(r.stderr).to.include(line);
  });

  it("pauses and resumes a cluster in the store; status shows it", async function () {
    const paused = await ddc(["bot", "pause", "1", "--config", config, "--reason", "node 3 under maintenance"]);
    expect(paused).to.deep.include({ code: 0, stdout: "cluster 1 paused: node 3 under maintenance\n" });
    const status = await ddc(["--json", "bot", "status", "--config", config]);
    expect(status.code).to.equal(0);
    const s = JSON.parse(status.stdout) as { clusters: unknown[]; open: unknown[]; actions: Record<string, number> };
    expect(s.clusters).to.deep.equal([
      { cluster: 1, lastEra: null, nextEra: null, paused: "node 3 under maintenance", eras: [] },
      { cluster: 2, lastEra: null, nextEra: null, paused: "paused in the configuration", eras: [] },
    ]);
    expect(s.open).to.deep.equal([]);
    expect(s.actions.executed).to.equal(0);
    expect(await ddc(["bot", "resume", "1", "--config", config])).to.deep.include({ stdout: "cluster 1 resumed\n" });
    expect(await ddc(["bot", "resume", "1", "--config", config])).to.deep.include({
      stdout: "cluster 1 was not paused\n",
    });
    const text = await ddc(["bot", "status", "--config", config]);
    expect(text.stdout).to.include(
      "cluster 1: last era none, next era not started\n" +
        "cluster 2: last era none, next era not started, paused (paused in the configuration)",
    );
  });

  it("status lists each cluster's recent eras, decided or skipped with the reason, newest first", async function () {
    this.timeout(180_000); // three processes
    const file = join(dir, "eras.json");
    writeFileSync(file, readFileSync(config, "utf8").replace("state/bot.sqlite", "state/eras.sqlite"));
    const store = new BotStore(join(dir, "state", "eras.sqlite"), () => 1_700_000_000);
    store.startEra(1, 553);
    const skipped = "no-quorum: 0 of the 2 reports needed after 3 later eras closed";
    store.skipEra(1, 553, skipped);
    store.decideEra(1, 554, "0x" + "54".repeat(32), "{}");
    store.carried(1, 554);
    store.skipEra(1, 555, "missed.mode=skip: only the last closed era is decided");
    store.decideEra(1, 556, "0x" + "56".repeat(32), "{}");
    store.startEra(2, 40);
    store.close();
    const text = await ddc(["bot", "status", "--config", file, "--eras", "3"]);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal(
      [
        "cluster 1: last era 556, next era 557",
        `  era 556: decided, evidence 0x${"56".repeat(32)} (actions not all carried out)`,
        "  era 555: skipped, missed.mode=skip: only the last closed era is decided",
        `  era 554: decided, evidence 0x${"54".repeat(32)}`,
        "cluster 2: last era none, next era 40, paused (paused in the configuration)",
        "actions: decided 0, proposed 0, awaiting-signatures 0, queued 0, executed 0, defeated 0, cancelled 0, expired 0, failed 0",
      ].join("\n") + "\n",
    );
    const json = await ddc(["--json", "bot", "status", "--config", file]);
    const s = JSON.parse(json.stdout) as {
      clusters: { eras: { era: number; status: string; reason: string | null }[] }[];
    };
    expect(s.clusters[0].eras.map((e) => [e.era, e.status, e.reason])).to.deep.equal([
      [556, "decided", null],
      [555, "skipped", "missed.mode=skip: only the last closed era is decided"],
      [554, "decided", null],
      [553, "skipped", skipped],
    ]);
    expect(s.clusters[0].eras[0]).to.deep.include({ carried: false, at: 1_700_000_000 });
    expect(await ddc(["bot", "status", "--config", file, "--eras", "0"])).to.deep.include({
      code: 1,
      stderr: 'error: --eras must be an integer from 1 to 1000, got "0"\n',
    });
  });

  it("bot run --help names the exit codes of --once", async function () {
    const help = await ddc(["bot", "run", "--help"]);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.include(
      "Exit codes of --once:\n" +
        "  0  every closed era due is decided, or recorded as skipped with its reason\n" +
        "  1  the run failed (a cluster's work, the reports directory, the balance check), or a bad configuration\n" +
        "  3  the run did not fail, but an era it should decide waits for its reports (no quorum yet)\n",
    );
  });

  it("refuses an unknown or malformed cluster, and a missing deployment record", async function () {
    expect(await ddc(["bot", "pause", "7", "--config", config])).to.deep.include({
      code: 1,
      stderr: `error: cluster 7 is not in ${config}\n`,
    });
    expect(await ddc(["bot", "pause", "x", "--config", config])).to.deep.include({
      code: 1,
      stderr: 'error: cluster must be a positive integer, got "x"\n',
    });
    const r = await ddc(["bot", "run", "--config", config, "--once"]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`error: no deployment record at ${join(dir, "none.json")}`);
  });

  it("writes out an evidence document the store keeps, byte for byte; names a hash it does not know", async function () {
    const json = JSON.stringify({ era: 4, aggregation: { scores: [{ node: 1, score: 9500 }] }, note: "ünï 😀" });
    const hash = hashOfJson(json);
    const store = new BotStore(join(dir, "state", "bot.sqlite"));
    store.decideEra(9, 4, hash, json);
    store.close();
    expect(await ddc(["bot", "evidence", hash, "--config", config])).to.deep.include({ code: 0, stdout: json });
    const out = join(dir, "evidence.json");
    const written = await ddc([
      "bot",
      "evidence",
      hash.toUpperCase().replace("0X", "0x"),
      "--config",
      config,
      "--out",
      out,
    ]);
    expect(written).to.deep.include({
      code: 0,
      stdout: `evidence ${hash}: ${Buffer.byteLength(json)} bytes written to ${out}\n`,
    });
    expect(readFileSync(out).equals(Buffer.from(json, "utf8"))).to.equal(true);
    const unknown = "0x" + "00".repeat(32);
    expect(await ddc(["bot", "evidence", unknown, "--config", config])).to.deep.include({
      code: 1,
      stdout: "",
      stderr: `error: no evidence document ${unknown} in the store ${join(dir, "state", "bot.sqlite")}\n`,
    });
    expect(await ddc(["bot", "evidence", "0x12", "--config", config])).to.deep.include({
      code: 1,
      stderr: 'error: an evidence hash is 0x and 64 hex digits, got "0x12"\n',
    });
  });
});
