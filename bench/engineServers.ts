import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { userInfo } from "node:os";
import { join } from "node:path";

/**
 * The servers the engine bench loads, each in its own process on a loopback port: nginx (Debian's
 * nginx-light, sendfile on, a generated configuration in a temporary directory, run as the current
 * user) and Node's plain `http` (bench/engineStatic.ts). The storage node itself starts in
 * bench/engine.ts, through bench/engineNode.ts.
 */
const ROOT = join(__dirname, "..");

export interface Served {
  name: string;
  origin: string;
  /** The process's id (for `ps`), when known. */
  pid: number | undefined;
  stop(): Promise<void>;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
export async function waitForPort(port: number, child: ChildProcess, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`bench: ${what} exited with ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`bench: ${what} did not listen on 127.0.0.1:${port}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Stops a child process (SIGTERM, then SIGKILL after 5 s) and waits for it to exit. */
export function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Keeps a child's stderr (its last 64 KiB) for the error message when it fails. */
function keepStderr(child: ChildProcess): () => string {
  let err = "";
  child.stderr?.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-65_536)));
  return () => err;
}

/**
 * nginx serving `files` on `port`: one worker process (as the Node servers have one event loop),
 * sendfile, no access log, everything it writes under `dir`.
 */
export async function startNginx(nginx: string, dir: string, files: string, port: number): Promise<Served> {
  mkdirSync(join(dir, "logs"), { recursive: true });
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    [
      "daemon off;",
      // Only a master started as root reads this: its worker then runs as the same user (not nobody).
      `user ${userInfo().username};`,
      "worker_processes 1;",
      `pid ${join(dir, "nginx.pid")};`,
      `error_log ${join(dir, "logs", "error.log")} warn;`,
      "events { worker_connections 1024; }",
      "http {",
      "  sendfile on;",
      "  tcp_nopush on;",
      "  keepalive_requests 1000000;",
      "  access_log off;",
      "  default_type application/octet-stream;",
      `  client_body_temp_path ${join(dir, "client_body")};`,
      `  proxy_temp_path ${join(dir, "proxy")};`,
      `  fastcgi_temp_path ${join(dir, "fastcgi")};`,
      `  uwsgi_temp_path ${join(dir, "uwsgi")};`,
      `  scgi_temp_path ${join(dir, "scgi")};`,
      "  server {",
      `    listen 127.0.0.1:${port};`,
      `    root ${files};`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const child = spawn(nginx, ["-p", dir, "-c", conf, "-e", join(dir, "logs", "error.log")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  const stderr = keepStderr(child);
  try {
    await waitForPort(port, child, "nginx");
  } catch (error) {
    await stopChild(child);
    throw new Error(`${(error as Error).message}\n${stderr()}`);
  }
  return { name: "nginx", origin: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}

/** Node's plain `http` + `fs.createReadStream` serving `files` on `port` (bench/engineStatic.ts, a child process). */
export async function startNodeHttp(files: string, port: number): Promise<Served> {
  const child = spawn(
    process.execPath,
    ["-r", "ts-node/register/transpile-only", join(__dirname, "engineStatic.ts"), files, String(port)],
    {
      cwd: ROOT,
      env: { ...process.env, TS_NODE_PROJECT: join(ROOT, "tsconfig.json") },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  const stderr = keepStderr(child);
  try {
    await waitForPort(port, child, "node http");
  } catch (error) {
    await stopChild(child);
    throw new Error(`${(error as Error).message}\n${stderr()}`);
  }
  return { name: "node-http", origin: `http://127.0.0.1:${port}`, pid: child.pid, stop: () => stopChild(child) };
}
