import { expect } from "chai";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { tempDir } from "../helpers/temp";

const ROOT = join(__dirname, "..", "..");
const run = promisify(execFile);
const KEY = "0x" + "22".repeat(32);

/** `ddc bot …` as a separate process: its exit code, stdout and stderr. */
async function ddc(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(ROOT, "bin", "ddc"), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, DDC_BOT_KEY: KEY, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
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
      { cluster: 1, lastEra: null, paused: "node 3 under maintenance" },
      { cluster: 2, lastEra: null, paused: "paused in the configuration" },
    ]);
    expect(s.open).to.deep.equal([]);
    expect(s.actions.executed).to.equal(0);
    expect(await ddc(["bot", "resume", "1", "--config", config])).to.deep.include({ stdout: "cluster 1 resumed\n" });
    expect(await ddc(["bot", "resume", "1", "--config", config])).to.deep.include({
      stdout: "cluster 1 was not paused\n",
    });
    const text = await ddc(["bot", "status", "--config", config]);
    expect(text.stdout).to.include(
      "cluster 1: last era none\ncluster 2: last era none, paused (paused in the configuration)",
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
});
