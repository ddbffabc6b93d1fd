import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { getAddress, type TypedDataDomain } from "ethers";
import { z } from "zod";
import {
  MAX_REPORT_BUCKETS,
  MAX_REPORT_NODES,
  REPORT_TYPES,
  bucketUsageSchema,
  nodeResultSchema,
  reportBodySchema,
  reportDigest,
  reportSigner,
  signReport,
  signedReportSchema,
  type ReportBody,
  type SignedReport,
} from "../../manager-bot/src/report";
import type { GlobalOptions } from "../context";
import { CliError } from "../errors";
import { reportFailure, toJson } from "../output";
import type { Runner } from "../main";
import { postReport, type BotAnswer, type PostOptions } from "../../validator/src/submit";
import { loadValidatorConfig } from "../../validator/src/config";
import { startValidator, validatorLogger } from "../../validator/src/service";

export { postReport, reportsUrl, type BotAnswer, type PostOptions } from "../../validator/src/submit";

/** Every problem zod found, one a line, each named by its field (at most 20). */
function problems(error: z.ZodError): string {
  const lines = error.issues.slice(0, 20).map((i) => `  - ${i.path.join(".") || "(root)"}: ${i.message}`);
  if (error.issues.length > 20) lines.push(`  - … and ${error.issues.length - 20} more`);
  return lines.join("\n");
}

