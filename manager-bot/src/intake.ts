import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import rateLimit from "@fastify/rate-limit";
import { cleanMessage } from "./redact";
import { REJECTIONS, validateReport, type ChainView, type Rejection, type ReportBook, type Verdict } from "./validate";

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

  async submit(raw: unknown, source: string): Promise<Verdict> {
    const verdict = await validateReport(raw, this.chain, this.book);
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

/** HTTP status of each rejection: the request is wrong (400), or conflicts with what is known (409). */
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
};

/**
 * Reports over HTTP: `POST /reports` (JSON, at most `bodyLimit` bytes, at most `perMinute` requests
 * a minute from one address) answers 202 with the digest, or the rejection's status with
 * `{ reason, detail }`; `GET /reports/stats` the counters.
 */
export async function createReportServer(
  intake: ReportIntake,
  options: { bodyLimit?: number; perMinute?: number } = {},
): Promise<FastifyInstance> {
  const app = Fastify({ bodyLimit: options.bodyLimit ?? 1024 * 1024, logger: false });
  await app.register(rateLimit, { max: options.perMinute ?? 120, timeWindow: 60_000 });
  app.post("/reports", async (req, reply) => {
    let verdict: Verdict;
    try {
      verdict = await intake.submit(req.body, `http ${req.ip}`);
    } catch (error) {
      // The chain could not be read: nothing was decided about the report; send it again later.
      return reply
        .status(503)
        .send({ status: "unavailable", detail: `cannot check the report now: ${cleanMessage(error)}` });
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

/**
 * Reports from a directory: each `*.json` file in `dir` goes through the same path, then moves to
 * `dir/accepted/`, or to `dir/rejected/` with a `<file>.reason` beside it. Nothing is deleted.
 */
export async function scanReportDirectory(
  intake: ReportIntake,
  dir: string,
): Promise<{ file: string; verdict: Verdict }[]> {
  const out: { file: string; verdict: Verdict }[] = [];
  if (!existsSync(dir)) return out;
  for (const sub of ["accepted", "rejected"]) mkdirSync(join(dir, sub), { recursive: true });
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const path = join(dir, file);
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(path, "utf8"));
    } catch (error) {
      raw = { unparsable: (error as Error).message };
    }
    const verdict = await intake.submit(raw, `file ${file}`);
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
