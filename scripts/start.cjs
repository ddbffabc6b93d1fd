#!/usr/bin/env node
// `npm start`: the DDC network on loopback (scripts/network/): an anvil chain, eight storage nodes,
// three validators, the manager bot, the voters, a Safe owner and an app. Loading its TypeScript
// takes a few seconds on 2 cores: this line says at once what is starting.
const { spawn } = require("node:child_process");
const { join } = require("node:path");

const root = join(__dirname, "..");
process.stdout.write("DDC: starting the network on loopback (a few seconds of loading before the first step)…\n");
const child = spawn(
  process.execPath,
  ["-r", "ts-node/register/transpile-only", "scripts/network/main.ts", ...process.argv.slice(2)],
  { cwd: root, stdio: "inherit", env: { ...process.env, TS_NODE_PROJECT: join(root, "tsconfig.json") } },
);
// Ctrl-C reaches both processes (one process group); a TERM sent to this one is passed on.
process.on("SIGTERM", () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => {
  process.exitCode = code ?? (signal === null ? 1 : 128 + 15);
});