function readJson(file: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new CliError(`no ${what} at ${file}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CliError(`the ${what} ${file} is not JSON: ${(error as Error).message}`);
  }
}

/** The body before it is put in order: each node and bucket checked, in any order; no other field. */
const unorderedBody = reportBodySchema
  .extend({
    nodes: z.array(nodeResultSchema).max(MAX_REPORT_NODES),
    buckets: z.array(bucketUsageSchema).max(MAX_REPORT_BUCKETS),
  })
  .strict();

/**
 * An unsigned report body `{ cluster, era, nodes, buckets }` as a validator writes it: nodes and
 * buckets in any order, put in increasing id order here (the order the signed report needs); an
 * id listed twice is refused. Every problem is named by its field.
 */
export function readReportBody(raw: unknown, where: string): ReportBody {
  const parsed = unorderedBody.safeParse(raw);
  if (!parsed.success) throw new CliError(`the report body ${where} is not valid:\n${problems(parsed.error)}`);
  const nodes = [...parsed.data.nodes].sort((a, b) => a.node - b.node);
  const buckets = [...parsed.data.buckets].sort((a, b) => a.bucket - b.bucket);
  const twice = [
    ...nodes
      .filter((n, i) => i > 0 && nodes[i - 1].node === n.node)
      .map((n) => `nodes: node ${n.node} is listed twice`),
    ...buckets
      .filter((b, i) => i > 0 && buckets[i - 1].bucket === b.bucket)
      .map((b) => `buckets: bucket ${b.bucket} is listed twice`),
  ];
  if (twice.length > 0) {
    throw new CliError(`the report body ${where} is not valid:\n${twice.map((t) => `  - ${t}`).join("\n")}`);
  }
  return reportBodySchema.parse({ cluster: parsed.data.cluster, era: parsed.data.era, nodes, buckets });
}

/** Signs the report body in `file` for `chainId` and `core`: the signed report, as the bot takes it. */
export async function signReportFile(
  file: string,
  signer: {
    getAddress(): Promise<string>;
    signTypedData(d: TypedDataDomain, t: typeof REPORT_TYPES, v: ReportBody): Promise<string>;
  },
  chainId: number,
  core: string,
): Promise<SignedReport> {
  return signReport(signer, chainId, core, readReportBody(readJson(file, "report body"), file));
}

/**
 * A signed report checked as the bot checks it before any chain lookup: its shape, and its
 * signature recovering to the validator it names (a file edited after signing is refused here,
 * not by the bot).
 */
export function checkSignedReport(raw: unknown, where: string): SignedReport {
  const parsed = signedReportSchema.safeParse(raw);
  if (!parsed.success) {
    const unsigned = typeof raw === "object" && raw !== null && "cluster" in raw && !("signature" in raw);
    throw new CliError(
      `the signed report ${where} is not valid:\n${problems(parsed.error)}`,
      unsigned ? "this is a report body: sign it first (`ddc validator sign-report <body.json>`)" : undefined,
    );
  }
  const report = parsed.data;
  let signer: string;
  try {
    signer = reportSigner(report);
  } catch (error) {
    throw new CliError(`the signature of ${where} does not verify: ${(error as Error).message.split(" (")[0]}`);
  }
  const validator = getAddress(report.validator);
  if (signer !== validator) {
    throw new CliError(
      `the report ${where} is signed by ${signer}, not by its validator ${validator}: it was changed after signing, or signed with another key; not sent`,
      "sign the body again: `ddc validator sign-report <body.json>`",
    );
  }
  return report;
}

/** Whether two signed reports are the same report (the same signature, or failing that the same digest). */
function sameReport(a: SignedReport, b: SignedReport): boolean {
  if (a.signature.toLowerCase() === b.signature.toLowerCase()) return true;
  return (
    a.chainId === b.chainId && reportDigest(a.chainId, a.core, a.report) === reportDigest(b.chainId, b.core, b.report)
  );
}

/**
 * Writes `report` into the bot's reports directory as `<cluster>-<era>-<validator>.json`, whole or
 * not at all (a temporary file renamed: the bot never reads half a file). Refuses a different
 * report of the same validator and era waiting there or accepted already (the bot would drop both
 * as equivocation), and the same report accepted already. The same report waiting is left as it is.
 */
export function writeReportFile(report: SignedReport, dir: string): { path: string; written: boolean } {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new CliError(
      `no directory at ${dir}`,
      "--to takes the http(s) URL of the bot's intake, or its reports directory",
    );
  }
  const { cluster, era } = report.report;
  const validator = getAddress(report.validator);
  const name = `${cluster}-${era}-${validator}.json`;
  const path = join(dir, name);
  const what = `report of ${validator} for era ${era} of cluster ${cluster}`;
  const existing = (file: string): SignedReport | undefined => {
    if (!existsSync(file)) return undefined;
    const parsed = signedReportSchema.safeParse(readJson(file, "report"));
    return parsed.success ? parsed.data : undefined;
  };
  const accepted = existing(join(dir, "accepted", name));
  if (accepted !== undefined) {
    if (sameReport(accepted, report))
      throw new CliError(`this ${what} was accepted already (${join(dir, "accepted", name)})`);
    throw new CliError(
      `a different ${what} was accepted already (${join(dir, "accepted", name)}): not written`,
      "a second, different report for one era is equivocation: the bot would drop both",
    );
  }
  const waiting = existing(path);
  if (waiting !== undefined) {
    if (sameReport(waiting, report)) return { path, written: false };
    throw new CliError(
      `a different ${what} is waiting at ${path}: not written`,
      "if this one replaces it, remove that file first (the bot has not read it yet)",
    );
  }
  const temporary = join(dir, `.${name}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(temporary, `${JSON.stringify(report, null, 2)}\n`, { flag: "wx" });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw new CliError(`cannot write ${path}: ${(error as Error).message}`);
  }
  return { path, written: true };
}

/** What a validator can do about each rejection. */
const HINTS: Record<string, string> = {
  malformed: "the file is not a report the bot reads: `ddc validator sign-report` writes one",
  "wrong-chain": "sign the body for the bot's chain: `--network` or `--deployment` of that chain",
  "wrong-core": "sign the body for the bot's deployment: `--network` or `--deployment` of that chain",
  "unknown-cluster": "check the cluster id: `ddc cluster show <id>`",
  late: "the bot has decided (or skipped) that era already",
  early: "the era has not ended: send the report once it has (`ddc cluster show <cluster>`)",
  forged: "sign the body again with the validator's key",
  "not-a-validator": "the key is not in the cluster's validator set at the era's end: `ddc cluster show <cluster>`",
  duplicate: "the bot has this report already: nothing to do",
  equivocation: "two different reports for one era: the bot dropped both",
  unverifiable: "the bot could not check it: tell the bot's operator, then send it again",
};

