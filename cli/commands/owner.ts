import type { Command } from "commander";
import { MaxUint256 } from "ethers";
import { formatAmount, parseAddress, parseAmount, parseId, parseUint, roleSchema } from "../context";
import { CliError } from "../errors";
import { coreEvents, print, send } from "../output";
import type { Runner } from "../main";

const STATUS = ["None", "Active", "InArrears", "Suspended", "Closed"];
const ROLE = { writer: 0, reader: 1 } as const;

/** Owners: deposits, withdrawals, buckets. */
export function registerOwner(program: Command, run: Runner): void {
  const account = program.command("account").description("an owner's ledger in a cluster");

  account
    .command("deposit <cluster> <amount>")
    .description("deposit tokens into the key's ledger in a cluster (approving the core first if needed)")
    .action(
      run(async (ctx, rawCluster: string, rawAmount: string) => {
        const cluster = parseId("cluster", rawCluster);
        const decimals = await ctx.decimals();
        const amount = parseAmount(rawAmount, decimals);
        const signer = await ctx.signer();
        const me = await signer.getAddress();
        const core = ctx.ddc.target as string;
        if ((await ctx.token.allowance(me, core)) < amount) {
          await send(ctx, "approve", () => ctx.token.connect(signer).approve(core, MaxUint256));
        }
        await send(ctx, "deposit", () => ctx.ddc.connect(signer).accountDeposit(cluster, amount));
        const ledger = await ctx.ddc.getLedger(me, cluster);
        print(
          ctx,
          { cluster, amount, balance: ledger.balance },
          `deposited ${rawAmount}; balance ${formatAmount(ledger.balance, decimals)}`,
        );
      }),
    );

  account
    .command("withdraw <cluster> <amount>")
    .description("withdraw: unlocks first (the unlock delay then runs), withdraws once unlocked")
    .option("--to <address>", "where the tokens go (default: the key's account)")
    .action(
      run(async (ctx, rawCluster: string, rawAmount: string, o: { to?: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const decimals = await ctx.decimals();
        const amount = parseAmount(rawAmount, decimals);
        const signer = await ctx.signer();
        const me = await signer.getAddress();
        const to = o.to === undefined ? me : parseAddress("--to", o.to);
        const ledger = await ctx.ddc.getLedger(me, cluster);
        const now = BigInt((await ctx.provider.getBlock("latest"))!.timestamp);
        if (ledger.unlockAmount < amount) {
          await send(ctx, "unlock", () => ctx.ddc.connect(signer).accountUnlock(cluster, amount));
          const after = await ctx.ddc.getLedger(me, cluster);
          print(
            ctx,
            { cluster, unlocked: amount, unlockAt: after.unlockAt },
            `unlocked ${rawAmount}: withdraw from ${new Date(Number(after.unlockAt) * 1000).toISOString()}`,
          );
          return;
        }
        if (ledger.unlockAt > now) {
          throw new CliError(
            `${formatAmount(ledger.unlockAmount, decimals)} unlocks at ${new Date(Number(ledger.unlockAt) * 1000).toISOString()}`,
            "run the same command again then",
          );
        }
        await send(ctx, "withdraw", () => ctx.ddc.connect(signer).accountWithdraw(cluster, amount, to));
        print(ctx, { cluster, withdrawn: amount, to }, `withdrew ${rawAmount} to ${to}`);
      }),
    );

  account
    .command("show <cluster>")
    .description("a ledger: balance, units, debt, unlock, what is free")
    .option("--owner <address>", "whose ledger (default: the key's account)")
    .action(
      run(async (ctx, rawCluster: string, o: { owner?: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const owner =
          o.owner !== undefined ? parseAddress("--owner", o.owner) : await (await ctx.signer()).getAddress();
        const [l, free, until] = await Promise.all([
          ctx.ddc.getLedger(owner, cluster),
          ctx.ddc.accountFreeBalance(owner, cluster),
          ctx.ddc.rentCoveredUntil(owner, cluster),
        ]);
        const d = await ctx.decimals();
        const value = {
          owner,
          cluster,
          balance: l.balance,
          units: l.units,
          debt: l.debt,
          unlockAmount: l.unlockAmount,
          unlockAt: l.unlockAt,
          free,
          coveredUntil: until,
        };
        print(ctx, value, [
          `owner          ${owner}`,
          `balance        ${formatAmount(l.balance, d)}`,
          `units          ${l.units}`,
          `debt           ${formatAmount(l.debt, d)}`,
          `free           ${formatAmount(free, d)}`,
          `unlocked       ${formatAmount(l.unlockAmount, d)}${l.unlockAt > 0n ? ` from ${new Date(Number(l.unlockAt) * 1000).toISOString()}` : ""}`,
          `covered until  ${until === 2n ** 40n - 1n ? "forever (nothing allocated)" : new Date(Number(until) * 1000).toISOString()}`,
        ]);
      }),
    );

  const bucket = program.command("bucket").description("an owner's buckets");
  bucket
    .command("create <cluster>")
    .description("create a bucket in a cluster")
    .option("--params <json>", "engine settings, emitted", "{}")
    .action(
      run(async (ctx, rawCluster: string, o: { params: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const receipt = await send(ctx, "bucket create", async () =>
          ctx.ddc.connect(await ctx.signer()).bucketCreate(cluster, o.params),
        );
        const id = coreEvents(ctx, receipt).find((e) => e.name === "BucketCreated")?.args.bucket as bigint;
        print(ctx, { bucket: id, cluster }, `bucket ${id} created in cluster ${cluster}`);
      }),
    );
  bucket
    .command("alloc <bucket> <units>")
    .description("reserve units (refused above --max-price, the cluster's price per unit per month)")
    .option("--max-price <amount>", "the most the owner accepts to pay per unit per month")
    .action(
      run(async (ctx, rawBucket: string, rawUnits: string, o: { maxPrice?: string }) => {
        const id = parseId("bucket", rawBucket);
        const units = parseUint("units", rawUnits);
        const ddc = ctx.ddc.connect(await ctx.signer());
        if (o.maxPrice !== undefined) {
          const max = parseAmount(o.maxPrice, await ctx.decimals());
          await send(ctx, "alloc", () => ddc.bucketAllocWithMaxPrice(id, units, max));
        } else {
          await send(ctx, "alloc", () => ddc.bucketAllocIntoCluster(id, units));
        }
        print(ctx, { bucket: id, units }, `bucket ${id}: ${units} units reserved`);
      }),
    );
  bucket
    .command("cap <bucket> <units>")
    .description("the most a usage report may bill")
    .action(
      run(async (ctx, rawBucket: string, rawCap: string) => {
        const id = parseId("bucket", rawBucket);
        const cap = parseUint("cap", rawCap);
        await send(ctx, "cap", async () => ctx.ddc.connect(await ctx.signer()).bucketSetCap(id, cap));
        print(ctx, { bucket: id, cap }, `bucket ${id}: cap ${cap}`);
      }),
    );
  for (const [name, grant] of [
    ["grant", true],
    ["revoke", false],
  ] as const) {
    bucket
      .command(`${name} <bucket> <account>`)
      .description(`${grant ? "give" : "take back"} a role on a bucket`)
      .requiredOption("--role <role>", "writer or reader")
      .action(
        run(async (ctx, rawBucket: string, rawAccount: string, o: { role: string }) => {
          const id = parseId("bucket", rawBucket);
          const who = parseAddress("account", rawAccount);
          const role = roleSchema.safeParse(o.role);
          if (!role.success) throw new CliError(`--role must be writer or reader, got "${o.role}"`);
          const ddc = ctx.ddc.connect(await ctx.signer());
          await send(ctx, name, () =>
            grant ? ddc.bucketGrant(id, who, ROLE[role.data]) : ddc.bucketRevoke(id, who, ROLE[role.data]),
          );
          print(
            ctx,
            { bucket: id, account: who, role: role.data, granted: grant },
            `bucket ${id}: ${role.data} ${grant ? "granted to" : "revoked from"} ${who}`,
          );
        }),
      );
  }
  bucket
    .command("close <bucket>")
    .description("close a bucket: it stops accruing and frees its capacity")
    .action(
      run(async (ctx, rawBucket: string) => {
        const id = parseId("bucket", rawBucket);
        await send(ctx, "close", async () => ctx.ddc.connect(await ctx.signer()).bucketClose(id));
        print(ctx, { bucket: id, closed: true }, `bucket ${id} closed`);
      }),
    );
  bucket
    .command("show <bucket>")
    .description("a bucket: owner, cluster, units, status")
    .action(
      run(async (ctx, rawBucket: string) => {
        const id = parseId("bucket", rawBucket);
        const [b, status] = await Promise.all([ctx.ddc.getBucket(id), ctx.ddc.bucketStatus(id)]);
        const value = {
          id,
          owner: b.owner,
          cluster: b.cluster,
          reserved: b.reserved,
          measured: b.measured,
          billed: b.billed,
          cap: b.cap,
          status: STATUS[Number(status)],
        };
        print(
          ctx,
          value,
          Object.entries(value).map(([k, v]) => `${k.padEnd(9)} ${String(v)}`),
        );
      }),
    );
}
