import { z } from "zod";
import { redactText, redactUrl } from "../../manager-bot/src/redact";
import type { SignedReport } from "../../manager-bot/src/report";

/** What the bot answered (its JSON), or why there was no answer. */
export type BotAnswer =
  | { status: "accepted"; digest: string }
  | { status: "rejected"; reason: string; detail: string; http: number }
  | { status: "unanswered"; detail: string; http?: number };

const answerSchema = z.object({
  status: z.string(),
  digest: z.string().optional(),
  reason: z.string().optional(),
  detail: z.string().optional(),
});

/** HTTP answers worth trying again: rate limited, the bot unable to check now, a proxy in between. */
const RETRY_STATUS = new Set([429, 502, 503, 504]);

export interface PostOptions {
  /** Tries in all (default 4). */
  attempts?: number;
  /** The wait before the second try, doubled each time after (default 1,000 ms). */
  backoffMs?: number;
  /** How long one try may take (default 120 s: a 100,000-bucket report is 4.5 MB). */
  timeoutMs?: number;
  progress?: (line: string) => void;
}

/** `<url>/reports`, unless `url` names it already. */
export function reportsUrl(url: string): string {
  const u = new URL(url);
  if (!u.pathname.replace(/\/+$/, "").endsWith("/reports")) u.pathname = `${u.pathname.replace(/\/+$/, "")}/reports`;
  return u.toString();
}

/**
 * POSTs `report` to the bot's intake (`<url>/reports`), trying again after a failed connection, a
 * timeout, 429, 502, 503 or 504, waiting longer each time. Returns the bot's verdict, or why there
 * was none after the last try.
 */
export async function postReport(report: SignedReport, url: string, options: PostOptions = {}): Promise<BotAnswer> {
  const target = reportsUrl(url);
  const attempts = Math.max(1, options.attempts ?? 4);
  const body = JSON.stringify(report);
  let last: BotAnswer = { status: "unanswered", detail: "not sent" };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let wait = (options.backoffMs ?? 1000) * 2 ** (attempt - 1);
    try {
      const response = await fetch(target, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
      });
      const text = await response.text();
      let json: z.infer<typeof answerSchema> | undefined;
      try {
        const parsed = answerSchema.safeParse(JSON.parse(text));
        json = parsed.success ? parsed.data : undefined;
      } catch {
        json = undefined;
      }
      if (response.status === 202 && json?.status === "accepted" && json.digest !== undefined) {
        return { status: "accepted", digest: json.digest };
      }
      if (json?.status === "rejected" && json.reason !== undefined) {
        return { status: "rejected", reason: json.reason, detail: json.detail ?? "", http: response.status };
      }
      last = {
        status: "unanswered",
        http: response.status,
        detail: json?.detail ?? `HTTP ${response.status}${text === "" ? "" : `: ${text.slice(0, 200)}`}`,
      };
      if (!RETRY_STATUS.has(response.status)) return last;
      // Rate limited: the bot says when to come back (at most a minute is worth waiting here).
      const after = Number(response.headers.get("retry-after"));
      if (response.status === 429 && after > 0) wait = Math.max(wait, Math.min(after, 60) * 1000);
    } catch (error) {
      const e = error as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === "TimeoutError" ? "timed out" : (e.cause?.code ?? e.cause?.message ?? e.message);
      last = { status: "unanswered", detail: `cannot reach the bot at ${redactUrl(target)}: ${redactText(why)}` };
    }
    if (attempt < attempts) {
      options.progress?.(`try ${attempt} of ${attempts}: ${last.detail}; again in ${wait / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
  return last;
}