/** Submits the signed report in `file` to `to` (the bot's intake URL, or its reports directory). */
export async function submitReportFile(
  file: string,
  to: string,
  options: PostOptions = {},
): Promise<{ kind: "http"; answer: BotAnswer } | { kind: "directory"; path: string; written: boolean }> {
  const report = checkSignedReport(readJson(file, "signed report"), file);
  if (/^https?:\/\//i.test(to)) return { kind: "http", answer: await postReport(report, to, options) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(to)) throw new CliError(`--to ${to}: an http(s) URL or a directory`);
  return { kind: "directory", ...writeReportFile(report, to) };
}

/** A command that needs no deployment record: its failure printed as every command's, exit 1. */
function standalone<A extends unknown[]>(fn: (globals: GlobalOptions, ...args: A) => Promise<void>) {
  return async (...args: unknown[]) => {
    const globals = (args[args.length - 1] as Command).optsWithGlobals<GlobalOptions>();
    try {
      await fn(globals, ...(args.slice(0, -1) as A));
    } catch (error) {
      reportFailure(error, globals.json === true);
    }
  };
}

/** `ddc validator`: a validator signs its QoS report and sends it to the manager bot. */
export function registerValidator(program: Command, run: Runner): void {
  const validator = program
    .command("validator")
    .description("a validator: run the service, or sign a QoS report and send it to the manager bot by hand");

  validator
    .command("run")
    .description(
      "run the validator service: each era it probes, challenges and meters every node of its clusters, signs the report and sends it to the bots (SIGTERM or SIGINT stop it)",
    )
    .requiredOption("--config <file>", "the validator's configuration (JSON; see validator/config.example.json)")
    .action(async (o: { config: string }) => {
      try {
        const config = loadValidatorConfig(o.config);
        const running = await startValidator(config, { logger: validatorLogger(config.logLevel) });
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            process.stderr.write(`${signal}: stopping the validator (the era being measured is not reported)\n`);
            void running.stop().then(resolve);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
      } catch (error) {
        reportFailure(error);
      }
    });

  validator
    .command("sign-report <body>")
    .description(
      "sign a report body ({ cluster, era, nodes, buckets }, in any order) with the validator's key, for the deployment's chain and core",
    )
    .option("--out <file>", "write the signed report there (default: stdout)")
    .action(
      run(async (ctx, file: string, o: { out?: string }) => {
        const signer = await ctx.signer().catch((error: unknown) => {
          if (error instanceof CliError && /no key is set/.test(error.message))
            throw new CliError("signing a report needs the validator's key, and none is set", error.hint);
          throw error;
        });
        const signed = await signReportFile(file, signer, ctx.record.chainId, ctx.ddc.target as string);
        const text = `${JSON.stringify(signed, null, 2)}\n`;
        if (o.out === undefined) process.stdout.write(text);
        else writeFileSync(o.out, text);
        const { cluster, era, nodes, buckets } = signed.report;
        ctx.progress(
          `signed by ${signed.validator}: cluster ${cluster}, era ${era}, ${nodes.length} nodes, ${buckets.length} buckets, chain ${signed.chainId}, core ${signed.core}`,
        );
      }),
    );

  validator
    .command("submit <signed>")
    .description(
      "check a signed report, then send it to the bot's intake (POST <url>/reports) or write it into its reports directory",
    )
    .requiredOption("--to <where>", "the http(s) URL of the bot's intake, or its reports directory")
    .action(
      standalone(async (globals, file: string, o: { to: string }) => {
        const progress = (line: string) => {
          if (globals.quiet !== true) process.stderr.write(`${line}\n`);
        };
        const out = await submitReportFile(file, o.to, { progress });
        if (out.kind === "directory") {
          const line = out.written
            ? `written to ${out.path}: the bot takes it at its next run`
            : `the same report is waiting at ${out.path} already`;
          console.log(globals.json === true ? toJson({ status: "written", path: out.path, new: out.written }) : line);
          return;
        }
        const a = out.answer;
        if (a.status === "accepted") {
          console.log(globals.json === true ? toJson(a) : `accepted: digest ${a.digest}`);
          return;
        }
        if (a.status === "rejected") {
          throw new CliError(`the bot rejected the report: ${a.reason}: ${a.detail}`, HINTS[a.reason]);
        }
        throw new CliError(
          `no verdict from the bot: ${a.detail}`,
          a.http === 503 ? "the bot cannot check reports now: send it again later" : undefined,
        );
      }),
    );
}
