import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyError, type FastifyInstance } from "fastify";
import rateLimit from "@fastify/rate-limit";
import { cleanMessage } from "./redact";
import {
  REJECTIONS,
  ReportUndecided,
  validateReport,
  type ChainView,
  type Rejection,
  type ReportBook,
  type Verdict,
} from "./validate";

export interface IntakeEvent {
  source: string;
  verdict: Verdict["status"];
  reason?: Rejection;
  detail?: string;
  digest?: string;
}

/**
 * Where every report comes in, whatever brought it: the one validation path, with each outcome
 * logged and counted (accepted, and rejected by reason).
 */
export class ReportIntake {
  readonly counters: { accepted: number; rejected: Record<Rejection, number> } = {
    accepted: 0,
    rejected: Object.fromEntries(REJECTIONS.map((r) => [r, 0])) as Record<Rejection, number>,
  };

  constructor(
    private readonly chain: ChainView,
    private readonly book: ReportBook,
    private readonly log: (event: IntakeEvent) => void = () => undefined,
  ) {}

  /**
   * Validates and records `raw`. Throws only a `ReportUndecided` (the chain could not be read now):
   * every other outcome is a verdict.
   */
  async submit(raw: unknown, source: string): Promise<Verdict> {
    return this.count(await validateReport(raw, this.chain, this.book), source);
  }

  /** A report refused before validation (a body that is not JSON): logged and counted the same way. */
  refuse(reason: Rejection, detail: string, source: string): Verdict {
    return this.count({ status: "rejected", reason, detail }, source);
  }

  /** Whether the chain answers at all (after a report could not be checked: is it the chain, or that report's reads?). */
  async chainAnswers(): Promise<boolean> {
    try {
      await this.chain.now();
      return true;
    } catch {
      return false;
    }
  }

  private count(verdict: Verdict, source: string): Verdict {
    if (verdict.status === "accepted") {
      this.counters.accepted++;
      this.log({ source, verdict: "accepted", digest: verdict.digest });
    } else {
      this.counters.rejected[verdict.reason]++;
      this.log({ source, verdict: "rejected", reason: verdict.reason, detail: verdict.detail });
    }
    return verdict;
  }
}

/**
 * HTTP status of each rejection: the request is wrong (400), or conflicts with what is known (409);
 * `unverifiable` is the bot's own trouble (500).
 */
const STATUS: Record<Rejection, number> = {
  malformed: 400,
  "wrong-chain": 400,
  "wrong-core": 400,
  "unknown-cluster": 400,
  late: 409,
  early: 400,
  forged: 400,
  "not-a-validator": 403,
  duplicate: 409,
  equivocation: 409,
  unverifiable: 500,
};

/** The default body limit of `POST /reports`: a report of 100,000 buckets is about 4.5 MB. */
export const DEFAULT_BODY_LIMIT = 8 * 1024 * 1024;

/**
 * Reports over HTTP: `POST /reports` (JSON, at most `bodyLimit` bytes, at most `perMinute` requests
 * a minute from one address) answers 202 with the digest, or the rejection's status with
 * `{ status: "rejected", reason, detail }`: a body that is not JSON (empty, unparsable, another
 * content type) is `malformed` (400) like a report of the wrong shape. A body over the limit is
 * 413, naming the limit; a report the chain cannot check now is 503. `GET /reports/stats` gives
 * the counters.
 */
export async function createReportServer(
  intake: ReportIntake,
  options: { bodyLimit?: number; perMinute?: number } = {},
): Promise<FastifyInstance> {
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const app = Fastify({ bodyLimit, logger: false });
  // JSON only: a report sent as text/plain is refused, not read as a string.
  app.removeContentTypeParser("text/plain");
  app.setErrorHandler((error: FastifyError, req, reply) => {
    if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE") {
      return reply.status(413).send({
        status: "too-large",
        limit: bodyLimit,
        detail: `the body is over the intake's limit of ${bodyLimit} bytes`,
      });
    }
    const status = error.statusCode ?? 500;
    if (status === 429) {
      return reply.status(status).send({ status: "rate-limited", detail: error.message });
    }
    if (status >= 400 && status < 500) {
      // The body could not be read as JSON (or is of another type): a malformed report.
      const detail =
        error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
          ? `the body must be JSON (content-type application/json), not ${req.headers["content-type"] ?? "untyped"}`
          : `the body is not a JSON report: ${error.message}`;
      intake.refuse("malformed", detail, `http ${req.ip}`);
      return reply.status(400).send({ status: "rejected", reason: "malformed", detail });
    }
    return reply.status(500).send({ status: "error", detail: cleanMessage(error) });
  });
  await app.register(rateLimit, { max: options.perMinute ?? 120, timeWindow: 60_000 });
  app.post("/reports", async (req, reply) => {
    const source = `http ${req.ip}`;
    let verdict: Verdict;
    if (req.body === undefined) {
      verdict = intake.refuse("malformed", "no body: send the signed report as JSON (application/json)", source);
    } else {
      try {
        verdict = await intake.submit(req.body, source);
      } catch (error) {
        if (!(error instanceof ReportUndecided)) throw error;
        // The chain could not be read: nothing was decided about the report; send it again later.
        return reply.status(503).send({ status: "unavailable", detail: error.message });
      }
    }
    if (verdict.status === "accepted") return reply.status(202).send({ status: "accepted", digest: verdict.digest });
    return reply
      .status(STATUS[verdict.reason])
      .send({ status: "rejected", reason: verdict.reason, detail: verdict.detail });
  });
  // Monitoring is not rate limited.
  app.get("/reports/stats", { config: { rateLimit: false } }, async () => intake.counters);
  return app;
}

/** What a scan did with one file: a verdict, or nothing yet (the chain could not be read). */
export type ScanOutcome = { file: string; verdict: Verdict } | { file: string; undecided: string };

/**
 * Reports from a directory: each `*.json` file in `dir` goes through the same path, then moves to
 * `dir/accepted/`, or to `dir/rejected/` with a `<file>.reason` beside it. Nothing is deleted.
 * A file the chain cannot check now stays for the next scan, and the scan goes on with the
 * others; if the chain does not answer at all, the scan stops there (the rest wait too).
 */
export async function scanReportDirectory(intake: ReportIntake, dir: string): Promise<ScanOutcome[]> {
  const out: ScanOutcome[] = [];
  if (!existsSync(dir)) return out;
  for (const sub of ["accepted", "rejected"]) mkdirSync(join(dir, sub), { recursive: true });
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const path = join(dir, file);
    let verdict: Verdict;
    try {
      verdict = await judgeFile(intake, path, `file ${file}`);
    } catch (error) {
      if (!(error instanceof ReportUndecided)) throw error;
      out.push({ file, undecided: error.message });
      // The chain away altogether: the other files would only wait longer for it.
      if (await intake.chainAnswers()) continue;
      break;
    }
    if (verdict.status === "accepted") {
      renameSync(path, join(dir, "accepted", file));
    } else {
      renameSync(path, join(dir, "rejected", file));
      writeFileSync(join(dir, "rejected", `${file}.reason`), `${verdict.reason}: ${verdict.detail}\n`);
    }
    out.push({ file, verdict });
  }
  return out;
}

/** The verdict on one report file (a file that is not JSON is a malformed report). */
async function judgeFile(intake: ReportIntake, path: string, source: string): Promise<Verdict> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    return intake.refuse("malformed", `not a JSON file: ${cleanMessage(error)}`, source);
  }
  return intake.submit(raw, source);
}
