import { readFileSync } from "node:fs";
import { relative } from "node:path";

/**
 * A V8 CPU profile (`node --cpu-prof`), summed: self time per function and per package, the
 * largest first, as the engine bench reports where the node's time goes.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  /** "(idle)" time: the event loop waiting. */
  idleMs: number;
  functions: { name: string; ms: number }[];
  packages: { name: string; ms: number }[];
}

/** Where a script is: a package under node_modules, the project's own file, or Node's internals. */
function packageOf(url: string, root: string): string {
  if (url === "") return "(native or V8)";
  if (url.startsWith("node:")) return "node:" + url.slice(5).split("/")[0];
  const path = url.startsWith("file://") ? url.slice(7) : url;
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (m !== null) return m[1];
  return relative(root, path).split("/").slice(0, 3).join("/");
}

export function summariseProfile(file: string, root: string, top = 15): ProfileSummary {
  const p = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const functions = new Map<string, number>();
  const packages = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (n === undefined) continue;
    total += us;
    const f = n.callFrame;
    if (f.functionName === "(idle)") {
      idle += us;
      continue;
    }
    const where = f.url === "" ? "" : ` ${packageOf(f.url, root)}:${f.lineNumber + 1}`;
    const name = `${f.functionName || "(anonymous)"}${where}`;
    functions.set(name, (functions.get(name) ?? 0) + us);
    const pkg = f.functionName.startsWith("(") ? f.functionName : packageOf(f.url, root);
    packages.set(pkg, (packages.get(pkg) ?? 0) + us);
  }
  const sorted = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, ms: us / 1000 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, functions: sorted(functions), packages: sorted(packages) };
}
