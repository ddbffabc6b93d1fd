import { loadConfig } from "../storage-node/src/config";
import { startStorageNode } from "../storage-node/src/main";

/**
 * The engine bench's storage node: `node bench/engineNodeMain.ts <config.json>` starts the node as
 * an operator would (its configuration file, its key in the environment) and stops it cleanly on
 * SIGTERM, so that `--cpu-prof` writes its profile.
 */
async function main(): Promise<void> {
  const file = process.argv[2];
  if (file === undefined) throw new Error("usage: engineNodeMain <config.json>");
  const node = await startStorageNode(loadConfig(file));
  process.once("SIGTERM", () => {
    void node.close().finally(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
