#!/usr/bin/env node
// The project's Solidity compiler (the npm `solc` package, pinned in package.json) behind the
// command-line interface that forge expects of a native solc: `--version`, and `--standard-json`
// reading the input from stdin and writing the output to stdout. foundry.toml points `solc` here,
// so forge compiles with the same compiler as Hardhat and downloads nothing.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Buffer } from "node:buffer";
import process from "node:process";

const require = createRequire(import.meta.url);
const solc = require("solc");

/** The pinned version, as in hardhat.config.ts. */
const PINNED = "0.8.30";

const longVersion = solc.version();
if (!longVersion.startsWith(`${PINNED}+`)) {
  process.stderr.write(`the installed npm package solc is ${longVersion}, the project pins ${PINNED}: run npm ci\n`);
  process.exit(1);
}

const args = process.argv.slice(2);

if (args.includes("--version")) {
  // forge reads the version from the second line, as a native build prints it.
  const commit = /\+commit\.[0-9a-f]+/.exec(longVersion)?.[0] ?? "";
  process.stdout.write(`solc, the solidity compiler commandline interface\nVersion: ${PINNED}${commit}.Linux.g++\n`);
  process.exit(0);
}

if (!args.includes("--standard-json")) {
  process.stderr.write("only --version and --standard-json are supported\n");
  process.exit(1);
}

/** The directories a source path may be resolved against: --base-path, each --include-path, the cwd. */
function roots() {
  const found = [];
  for (let i = 0; i < args.length - 1; i++) {
    if (args[i] === "--base-path" || args[i] === "--include-path") found.push(args[i + 1]);
  }
  found.push(process.cwd());
  return found;
}

/** Reads an import that the standard-JSON input did not carry (forge normally sends every source). */
function findImports(importPath) {
  for (const root of roots()) {
    try {
      return { contents: readFileSync(path.resolve(root, importPath), "utf8") };
    } catch {
      // Try the next root.
    }
  }
  return { error: `file not found: ${importPath}` };
}

// Read stdin as a stream: forge may hand over a non-blocking pipe, which a synchronous read of
// file descriptor 0 rejects with EAGAIN.
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = Buffer.concat(chunks).toString("utf8");
process.stdout.write(solc.compile(input, { import: findImports }));
