import type { Command } from "commander";
import { formatEther, getBigInt, zeroPadValue } from "ethers";
import { getLogsPaged } from "../../lib/logs";
import { tokenJson } from "../../lib/format";
import { parseAddress, parseAmount, parseId, parseUint, roleSchema, type Context } from "../context";
import { CliError } from "../errors";
import { coreEvents, print, send } from "../output";
import type { Runner } from "../main";

const STATUS = ["None", "Active", "InArrears", "Suspended", "Closed"];
const ROLE = { writer: 0, reader: 1 } as const;
/** `rentCoveredUntil` of a ledger that pays for nothing. */
const FOREVER = 2n ** 40n - 1n;
/** The most buckets one settlement may name (DDCConstants.MAX_SETTLE_BATCH). */
const SETTLE_BATCH = 1_200;

/** A token amount that must be more than 0. */
async function positiveAmount(ctx: Context, raw: string): Promise<bigint> {
  const amount = parseAmount(raw, await ctx.decimals());
  if (amount === 0n) throw new CliError(`amount must be more than 0, got "${raw}"`);
  return amount;
}

/** The account a read-only command is about: `--owner`, else the key's. */
async function ownerOf(ctx: Context, raw: string | undefined): Promise<string> {
  return raw !== undefined ? parseAddress("--owner", raw) : (await ctx.signer()).getAddress();
}

/**
 * The clusters where `owner` has a ledger: those it was paid into (`Deposited`, by anyone) or
 * holds a bucket in (`BucketCreated`), from the core's events since its deployment (no view lists
 * an owner's ledgers).
 */
