import { expect } from "chai";
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isKnownThirdPartyWarning } from "../../hardhat.config";
import { ROOT, findRoot } from "../../lib/root";
import { tempDir } from "../helpers/temp";
import { runDdc, type DdcResult } from "../helpers/ddcProcess";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const dist = require("../../scripts/dist.cjs") as { STAMP: string; staleness(): string | undefined };
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

type Result = DdcResult;

/** `node <root>/bin/ddc <args>` as a separate process. */
function ddc(root: string, args: string[]): Promise<Result> {
  return runDdc(args, { PATH: process.env.PATH }, root);
}

const FALLBACK = "running the TypeScript sources (slow); npm run build:ts compiles them\n";

describe("the compiled ddc (dist/, built by prepare)", function () {
  this.timeout(300_000);

  describe("from this repository's dist/", function () {
    it("is current (the test task rebuilds it), and --version prints package.json's version with nothing on stderr", async function () {
      expect(dist.staleness()).to.equal(undefined);
      const r = await ddc(ROOT, ["--version"]);
      expect(r).to.deep.equal({ code: 0, stdout: `${VERSION}\n`, stderr: "" });
    });

    it("--help lists the commands and --version, from the compiled code", async function () {
      const r = await ddc(ROOT, ["--help"]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal("");
      expect(r.stdout).to.match(/^Usage: ddc \[options\] \[command\]/);
      expect(r.stdout).to.include("-V, --version");
      for (const command of ["node", "account", "bucket", "cluster", "gov", "safe", "verify", "bot", "validator"]) {
        expect(r.stdout).to.match(new RegExp(`\\n  ${command}\\b`), command);
      }
    });

    it("an unknown option exits 1 with commander's message", async function () {
      const r = await ddc(ROOT, ["--no-such-option"]);
      expect(r.code).to.equal(1);
      expect(r.stderr).to.include("error: unknown option '--no-such-option'");
    });
  });

  describe("the staleness guard (a copy of the repository in a temporary folder)", function () {
    const SOURCES = [
      "cli",
      "manager-bot/src",
      "storage-node",
      "validator",
      "governance",
      "lib",
      "deploy",
      "typechain-types",
    ];
    let root: string;

    /** bin/, scripts/dist.cjs, the tsconfigs, a package.json of version 7.7.7-copy, node_modules, and `what`. */
    function copy(what: { dist: boolean; sources: boolean }): string {
      const dir = join(tempDir("build"), "repo");
      mkdirSync(join(dir, "scripts"), { recursive: true });
      cpSync(join(ROOT, "bin"), join(dir, "bin"), { recursive: true });
      cpSync(join(ROOT, "scripts", "dist.cjs"), join(dir, "scripts", "dist.cjs"));
      for (const f of ["tsconfig.json", "tsconfig.build.json"]) cpSync(join(ROOT, f), join(dir, f));
      writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "ddc", version: "7.7.7-copy" }));
      symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"));
      if (what.sources) for (const s of SOURCES) cpSync(join(ROOT, s), join(dir, s), { recursive: true });
      if (what.dist) {
        cpSync(join(ROOT, "dist"), join(dir, "dist"), { recursive: true });
        // The copy's files are all newer than the copied stamp: date them back, as after a build.
        const past = new Date(Date.now() - 3600_000);
        for (const s of what.sources ? SOURCES : []) touchTree(join(dir, s), past);
        utimesSync(join(dir, "dist", ".built"), new Date(), new Date());
      }
      return dir;
    }

    function touchTree(dir: string, when: Date): void {
      const r = spawnSync("find", [dir, "-exec", "touch", "-d", when.toISOString(), "{}", "+"]);
      expect(r.status).to.equal(0);
    }

    it("runs dist/ when no source is newer: with no TypeScript at all, --version is the copy's package.json", async function () {
      root = copy({ dist: true, sources: false });
      const r = await ddc(root, ["--version"]);
      expect(r).to.deep.equal({ code: 0, stdout: "7.7.7-copy\n", stderr: "" });
    });

    it("a source newer than dist/ makes it run the sources through ts-node, saying so in one line", async function () {
      root = copy({ dist: true, sources: true });
      const fresh = await ddc(root, ["--version"]);
      expect(fresh).to.deep.equal({ code: 0, stdout: "7.7.7-copy\n", stderr: "" });

      utimesSync(join(root, "cli", "output.ts"), new Date(Date.now() + 5000), new Date(Date.now() + 5000));
      const stale = await ddc(root, ["--version"]);
      expect(stale).to.deep.equal({
        code: 0,
        stdout: "7.7.7-copy\n",
        stderr: `ddc: cli/output.ts is newer than dist/: ${FALLBACK}`,
      });
    });

    it("a regenerated typing (the contracts recompiled) and a changed tsconfig count as sources too", async function () {
      root = copy({ dist: true, sources: true });
      const later = new Date(Date.now() + 5000);
      utimesSync(join(root, "typechain-types", "index.ts"), later, later);
      expect((await ddc(root, ["--version"])).stderr).to.equal(
        `ddc: typechain-types/index.ts is newer than dist/: ${FALLBACK}`,
      );
      root = copy({ dist: true, sources: true });
      const after = new Date(Date.now() + 5000);
      utimesSync(join(root, "tsconfig.build.json"), after, after);
      expect((await ddc(root, ["--version"])).stderr).to.equal(
        `ddc: tsconfig.build.json is newer than dist/: ${FALLBACK}`,
      );
    });

    it("no dist/ (or a build that did not finish: no stamp) runs the sources, saying so", async function () {
      root = copy({ dist: false, sources: true });
      const missing = await ddc(root, ["--version"]);
      expect(missing).to.deep.equal({
        code: 0,
        stdout: "7.7.7-copy\n",
        stderr: `ddc: dist/ is missing (or its build did not finish): ${FALLBACK}`,
      });
      root = copy({ dist: true, sources: true });
      rmSync(join(root, "dist", ".built"));
      expect((await ddc(root, ["--version"])).stderr).to.equal(
        `ddc: dist/ is missing (or its build did not finish): ${FALLBACK}`,
      );
    });
  });

  describe("packages deferred to their first use (bin/lazy.cjs)", function () {
    /** Runs `script` in a Node process with the deferral installed; its stdout, parsed. */
    function deferred(script: string): unknown {
      const r = spawnSync(
        process.execPath,
        ["-e", `require(${JSON.stringify(join(ROOT, "bin", "lazy.cjs"))}).deferPackages();\n${script}`],
        { cwd: ROOT, encoding: "utf8" },
      );
      expect(r.status, r.stderr).to.equal(0);
      return JSON.parse(r.stdout);
    }

    it("loads a deferred package when a property is first read, not when it is required", function () {
      const loaded = `Object.keys(require.cache).some((k) => k.includes("/node_modules/prom-client/"))`;
      expect(
        deferred(
          `const m = require("prom-client"); const before = ${loaded}; const C = m.Counter; ` +
            `console.log(JSON.stringify([before, ${loaded}, typeof C, new m.Registry() instanceof m.Registry]))`,
        ),
      ).to.deep.equal([false, true, "function", true]);
    });

    it("keeps esModuleInterop's meaning: `default` of a CommonJS package is the package itself", function () {
      // better-sqlite3 exports the Database class as module.exports, with no `default`.
      expect(
        deferred(
          `const m = require("better-sqlite3"); ` +
            `console.log(JSON.stringify([m.__esModule, typeof m.default, m.default.name]))`,
        ),
      ).to.deep.equal([true, "function", "Database"]);
    });

    it("leaves every other package as it is", function () {
      expect(
        deferred(
          `const z = require("zod"); console.log(JSON.stringify([require("node:util").types.isProxy(z), typeof z.z.object]))`,
        ),
      ).to.deep.equal([false, "function"]);
    });
  });

  describe("the repository root (lib/root.ts)", function () {
    it("is the folder with package.json, from the sources and from dist/ alike", function () {
      expect(findRoot(join(ROOT, "lib"))).to.equal(ROOT);
      expect(findRoot(join(ROOT, "dist", "cli", "commands"))).to.equal(ROOT);
    });

    it("fails when no folder above has a package.json", function () {
      expect(() => findRoot("/")).to.throw("no package.json above /");
    });
  });

  describe("the compiler warnings a newcomer sees (hardhat.config.ts)", function () {
    const transient = {
      errorCode: "2394",
      severity: "warning",
      sourceLocation: { file: "@openzeppelin/contracts/utils/TransientSlot.sol" },
    };

    it("hides solc's transient-storage warning in OpenZeppelin's TransientSlot", function () {
      expect(isKnownThirdPartyWarning(transient)).to.equal(true);
    });

    it("keeps it in any other file, and keeps every other warning and every error", function () {
      expect(isKnownThirdPartyWarning({ ...transient, sourceLocation: { file: "contracts/DDCCore.sol" } })).to.equal(
        false,
      );
      expect(isKnownThirdPartyWarning({ ...transient, errorCode: "5667" })).to.equal(false);
      expect(isKnownThirdPartyWarning({ ...transient, severity: "error" })).to.equal(false);
      expect(isKnownThirdPartyWarning({ errorCode: "2394", severity: "warning" })).to.equal(false);
    });
  });
});
