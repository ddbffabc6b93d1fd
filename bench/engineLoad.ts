import { spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The engine bench's load: `wrk` (Debian's package, C and LuaJIT, so that the client is not the
 * bottleneck) driven by a Lua script that reads its requests from a file, one a line, each with
 * its own headers (the signed ones) and, for a PUT, a body made of a file's bytes with its last
 * 16 bytes replaced by the request's own suffix (every PUT body distinct, so that no store can
 * skip a write whose content it already holds).
 */

/** One request as wrk sends it. */
export interface LoadRequest {
  method: "GET" | "PUT";
  /** The request target (path and query). */
  path: string;
  headers: Record<string, string>;
  /** A PUT's body: `file`'s bytes, the last `suffix.length` of them replaced by `suffix` (ASCII). */
  body?: { file: string; suffix: string };
}

/** What one wrk run measured. */
export interface LoadResult {
  requests: number;
  seconds: number;
  reqPerSec: number;
  /** Bytes read from the server, headers included. */
  bytesRead: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses with a status of 400 or more, and socket errors and timeouts. */
  statusErrors: number;
  socketErrors: number;
  /** Whether some thread ran out of its requests and sent some again (PUT: replays, refused). */
  wrapped: boolean;
}

export const CONNECTIONS = 16;
export const THREADS = 2;

/**
 * The Lua side. `setup` numbers the threads; each thread's `init` keeps every THREADS-th line of the
 * request file (its share), pre-formats the requests without a body, and formats a PUT's at send
 * time (its body is a fresh string). `done` prints one JSON line that the bench parses.
 */
const LUA = String.raw`
local threads = {}
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function split(line)
  local fields = {}
  for f in string.gmatch(line, "([^\t]*)\t?") do table.insert(fields, f) end
  return fields
end

local reqs, n, i = {}, 0, 0
local bases = {}
wrapped = 0

local function base(file, cut)
  local key = file .. "#" .. cut
  if bases[key] == nil then
    local h = assert(io.open(file, "rb"))
    local bytes = h:read("*a")
    h:close()
    bases[key] = string.sub(bytes, 1, #bytes - cut)
  end
  return bases[key]
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  local line_no = 0
  for line in io.lines(file) do
    if line_no % nthreads == id then
      local f = split(line)
      local headers = {}
      local k = 5
      while f[k] ~= nil and f[k] ~= "" do
        headers[f[k]] = f[k + 1]
        k = k + 2
      end
      n = n + 1
      if f[3] == "-" then
        reqs[n] = wrk.format(f[1], f[2], headers, nil)
      else
        reqs[n] = { method = f[1], path = f[2], headers = headers, base = base(f[3], #f[4]), suffix = f[4] }
      end
    end
    line_no = line_no + 1
  end
end

function request()
  i = i + 1
  if i > n then
    i = 1
    wrapped = 1
  end
  local r = reqs[i]
  if type(r) == "string" then return r end
  return wrk.format(r.method, r.path, r.headers, r.base .. r.suffix)
end

function done(summary, latency, requests)
  local w = 0
  for _, t in ipairs(threads) do w = w + (t:get("wrapped") or 0) end
  local e = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"p50_us":%d,"p99_us":%d,' ..
    '"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"wrapped":%d}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout, w))
end
`;

/** Writes the Lua script into `dir` (once per bench run); returns its path. */
export function writeLuaScript(dir: string): string {
  const file = join(dir, "load.lua");
  writeFileSync(file, LUA);
  return file;
}

/** Writes `requests` as wrk's request file (one a line, tab-separated). */
export function writeRequests(file: string, requests: LoadRequest[]): void {
  const bad = /[\t\n]/;
  const lines = requests.map((r) => {
    const fields = [r.method, r.path, r.body?.file ?? "-", r.body?.suffix ?? "-"];
    for (const [name, value] of Object.entries(r.headers)) fields.push(name, value);
    if (fields.some((f) => bad.test(f))) throw new Error(`bench: a request field holds a tab or a newline: ${r.path}`);
    return fields.join("\t");
  });
  writeFileSync(file, lines.join("\n") + "\n");
}

/** Runs wrk for `seconds` against `origin` (http://127.0.0.1:port) with the requests in `requestFile`. */
export function runWrk(script: string, requestFile: string, origin: string, seconds: number): Promise<LoadResult> {
  const args = [
    `-t${THREADS}`,
    `-c${CONNECTIONS}`,
    `-d${seconds}s`,
    "--latency",
    "--timeout",
    "30s",
    "-s",
    script,
    origin,
    "--",
    requestFile,
    String(THREADS),
  ];
  return new Promise((resolve, reject) => {
    const child = spawn("wrk", args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith("WRK-RESULT "));
      if (code !== 0 || line === undefined) {
        reject(new Error(`wrk ${args.join(" ")} exited ${code}:\n${out}\n${err}`));
        return;
      }
      const r = JSON.parse(line.slice("WRK-RESULT ".length)) as Record<string, number>;
      const secondsRun = r.duration_us / 1e6;
      resolve({
        requests: r.requests,
        seconds: secondsRun,
        reqPerSec: r.requests / secondsRun,
        bytesRead: r.bytes,
        p50Ms: r.p50_us / 1000,
        p99Ms: r.p99_us / 1000,
        statusErrors: r.status,
        socketErrors: r.connect + r.read + r.write + r.timeout,
        wrapped: r.wrapped > 0,
      });
    });
  });
}

/** Whether `command` is on the PATH. */
function has(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" }).status === 0;
}

/** The nginx binary (Debian installs it under /usr/sbin, which a user's PATH may lack). */
export function nginxBinary(): string | undefined {
  if (has("nginx")) return "nginx";
  return ["/usr/sbin/nginx", "/usr/local/sbin/nginx"].find(
    (p) => spawnSync(p, ["-v"], { stdio: "ignore" }).status === 0,
  );
}

/** Installs Debian's wrk and nginx-light when either is missing (apt-get, through sudo when not root). */
export function ensureTools(log: (msg: string) => void): { nginx: string } {
  const missing = [has("wrk") ? undefined : "wrk", nginxBinary() === undefined ? "nginx-light" : undefined].filter(
    (p): p is string => p !== undefined,
  );
  if (missing.length > 0) {
    log(`installing ${missing.join(" and ")} (apt-get)…`);
    const root = process.getuid?.() === 0;
    const prefix = root ? "" : "sudo ";
    const r = spawnSync(
      "sh",
      [
        "-c",
        `${prefix}apt-get update -qq && ${prefix}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing.join(" ")}`,
      ],
      { stdio: "inherit" },
    );
    if (r.status !== 0) throw new Error(`bench: apt-get install ${missing.join(" ")} failed (${r.status})`);
  }
  const nginx = nginxBinary();
  if (nginx === undefined || !has("wrk")) throw new Error("bench: wrk or nginx still missing after apt-get install");
  return { nginx };
}

/** The version line of wrk and of nginx, for the report. */
export function toolVersions(nginx: string): { wrk: string; nginx: string } {
  const wrk = spawnSync("wrk", ["-v"], { encoding: "utf8" });
  const ng = spawnSync(nginx, ["-v"], { encoding: "utf8" });
  return {
    wrk: (wrk.stdout + wrk.stderr).split("\n")[0].split(" Copyright")[0].trim(),
    nginx: (ng.stdout + ng.stderr).split("\n")[0].replace("nginx version: ", "").trim(),
  };
}