export async function ledgerClusters(ctx: Context, owner: string): Promise<bigint[]> {
  const core = ctx.ddc.target as string;
  const who = zeroPadValue(owner, 32);
  const to = await ctx.provider.getBlockNumber();
  const from = ctx.record.block;
  const deposited = ctx.ddc.interface.getEvent("Deposited");
  const created = ctx.ddc.interface.getEvent("BucketCreated");
  const [deposits, buckets] = await Promise.all([
    getLogsPaged(ctx.provider, { address: core, topics: [deposited.topicHash, who] }, from, to),
    getLogsPaged(ctx.provider, { address: core, topics: [created.topicHash, null, who] }, from, to),
  ]);
  const clusters = new Set<bigint>([
    ...deposits.map((l) => getBigInt(l.topics[2])),
    ...buckets.map((l) => getBigInt(l.topics[3])),
  ]);
  return [...clusters].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

type LedgerView = Awaited<ReturnType<Context["ddc"]["getLedger"]>>;

/** A ledger's state in words: empty, in arrears (since when), or active. */
function ledgerStatus(l: LedgerView): "empty" | "in arrears" | "active" {
  if (l.arrearsSince > 0n || l.debt > 0n) return "in arrears";
  if (l.balance === 0n && l.units === 0n && l.capUnits === 0n) return "empty";
  return "active";
}

/** A ledger's figures as JSON (raw integers). */
function ledgerJson(cluster: bigint, l: LedgerView) {
  return {
    cluster,
    status: ledgerStatus(l),
    balance: l.balance,
    units: l.units,
    capUnits: l.capUnits,
    debt: l.debt,
    owed: l.owed,
    runway: l.runway,
    free: l.free,
    unlockAmount: l.unlockAmount,
    unlockAt: l.unlockAt,
    coveredUntil: l.coveredUntil,
    arrearsSince: l.arrearsSince,
  };
}

/** The pending unlock of a ledger in words. */
async function unlockText(ctx: Context, l: LedgerView): Promise<string> {
  if (l.unlockAmount === 0n) return "nothing";
  return `${await ctx.money(l.unlockAmount)}, withdrawable from ${await ctx.time(l.unlockAt)}`;
}

async function coverText(ctx: Context, l: LedgerView): Promise<string> {
  if (l.arrearsSince > 0n) return `ran out ${await ctx.time(l.arrearsSince)}`;
  return BigInt(l.coveredUntil) >= FOREVER ? "for ever (nothing billed)" : await ctx.time(l.coveredUntil);
}

/**
 * The per-bucket records of a PaymentsSettled event: 36 bytes each, the bucket id (uint64), what
 * its ledger paid (uint112) and the ledger's debt after (uint112), big-endian.
 */
export function settledRecords(record: string): { bucket: bigint; paid: bigint; debt: bigint }[] {
  const hex = record.startsWith("0x") ? record.slice(2) : record;
  const out: { bucket: bigint; paid: bigint; debt: bigint }[] = [];
  for (let i = 0; i + 72 <= hex.length; i += 72) {
    out.push({
      bucket: BigInt(`0x${hex.slice(i, i + 16)}`),
      paid: BigInt(`0x${hex.slice(i + 16, i + 44)}`),
      debt: BigInt(`0x${hex.slice(i + 44, i + 72)}`),
    });
  }
  return out;
}

/** Owners: the wallet, deposits, withdrawals, buckets. */
export function registerOwner(program: Command, run: Runner): void {
  const account = program.command("account").description("an owner's wallet and ledgers");

  account
    .command("balance")
    .description("the wallet (native, payment token, allowance to the core) and every ledger of the owner")
    .option("--owner <address>", "whose (default: the key's account)")
    .action(
      run(async (ctx, o: { owner?: string }) => {
        const owner = await ownerOf(ctx, o.owner);
        const core = ctx.ddc.target as string;
        const [native, balance, allowance, clusters, info] = await Promise.all([
          ctx.provider.getBalance(owner),
          ctx.token.balanceOf(owner),
          ctx.token.allowance(owner, core),
          ledgerClusters(ctx, owner),
          ctx.tokenInfo(),
        ]);
        const ledgers = await Promise.all(clusters.map((c) => ctx.ddc.getLedger(owner, c)));
        const lines = [
          `owner      ${owner}`,
          `native     ${formatEther(native)} (for gas)`,
          `wallet     ${await ctx.money(balance)}`,
          `allowance  ${await ctx.money(allowance)} to the core`,
        ];
        if (clusters.length === 0) lines.push("ledgers    none (`ddc account deposit <cluster> <amount>` opens one)");
        for (const [i, l] of ledgers.entries()) {
          lines.push(
            `cluster ${clusters[i]}: ${ledgerStatus(l)}, balance ${await ctx.money(l.balance)}, ${l.units} units, debt ${await ctx.money(l.debt)}, free ${await ctx.money(l.free)}, unlock ${await unlockText(ctx, l)}, covered until ${await coverText(ctx, l)}`,
          );
        }
        print(
          ctx,
          {
            owner,
            token: { ...tokenJson(info), address: ctx.token.target as string },
            native,
            balance,
            allowance,
            ledgers: ledgers.map((l, i) => ledgerJson(clusters[i], l)),
          },
          lines,
        );
      }),
    );

  account
    .command("deposit <cluster> <amount>")
    .description(
      "deposit tokens into the key's ledger in a cluster: checks the wallet first, approves the core for the amount if needed",
    )
    .action(
      run(async (ctx, rawCluster: string, rawAmount: string) => {
        const cluster = parseId("cluster", rawCluster);
        const amount = await positiveAmount(ctx, rawAmount);
        const signer = await ctx.signer();
        const me = await signer.getAddress();
        const core = ctx.ddc.target as string;
        // Everything that can be known is checked before the first transaction (the approval).
        await ctx.ddc.getCluster(cluster); // ClusterNotFound
        const balance = await ctx.token.balanceOf(me);
        if (balance < amount) {
          throw new CliError(
            `${me} holds ${await ctx.money(balance)}, less than the ${await ctx.money(amount)} to deposit: nothing sent`,
            "deposit at most the wallet's balance (`ddc account balance`); on a development chain `ddc token faucet` gives test tokens",
          );
        }
        if ((await ctx.token.allowance(me, core)) < amount) {
          // The approval is for this deposit only: the core never holds a standing allowance.
          await send(ctx, "approve", () => ctx.token.connect(signer).approve(core, amount));
        }
        await send(ctx, "deposit", () => ctx.ddc.connect(signer).accountDeposit(cluster, amount));
        const ledger = await ctx.ddc.getLedger(me, cluster);
        print(
          ctx,
          { cluster, amount, balance: ledger.balance, token: tokenJson(await ctx.tokenInfo()) },
          `deposited ${await ctx.money(amount)} into cluster ${cluster}; ledger balance ${await ctx.money(ledger.balance)}`,
        );
      }),
    );

  account
    .command("withdraw <cluster> <amount>")
    .description(
      "withdraw: unlocks first (at most what is free now; the unlock delay then runs), withdraws once unlocked",
    )
    .option("--to <address>", "where the tokens go (default: the key's account)")
    .action(
      run(async (ctx, rawCluster: string, rawAmount: string, o: { to?: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const amount = await positiveAmount(ctx, rawAmount);
        const signer = await ctx.signer();
        const me = await signer.getAddress();
        const to = o.to === undefined ? me : parseAddress("--to", o.to);
        const ledger = await ctx.ddc.getLedger(me, cluster);
        const token = tokenJson(await ctx.tokenInfo());
        // `free` is the core's own figure (balance less the rent owed, the debt and the runway of
        // the buckets' caps), the one accountWithdraw checks: an amount above it would wait the
        // whole unlock delay only to be refused.
        const tooMuch = async (what: string) =>
          new CliError(
            `${ledger.free === 0n ? "nothing" : `only ${await ctx.money(ledger.free)}`} can be freed now in cluster ${cluster} (balance ${await ctx.money(ledger.balance)} less rent owed, debt and runway), asked ${await ctx.money(amount)}: not ${what}`,
            ledger.free === 0n ? undefined : `ask for at most ${await ctx.money(ledger.free)}`,
          );
        if (ledger.unlockAmount < amount) {
          if (ledger.balance === 0n) {
            throw new CliError(`the ledger of ${me} in cluster ${cluster} is empty: nothing to unlock, nothing sent`);
          }
          if (amount > ledger.free) throw await tooMuch("unlocked, nothing sent");
          await send(ctx, "unlock", () => ctx.ddc.connect(signer).accountUnlock(cluster, amount));
          const after = await ctx.ddc.getLedger(me, cluster);
          print(
            ctx,
            { cluster, unlocked: amount, unlockAt: after.unlockAt, token },
            `unlocked ${await ctx.money(amount)}: withdraw from ${await ctx.time(after.unlockAt)} (run the same command again then)`,
          );
          return;
        }
        if (ledger.unlockAt > (await ctx.now())) {
          throw new CliError(
            `${await ctx.money(ledger.unlockAmount)} unlocks ${await ctx.time(ledger.unlockAt)}: nothing sent`,
            "run the same command again then",
          );
        }
        if (amount > ledger.free) throw await tooMuch("withdrawn, nothing sent");
        await send(ctx, "withdraw", () => ctx.ddc.connect(signer).accountWithdraw(cluster, amount, to));
        print(
          ctx,
          { cluster, withdrawn: amount, to, token },
          `withdrew ${await ctx.money(amount)} from cluster ${cluster} to ${to}`,
        );
      }),
    );

  account
    .command("show <cluster>")
    .description("a ledger: balance, units, debt, unlock, what is free")
    .option("--owner <address>", "whose ledger (default: the key's account)")
    .action(
      run(async (ctx, rawCluster: string, o: { owner?: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const owner = await ownerOf(ctx, o.owner);
        const l = await ctx.ddc.getLedger(owner, cluster);
        const value = {
          owner,
          ...ledgerJson(cluster, l),
          token: tokenJson(await ctx.tokenInfo()),
        };
        print(ctx, value, [
          `owner          ${owner}`,
          `status         ${ledgerStatus(l)}`,
          `balance        ${await ctx.money(l.balance)}`,
          `units          ${l.units} (caps ${l.capUnits})`,
          `debt           ${await ctx.money(l.debt)}`,
          `rent owed      ${await ctx.money(l.owed)}`,
          `runway         ${await ctx.money(l.runway)}`,
          `free           ${await ctx.money(l.free)}`,
          `unlocked       ${await unlockText(ctx, l)}`,
          `covered until  ${await coverText(ctx, l)}`,
        ]);
      }),
    );

  const bucket = program.command("bucket").description("an owner's buckets");
  bucket
    .command("create <cluster>")
    .description("create a bucket in a cluster (prints its id)")
    .option("--params <json>", "engine settings, emitted", "{}")
    .action(
      run(async (ctx, rawCluster: string, o: { params: string }) => {
        const cluster = parseId("cluster", rawCluster);
        const receipt = await send(ctx, "bucket create", async () =>
          ctx.ddc.connect(await ctx.signer()).bucketCreate(cluster, o.params),
        );
        const id = coreEvents(ctx, receipt).find((e) => e.name === "BucketCreated")?.args.bucket as bigint;
        print(ctx, { bucket: id, cluster, tx: receipt.hash }, `bucket ${id} created in cluster ${cluster}`);
      }),
    );
  bucket
    .command("settle [buckets...]")
    .description(
      "settle buckets' rent into their cluster's revenue pool (anyone may): the buckets named, or every bucket of --cluster",
    )
    .option("--cluster <id>", "every bucket of this cluster (or: the cluster the buckets named must be in)")
    .action(
      run(async (ctx, rawBuckets: string[], o: { cluster?: string }) => {
        const only = o.cluster === undefined ? undefined : parseId("--cluster", o.cluster);
        if (rawBuckets.length === 0 && only === undefined) {
          throw new CliError("name the buckets to settle, or --cluster <id> for all of a cluster's");
        }
        const ids = rawBuckets.flatMap((r) => r.split(",")).map((r) => parseId("bucket", r.trim()));
        // Grouped by cluster (a settlement is per cluster), each bucket checked before anything is sent.
        const byCluster = new Map<bigint, bigint[]>();
        if (ids.length > 0) {
          for (const id of [...new Set(ids)]) {
            const b = await ctx.ddc.getBucket(id); // BucketNotFound
            if (only !== undefined && b.cluster !== only) {
              throw new CliError(`bucket ${id} is in cluster ${b.cluster}, not ${only}: nothing sent`);
            }
            byCluster.set(b.cluster, [...(byCluster.get(b.cluster) ?? []), id]);
          }
        } else {
          const all: bigint[] = [];
          for (let from = 0n; ; from += 1000n) {
            const [page, total] = await ctx.ddc.clusterBuckets(only!, from, 1000n); // ClusterNotFound
            all.push(...page);
            if (page.length === 0 || from + 1000n >= total) break;
          }
          if (all.length === 0) throw new CliError(`cluster ${only} has no buckets: nothing to settle`);
          byCluster.set(only!, all);
        }
        const signer = await ctx.signer();
        const results: { cluster: bigint; total: bigint; buckets: { bucket: bigint; paid: bigint; debt: bigint }[] }[] =
          [];
        for (const [cluster, buckets] of byCluster) {
          for (let i = 0; i < buckets.length; i += SETTLE_BATCH) {
            const batch = buckets.slice(i, i + SETTLE_BATCH);
            const receipt = await send(ctx, `settle cluster ${cluster}`, () =>
              ctx.ddc.connect(signer).bucketSettlePayment(cluster, batch),
            );
            for (const e of coreEvents(ctx, receipt).filter((x) => x.name === "PaymentsSettled")) {
              results.push({
                cluster,
                total: e.args.total as bigint,
                buckets: settledRecords(e.args.record as string),
              });
            }
          }
        }
        const lines: string[] = [];
        for (const r of results) {
          for (const b of r.buckets) {
            lines.push(
              `bucket ${b.bucket}: paid ${await ctx.money(b.paid)}${b.debt > 0n ? `; in arrears, debt ${await ctx.money(b.debt)}` : ""}`,
            );
          }
          lines.push(`cluster ${r.cluster}: ${await ctx.money(r.total)} settled into the revenue pool`);
        }
        print(ctx, { settled: results, token: tokenJson(await ctx.tokenInfo()) }, lines);
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
