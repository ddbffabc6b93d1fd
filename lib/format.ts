/**
 * One way to show money and time, for every text the project prints (the CLI's lines, decoded
 * errors, the bot's messages): amounts in whole tokens with the token's symbol, timestamps as ISO
 * (UTC, to the second) followed by how far they are from now. JSON output keeps raw integers and
 * says `decimals` and `symbol` beside them (see `tokenJson`).
 */

/** The payment token as people read it. */
export interface TokenInfo {
  symbol: string;
  decimals: number;
}

/** `value` base units as a decimal number of whole tokens, exactly, without trailing zeros. */
export function formatUnits(value: bigint, decimals: number): string {
  const negative = value < 0n;
  const v = negative ? -value : value;
  const unit = 10n ** BigInt(decimals);
  const fraction = (v % unit).toString().padStart(decimals, "0").replace(/0+$/, "");
  return `${negative ? "-" : ""}${v / unit}${fraction ? `.${fraction}` : ""}`;
}

/** `value` base units with the token's symbol: `1234.5 USDC`. */
export function formatMoney(value: bigint, token: TokenInfo): string {
  return `${formatUnits(value, token.decimals)} ${token.symbol}`;
}

/** What `--json` prints beside raw amounts, so a reader can scale them. */
export function tokenJson(token: TokenInfo): { symbol: string; decimals: number } {
  return { symbol: token.symbol, decimals: token.decimals };
}

const UNITS: [number, string][] = [
  [86_400, "d"],
  [3_600, "h"],
  [60, "min"],
  [1, "s"],
];

/** A duration in its largest unit and the next one: `7 d`, `3 h 20 min`, `45 s`. */
export function formatDuration(seconds: number | bigint): string {
  let s = Math.abs(Number(seconds));
  if (s === 0) return "0 s";
  const parts: string[] = [];
  for (const [size, name] of UNITS) {
    if (s >= size && parts.length < 2) {
      parts.push(`${Math.floor(s / size)} ${name}`);
      s %= size;
    } else if (parts.length > 0) break;
  }
  return parts.join(" ");
}

/** `in 3 h` or `2 d ago` (or `now`), from `now` to `at`, both Unix seconds. */
export function relativeTime(at: number | bigint, now: number | bigint): string {
  const delta = Number(at) - Number(now);
  if (delta === 0) return "now";
  return delta > 0 ? `in ${formatDuration(delta)}` : `${formatDuration(delta)} ago`;
}

/** Unix seconds as ISO 8601 in UTC, to the second: `2026-12-07T12:00:00Z`. */
export function isoTime(at: number | bigint): string {
  return new Date(Number(at) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** `2026-12-07T12:00:00Z (in 3 h)`: a timestamp people can read, beside how far it is. */
export function formatTime(at: number | bigint, now: number | bigint): string {
  return `${isoTime(at)} (${relativeTime(at, now)})`;
}

/** How the values of a decoded error or call are shown: money and times, by argument. */
export interface ValueFormat {
  money?: (value: bigint) => string;
  time?: (value: bigint) => string;
}

export function valueFormat(token: TokenInfo | undefined, now: number | bigint | undefined): ValueFormat {
  return {
    money: token === undefined ? undefined : (v) => formatMoney(v, token),
    time: now === undefined ? undefined : (v) => formatTime(v, now),
  };
}
