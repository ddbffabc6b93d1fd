import type { Command } from "commander";
import { tokenJson } from "../../lib/format";
import { parseAddress, parseAmount, parseId, parseIds, parseUint, type Context } from "../context";
import { CliError } from "../errors";
import { coreEvents, print, send } from "../output";
import type { Runner } from "../main";
import { registerFromConfig } from "./node";

/** Providers: nodes, trust, revenue. */
export function registerProvider(program: Command, run: Runner): void {
  const node = program.command("node").description("a provider's storage nodes");

  /** The node parameters besides its URLs, the same for `create` and `update`. */
  const paramOptions = (cmd: Command) =>
    cmd
      .option("--engine <name>", "storage engine", "ddc-storage")
      .option("--version <v>", "engine version", "1.0.0")
      .option("--metadata <text>", "free text, emitted", "");

  const nodeParams = (o: { engine: string; version: string; url: string[]; metadata: string }) => ({
    engine: o.engine,
    version: o.version,
    urls: o.url,
    metadata: o.metadata,
  });

  const create = node
    .command("create")
    .alias("register")
    .description("register a node (its provider is the key's account); prints its id")
    .option("--signing-key <address>", "the node's signing key (an address; it can be rotated)")
    .option("--capacity <units>", "units of storage the node offers")
    .option("--rent <amount>", "rent per vNode per unit per month, in tokens (e.g. 1.5)")
    .option("--url <url...>", "where the node serves (up to 4)", [])
    .option("--config <file>", "take everything from a storage node's configuration (instead of the options above)");
  paramOptions(create).action(
    run(
      async (
        ctx,
        o: {
          signingKey?: string;
          capacity?: string;
          rent?: string;
          url: string[];
          engine: string;
          version: string;
          metadata: string;
          config?: string;
        },
      ) => {
        if (o.config !== undefined) return registerFromConfig(ctx, o.config);
        const need = (flag: string, v: string | undefined): string => {
          if (v === undefined) throw new CliError(`required option '${flag}' not specified`, "or pass --config <file>");
          return v;
        };
        const key = parseAddress("--signing-key", need("--signing-key", o.signingKey));
        const capacity = parseUint("--capacity", need("--capacity", o.capacity));
        const rent = parseAmount(need("--rent", o.rent), await ctx.decimals());
        const signer = await ctx.signer();
        const receipt = await send(ctx, "node create", () =>
          ctx.ddc.connect(signer).nodeCreate(key, capacity, rent, nodeParams(o)),
        );
        const created = coreEvents(ctx, receipt).find((e) => e.name === "NodeCreated");
        const id = created?.args.node as bigint;
        print(ctx, { node: id, tx: receipt.hash }, `node ${id} registered (tx ${receipt.hash})`);
      },
    ),
  );

  const update = node
    .command("update <node>")
    .description("change a node's rent, capacity or parameters")
    .option("--rent <amount>", "new asked rent (each manager accepts it per cluster)")
    .option("--capacity <units>", "new capacity (not below what is reserved)")
    .option("--url <url...>", "new URLs (with --engine/--version/--metadata: new parameters)");
  paramOptions(update).action(
    run(
      async (
        ctx,
        raw: string,
        o: { rent?: string; capacity?: string; url?: string[]; engine: string; version: string; metadata: string },
      ) => {
        const id = parseId("node", raw);
        const ddc = ctx.ddc.connect(await ctx.signer());
        const done: string[] = [];
        if (o.rent !== undefined) {
          const rent = parseAmount(o.rent, await ctx.decimals());
          await send(ctx, "rent", () => ddc.nodeChangeRent(id, rent));
          done.push(`rent ${await ctx.money(rent)}`);
        }
        if (o.capacity !== undefined) {
          const capacity = parseUint("--capacity", o.capacity);
          await send(ctx, "capacity", () => ddc.nodeChangeCapacity(id, capacity));
          done.push(`capacity ${capacity}`);
        }
        if (o.url !== undefined) {
          await send(ctx, "parameters", () => ddc.nodeChangeParams(id, nodeParams({ ...o, url: o.url ?? [] })));
          done.push("parameters");
        }
        if (done.length === 0) throw new Error("nothing to update: give --rent, --capacity or --url");
        print(ctx, { node: id, updated: done }, `node ${id}: ${done.join(", ")} updated`);
      },
    ),
  );

  node
    .command("rotate-key <node> <newKey>")
    .description("replace a node's signing key")
    .action(
      run(async (ctx, raw: string, key: string) => {
        const id = parseId("node", raw);
        const address = parseAddress("new key", key);
        await send(ctx, "rotate key", async () => ctx.ddc.connect(await ctx.signer()).nodeRotateKey(id, address));
        print(ctx, { node: id, signingKey: address }, `node ${id} now signs with ${address}`);
      }),
    );

  for (const [name, trusted] of [
    ["trust", true],
    ["distrust", false],
  ] as const) {
    node
      .command(`${name} <manager>`)
      .description(
        `${trusted ? "allow" : "stop"} a manager ${trusted ? "to add" : "adding"} the key's nodes to its clusters`,
      )
      .action(
        run(async (ctx, raw: string) => {
          const manager = parseAddress("manager", raw);
          const ddc = ctx.ddc.connect(await ctx.signer());
          await send(ctx, name, () => (trusted ? ddc.nodeTrustManager(manager) : ddc.nodeDistrustManager(manager)));
          print(ctx, { manager, trusted }, `${trusted ? "trusting" : "no longer trusting"} ${manager}`);
        }),
      );
  }

  node
    .command("remove <node>")
    .description("deregister a node (in no cluster, its revenue claimed)")
    .action(
      run(async (ctx, raw: string) => {
        const id = parseId("node", raw);
        await send(ctx, "remove", async () => ctx.ddc.connect(await ctx.signer()).nodeRemove(id));
        print(ctx, { node: id, removed: true }, `node ${id} removed`);
      }),
    );

  node
    .command("show <node>")
    .description("a node's registration")
    .action(
      run(async (ctx, raw: string) => {
        const n = await ctx.ddc.getNode(parseId("node", raw));
        const value = {
          id: n.id,
          provider: n.provider,
          signingKey: n.signingKey,
          capacity: n.capacity,
          reserved: n.reserved,
          rent: n.rent,
          clusters: n.clusterCount,
          engine: n.engine,
          version: n.version,
          urls: [...n.urls],
        };
        const shown = { ...value, rent: `${await ctx.money(n.rent)} per vNode per unit per month` };
        print(
          ctx,
          { ...value, token: tokenJson(await ctx.tokenInfo()) },
          Object.entries(shown).map(([k, v]) => `${k.padEnd(11)} ${Array.isArray(v) ? v.join(" ") : String(v)}`),
        );
      }),
    );

  const revenue = program.command("revenue").description("a provider's revenue");
  revenue
    .command("show <nodes>")
    .description("what each node can claim now (comma-separated ids)")
    .action(
      run(async (ctx, raw: string) => {
        const rows = [];
        for (const id of parseIds("node", raw)) rows.push({ node: id, claimable: await ctx.ddc.nodeRevenue(id) });
        const lines = [];
        for (const r of rows) lines.push(`node ${r.node}: ${await ctx.money(r.claimable)}`);
        print(ctx, { nodes: rows, token: tokenJson(await ctx.tokenInfo()) }, lines);
      }),
    );
  revenue
    .command("claim <nodes>")
    .description("claim the nodes' revenue (comma-separated ids) to the key's account or --to")
    .option("--to <address>", "where the tokens go (e.g. when the token refuses the provider's own address)")
    .action(
      run(async (ctx: Context, raw: string, o: { to?: string }) => {
        const ids = parseIds("node", raw);
        const signer = await ctx.signer();
        const me = await signer.getAddress();
        const to = o.to === undefined ? me : parseAddress("--to", o.to);
        // Checked before sending: each node is the key's, and there is something to claim.
        let claimable = 0n;
        for (const id of ids) {
          const n = await ctx.ddc.getNode(id); // NodeNotFound
          if (n.provider !== me) {
            throw new CliError(
              `node ${id} belongs to ${n.provider}, not to ${me}: nothing sent`,
              "use the provider's key",
            );
          }
          claimable += await ctx.ddc.nodeRevenue(id);
        }
        if (claimable === 0n) {
          throw new CliError(
            `nothing to claim: node${ids.length > 1 ? "s" : ""} ${ids.join(", ")} ha${ids.length > 1 ? "ve" : "s"} ${await ctx.money(0n)} of revenue: nothing sent`,
            "revenue arrives when the cluster's manager distributes an era (`ddc revenue show <nodes>`)",
          );
        }
        const receipt = await send(ctx, "claim", () => ctx.ddc.connect(signer).claim(ids, to));
        const paid = coreEvents(ctx, receipt)
          .filter((e) => e.name === "RevenueClaimed")
          .map((e) => ({ node: e.args.node as bigint, amount: e.args.amount as bigint }));
        const total = paid.reduce((s, p) => s + p.amount, 0n);
        const lines = [];
        for (const p of paid) lines.push(`node ${p.node}: ${await ctx.money(p.amount)}`);
        lines.push(`paid ${await ctx.money(total)} to ${to}`);
        print(ctx, { to, paid, total, token: tokenJson(await ctx.tokenInfo()) }, lines);
      }),
    );
}
