import type { Command } from "commander";
import { loadConfig } from "../../storage-node/src/config";
import { loadNodeKey, nodeLogger, startStorageNode } from "../../storage-node/src/main";
import { registrationParams } from "../../storage-node/src/register";
import type { Context } from "../context";
import { coreEvents, print, reportFailure, send } from "../output";

/**
 * `ddc node register --config <file>`: the provider registers the node a storage node
 * configuration describes (its signing key's address, URL, engine, version, capacity, rent). The
 * provider's key signs (DDC_PRIVATE_KEY or --keystore); the node's key is only read for its address.
 */
export async function registerFromConfig(ctx: Context, file: string): Promise<void> {
  const config = loadConfig(file);
  const nodeKey = await loadNodeKey(config);
  const existing = await ctx.ddc.nodeByKey(nodeKey.address);
  if (existing !== 0n) {
    print(
      ctx,
      { node: existing, registered: true },
      `node ${existing} is already registered with the key ${nodeKey.address}`,
    );
    return;
  }
  const { capacity, rent, params } = registrationParams(config);
  const signer = await ctx.signer();
  const receipt = await send(ctx, "node create", () =>
    ctx.ddc.connect(signer).nodeCreate(nodeKey.address, capacity, rent, params),
  );
  const created = coreEvents(ctx, receipt).find((e) => e.name === "NodeCreated");
  const id = created?.args.node as bigint;
  print(
    ctx,
    { node: id, tx: receipt.hash },
    `node ${id} registered with the key ${nodeKey.address} (tx ${receipt.hash})`,
  );
}

/** `ddc node serve --config <file>`: run the storage node (SIGTERM or SIGINT stop it gracefully). */
export function registerNodeService(program: Command): void {
  const node = program.commands.find((c) => c.name() === "node");
  if (node === undefined) throw new Error("the node command is not registered");
  node
    .command("serve")
    .description("run a storage node (SIGTERM or SIGINT stop it: in-flight requests finish, the store closes)")
    .requiredOption("--config <file>", "the storage node's configuration (JSON; see storage-node/config.example.json)")
    .action(async (o: { config: string }) => {
      try {
        const config = loadConfig(o.config);
        const running = await startStorageNode(config, { logger: nodeLogger(config.logLevel) });
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            process.stderr.write(`${signal}: stopping the storage node\n`);
            void running.close().then(resolve);
          };
          process.once("SIGTERM", () => stop("SIGTERM"));
          process.once("SIGINT", () => stop("SIGINT"));
        });
      } catch (error) {
        reportFailure(error);
      }
    });
}
