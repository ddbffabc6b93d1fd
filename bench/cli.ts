import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

/**
 * `npm run bench:cli`: how long a newcomer waits. The wall time of `ddc --help` (the compiled code
 * in dist/) beside `node -e 0` (Node's own start, the floor) in the same run, interleaved, medians
 * of RUNS each, and their ratio, the figure to compare across machines; `ddc --help` through
 * ts-node (how bin/ddc ran before dist/, and runs when dist/ is stale), a few runs; and the time
 * from `npm start` to its first DDC line, with the contracts already compiled. Writes
 * reports/cli.json (rows { name, value, unit, n }, as the other reports) and reports/cli.md.
 */
const ROOT = join(__dirname, "..");
const RUNS = 15;
const TS_NODE_RUNS = 3;
const START_RUNS = 3;

interface Row {
  name: string;
  value: number;
  unit: string;
  n: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x: number, digits: number) => Number(x.toFixed(digits));
const fmt = (x: number, digits = 0) =>
  x.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });

/** The wall time (ms) of `node <args>`, which must exit 0. */
function timed(args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, env, encoding: "utf8" });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return ms;
}

/**
 * `npm start` until its first DDC line (the first line of the demo's own, after npm's header and
 * any compiler line): the wall time to that line (ms). The demo is stopped there.
 */
function firstDdcLine(prefix: string): Promise<{ ms: number; line: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("npm", ["start"], { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let buffered = "";
    let done = false;
    const stop = () => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    };
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      if (done) return;
      buffered += chunk;
      const line = buffered.split("\n").find((l) => l.startsWith(prefix));
      if (line === undefined) return;
      done = true;
      resolve({ ms: performance.now() - started, line });
      stop();
    });
    child.stderr.resume();
    child.on("exit", (code) => {
      if (!done) reject(new Error(`npm start exited ${code} before a DDC line:\n${buffered}`));
    });
  });
}

async function main(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const dist = require("../scripts/dist.cjs") as { staleness(): string | undefined; build(): void };
  const stale = dist.staleness();
  if (stale !== undefined) {
    console.log(`Compiling the TypeScript into dist/ first (${stale})…`);
    dist.build();
  }
  const ddc = join(ROOT, "bin", "ddc");
  const load = loadavg()[0];

  // Warm the file system cache, then interleave, so that both see the same machine.
  timed(["-e", "0"]);
  timed([ddc, "--help"]);
  const nodeMs: number[] = [];
  const helpMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    nodeMs.push(timed(["-e", "0"]));
    helpMs.push(timed([ddc, "--help"]));
  }
  // bin/ddc before dist/: the same program through ts-node (transpile only).
  const tsNodeScript =
    `require("ts-node").register({ transpileOnly: true, project: ${JSON.stringify(join(ROOT, "tsconfig.json"))} });` +
    `require(${JSON.stringify(join(ROOT, "cli", "main"))}).buildProgram().parse(["node", "ddc", "--help"]);`;
  const tsNodeMs: number[] = [];
  for (let i = 0; i < TS_NODE_RUNS; i++) tsNodeMs.push(timed(["-e", tsNodeScript]));

  const startMs: number[] = [];
  const demoMs: number[] = [];
  let firstLine = "";
  let demoLine = "";
  for (let i = 0; i < START_RUNS; i++) {
    const r = await firstDdcLine("DDC");
    startMs.push(r.ms);
    firstLine = r.line;
    const d = await firstDdcLine("DDC on the embedded chain");
    demoMs.push(d.ms);
    demoLine = d.line;
  }

  const help = median(helpMs);
  const floor = median(nodeMs);
  const rows: Row[] = [
    { name: "ddc-help", value: round(help, 1), unit: "ms", n: RUNS },
    { name: "node-e-0", value: round(floor, 1), unit: "ms", n: RUNS },
    { name: "ddc-help-vs-node", value: round(help / floor, 2), unit: "x", n: RUNS },
    { name: "ddc-help-ts-node", value: round(median(tsNodeMs), 1), unit: "ms", n: TS_NODE_RUNS },
    { name: "npm-start-first-line", value: round(median(startMs), 1), unit: "ms", n: START_RUNS },
    { name: "npm-start-demo-first-line", value: round(median(demoMs), 1), unit: "ms", n: START_RUNS },
  ];
  const list = (xs: number[]) => xs.map((x) => fmt(x)).join(", ");
  const notes = [
    `\`ddc --help\` is \`node bin/ddc --help\` running dist/ (compiled by \`prepare\`); \`node -e 0\` is Node starting ` +
      `and exiting, measured in the same run, interleaved with it. Each a separate process, ${RUNS} runs after one ` +
      `warm-up: \`ddc --help\` ${list(helpMs)} ms; \`node -e 0\` ${list(nodeMs)} ms.`,
    `Through ts-node (how bin/ddc ran every command before dist/, and still does when dist/ is older than a source): ` +
      `${list(tsNodeMs)} ms.`,
    `\`npm start\` with the contracts compiled, until its first DDC line ("${firstLine}"): ${list(startMs)} ms ` +
      "(npm and scripts/start.cjs); until the demo's own first line " +
      `("${demoLine}"): ${list(demoMs)} ms (Hardhat's start and the compile check, the demo's modules through ts-node).`,
    `The machine: ${cpus().length} cores, load average ${fmt(load, 1)} when the run began (other work shares it: ` +
      "compare the ratio rather than milliseconds).",
  ];

  const dir = join(ROOT, "reports");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "cli.json"), JSON.stringify(rows, null, 2) + "\n");
  const md = [
    "# The command line's start",
    "",
    `Measured by \`npm run bench:cli\` (Node ${process.version}). Wall-clock figures are medians on whatever ` +
      "machine ran them; compare `ddc-help-vs-node` across machines rather than milliseconds.",
    "",
    "| name | value | unit | n |",
    "|---|---:|---|---:|",
    ...rows.map((r) => `| ${r.name} | ${fmt(r.value, r.unit === "x" ? 2 : 1)} | ${r.unit} | ${r.n} |`),
    "",
    ...notes.map((n) => `- ${n}`),
    "",
  ].join("\n");
  writeFileSync(join(dir, "cli.md"), md);
  for (const r of rows)
    console.log(`${r.name.padEnd(22)} ${fmt(r.value, r.unit === "x" ? 2 : 1).padStart(10)} ${r.unit}`);
  console.log("Written: reports/cli.json, reports/cli.md");
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
