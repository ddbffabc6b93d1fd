#!/usr/bin/env node
// `npm start`: the demo network on Hardhat's embedded chain. Hardhat's own start and the demo's
// TypeScript take about 10 s on 2 cores before the demo prints anything, and a first run compiles
// the contracts too (hardhat.config.ts says so when it does): this line says at once what is
// starting, then Hardhat runs scripts/demo.ts.
const { spawn } = require("node:child_process");
const { join } = require("node:path");

const root = join(__dirname, "..");
process.stdout.write(
  "DDC: starting the demo network on Hardhat's embedded chain (about 10 s of loading before the first step)…\n",
);
const child = spawn(
  process.execPath,
  [
    require.resolve("hardhat/internal/cli/cli.js", { paths: [root] }),
    "run",
    "scripts/demo.ts",
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: "inherit" },
);
// Ctrl-C reaches both processes (one process group); a TERM sent to this one is passed on.
process.on("SIGTERM", () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => {
  process.exitCode = code ?? (signal === null ? 1 : 128 + 15);
});
