import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "../test/helpers/localNode";
import { stopChild, waitForPort } from "./engineServers";
import type { EngineWorld } from "./engineWorld";

/**
 * The storage node under load, in its own process (bench/engineNodeMain.ts: the node's own
 * `startStorageNode` on a generated configuration), its data under `dir`, its signing key in
 * DDC_NODE_KEY as an operator would pass it.
 */
const ROOT = join(__dirname, "..");

export interface EngineNode {
  origin: string;
  /** The ops server (/metrics). */
  opsOrigin: string;
  pid: number | undefined;
  /** How it ran, for the report. */
  describe: string;
  /** The CPU profile written when it stopped (`profile: true`). */
  profiles(): string[];
  stop(): Promise<void>;
}

export async function startEngineNode(o: {
  world: EngineWorld;
  port: number;
  dir: string;
  /** Run under `--cpu-prof` (the profile lands in `dir`/profile when the node stops). */
  profile?: boolean;
  /** Extra environment for the node (switches it exposes). */
  env?: Record<string, string>;
  /** The URL registered for the node (a second process of the same node listens on another port). */
  url?: string;
  /** `data.cache.bytes` (the node's default unless given; 0 keeps no checked copy in memory). */
  cacheBytes?: number;
}): Promise<EngineNode> {
  mkdirSync(o.dir, { recursive: true });
  const config = join(o.dir, "node.json");
  const opsPort = await freePort();
  writeFileSync(
    config,
    JSON.stringify(
      {
        chain: { rpcUrl: o.world.rpcUrl, core: o.world.core, lens: o.world.lens },
        node: {
          id: o.world.nodeId,
          key: { env: "DDC_NODE_KEY" },
          url: o.url ?? `http://127.0.0.1:${o.port}`,
          capacity: "1000",
          rent: "1000000",
        },
        data: {
          dir: join(o.dir, "data"),
          blobs: { kind: "fs" },
          ...(o.cacheBytes === undefined ? {} : { cache: { bytes: o.cacheBytes } }),
        },
        server: { host: "127.0.0.1", port: o.port },
        ops: { host: "127.0.0.1", port: opsPort },
        scrub: { intervalS: 0 },
        // One node in a cluster of replication factor 1: nothing to copy to, so replication's
        // loops (hints, repair, ring watch, anti-entropy) stay off and cost the run nothing.
        replication: { enabled: false },
        log: { level: "warn" },
      },
      null,
      2,
    ),
  );
  const profileDir = join(o.dir, "profile");
  const child = spawn(
    process.execPath,
    [
      ...(o.profile === true ? ["--cpu-prof", "--cpu-prof-dir", profileDir] : []),
      "-r",
      "ts-node/register/transpile-only",
      join(__dirname, "engineNodeMain.ts"),
      config,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        ...o.env,
        TS_NODE_PROJECT: join(ROOT, "tsconfig.json"),
        DDC_NODE_KEY: o.world.nodeKey.privateKey,
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (err = (err + d).slice(-65_536)));
  try {
    await waitForPort(o.port, child, "the storage node", 120_000);
  } catch (error) {
    await stopChild(child);
    throw new Error(`${(error as Error).message}\n${err}`);
  }
  return {
    origin: `http://127.0.0.1:${o.port}`,
    opsOrigin: `http://127.0.0.1:${opsPort}`,
    pid: child.pid,
    describe:
      "storage-node/src/main.ts's startStorageNode in a Node process of its own, the filesystem blob store, " +
      "authorisation on (an app session, every request signed), one node in a cluster of replication " +
      "factor 1 with replication off (`replication.enabled: false`: no peer to copy to)",
    profiles: () => {
      try {
        return readdirSync(profileDir).map((f) => join(profileDir, f));
      } catch {
        return [];
      }
    },
    stop: () => stopChild(child),
  };
}
