/**
 * Keeping secrets out of logs. RPC providers put API keys in the URL's path or query, and ethers
 * puts the request URL into its error messages: every URL is written without its path, query or
 * credentials.
 */

/** An URL without credentials, path or query (`https://rpc.example/…`). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const redacted = u.username !== "" || u.password !== "" || u.search !== "" || u.pathname.length > 1;
    return redacted ? `${u.protocol}//${u.host}/…` : `${u.protocol}//${u.host}`;
  } catch {
    return "(not a URL)";
  }
}

/** A text with every URL in it redacted. */
export function redactText(text: string): string {
  return text.replace(/\b(?:https?|wss?):\/\/[^\s"'<>)\]}]+/g, (url) => redactUrl(url));
}

/** An error's message for a log line: ethers' short message when there is one, URLs redacted. */
export function cleanMessage(error: unknown): string {
  const e = error as { shortMessage?: unknown; message?: unknown } | null | undefined;
  const text =
    typeof e?.shortMessage === "string" ? e.shortMessage : typeof e?.message === "string" ? e.message : String(error);
  return redactText(text);
}
