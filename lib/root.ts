import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The repository's root: the nearest folder above `from` that holds package.json. The same from
 * the TypeScript sources (lib/) and from the compiled code (dist/lib/, one level deeper), so that
 * paths like deployments/ never depend on where the running file sits.
 */
export function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** The repository's root (see findRoot). */
export const ROOT = findRoot(__dirname);
