import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "chai";
import {
  ValidatorConfigError,
  describeValidatorConfig,
  loadValidatorConfig,
  parseValidatorConfig,
} from "../../validator/src/config";

const EXAMPLE = join(__dirname, "../../validator/config.example.json");
const raw = () => JSON.parse(readFileSync(EXAMPLE, "utf8")) as Record<string, unknown>;

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (error) {
    expect(error).to.be.instanceOf(ValidatorConfigError);
    return (error as ValidatorConfigError).problems;
  }
  expect.fail("no error");
}

describe("validator: configuration", () => {
  it("the example file is valid with its keystore password set; paths resolved, defaults filled", () => {
    const c = loadValidatorConfig(EXAMPLE, { DDC_VALIDATOR_KEYSTORE_PASSWORD: "x" });
    expect(c.key).to.deep.equal({
      kind: "keystore",
      file: join(__dirname, "../../validator/validator-key.json"),
      passwordEnv: "DDC_VALIDATOR_KEYSTORE_PASSWORD",
    });
    expect(c.clusters).to.deep.equal([1, 2]);
    expect(c.probes).to.deep.equal({ perEra: 20, timeoutMs: 2000 });
    expect(c.challenges).to.deep.equal({ perNode: 30, timeoutMs: 5000 });
    expect(c.logLevel).to.equal("info");
    expect(describeValidatorConfig(c).key).to.equal(`keystore ${c.key.kind === "keystore" ? c.key.file : ""}`);
  });

  it("defaults: every cluster naming the validator, 20 probes, 30 challenges; env overrides the RPC and log level", () => {
    const c = parseValidatorConfig(
      { chain: { rpcUrl: "http://127.0.0.1:8545", core: `0x${"11".repeat(20)}` }, key: { env: "V_KEY" }, dataDir: "d" },
      "/etc/ddc/v.json",
      { V_KEY: "0x01", DDC_VALIDATOR_RPC: "http://10.0.0.1:8545", DDC_VALIDATOR_LOG_LEVEL: "debug" },
    );
    expect(c.clusters).to.equal(undefined);
    expect(c.bots).to.deep.equal([]);
    expect(c.dataDir).to.equal("/etc/ddc/d");
    expect(c.chain.rpcUrl).to.equal("http://10.0.0.1:8545");
    expect(c.logLevel).to.equal("debug");
    expect(c.probes.perEra).to.equal(20);
  });

  it("names every bad field by its path", () => {
    const r = raw();
    r.chain = { rpcUrl: "ftp://x", core: "0x12" };
    r.probes = { perEra: 5, timeoutMs: 2000 };
    r.challenges = { perNode: 0 };
    r.bots = [{ url: "not a url" }];
    r.extra = true;
    const p = problems(() => parseValidatorConfig(r, "v.json", { DDC_VALIDATOR_KEYSTORE_PASSWORD: "x" }));
    expect(p).to.include("chain.rpcUrl: an http(s) URL");
    expect(p).to.include("chain.core: an address (0x + 40 hex digits)");
    expect(p).to.include("probes.perEra: Too small: expected number to be >=20");
    expect(p).to.include("challenges.perNode: Too small: expected number to be >=1");
    expect(p).to.include("bots.0.url: an http(s) URL");
    expect(p.some((x) => x.startsWith("(the file): Unrecognized key") && x.includes("extra"))).to.equal(true);
  });

  it("a missing key variable, a cluster listed twice, a bad override, no file, not JSON", () => {
    const r = raw();
    r.key = { env: "V_KEY" };
    r.clusters = [1, 1];
    expect(problems(() => parseValidatorConfig(r, "v.json", { DDC_VALIDATOR_LOG_LEVEL: "loud" }))).to.deep.equal([
      "DDC_VALIDATOR_LOG_LEVEL: one of fatal, error, warn, info, debug, trace, silent",
      "key.env: the environment variable V_KEY is not set",
      "clusters: a cluster is listed twice",
    ]);
    expect(problems(() => loadValidatorConfig("/nonexistent/v.json"))).to.deep.equal(["no such file"]);
    const dir = mkdtempSync(join(tmpdir(), "ddc-vcfg-"));
    writeFileSync(join(dir, "v.json"), "{");
    expect(problems(() => loadValidatorConfig(join(dir, "v.json")))[0]).to.match(/^not JSON: /);
  });
});
