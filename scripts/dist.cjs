#!/usr/bin/env node
// dist/: the compiled JavaScript of cli/, manager-bot/src/, governance/, lib/, deploy/ and
// typechain-types/ (tsconfig.build.json), which `bin/ddc` runs. `npm ci` builds it (`prepare`);
// `npm run build:ts` (this file, run as a script) rebuilds it. Required as a module, it answers
// whether dist/ is current: missing, or older than any source it is built from, means stale.
// Plain CommonJS with no dependency, so that `bin/ddc` can ask before loading anything else.
const { existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } = require("node:fs");
const { join, relative } = require("node:path");

const ROOT = join(__dirname, "..");
const DIST = join(ROOT, "dist");
const CONFIG = join(ROOT, "tsconfig.build.json");
/** Written after a successful build, with the time the build started: what sources are compared with. */
const STAMP = join(DIST, ".built");

/** The folders compiled into dist/ (tsconfig.build.json's `include`). */
function sourceFolders() {
  return JSON.parse(readFileSync(CONFIG, "utf8")).include.map((folder) => join(ROOT, folder));
}

/** The newest .ts file under `dir` (any depth) newer than `since` (ms), or undefined. */
function newerIn(dir, since) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      const found = newerIn(path, since);
      if (found !== undefined) return found;
    } else if (entry.name.endsWith(".ts") && statSync(path).mtimeMs > since) {
      return path;
    }
  }
  return undefined;
}

/**
 * Why dist/ cannot be run as it is ("dist/ is missing", "cli/main.ts is newer than dist/"), or
 * undefined when it is current. About 300 stats: a few milliseconds.
 */
function staleness() {
  if (!existsSync(STAMP)) return "dist/ is missing (or its build did not finish)";
  const built = statSync(STAMP).mtimeMs;
  for (const file of [CONFIG, join(ROOT, "tsconfig.json")]) {
    if (statSync(file).mtimeMs > built) return `${relative(ROOT, file)} is newer than dist/`;
  }
  for (const folder of sourceFolders()) {
    const found = newerIn(folder, built);
    if (found !== undefined) return `${relative(ROOT, found)} is newer than dist/`;
  }
  return undefined;
}

/** Compiles tsconfig.build.json into dist/ (incremental: a few seconds after a small change); throws on a type error. */
function build() {
  const started = new Date();
  const { spawnSync } = require("node:child_process");
  const tsc = require.resolve("typescript/bin/tsc", { paths: [ROOT] });
  const result = spawnSync(process.execPath, [tsc, "-p", CONFIG], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0)
    throw new Error(`tsc -p tsconfig.build.json failed (exit ${result.status ?? result.signal})`);
  mkdirSync(DIST, { recursive: true });
  writeFileSync(STAMP, `${started.toISOString()}\n`);
  // A source saved while tsc ran is newer than the stamp, so the next check sees it.
  utimesSync(STAMP, started, started);
}

module.exports = { ROOT, DIST, STAMP, staleness, build };

if (require.main === module) {
  try {
    build();
  } catch (error) {
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
