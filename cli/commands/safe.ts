import type { Command } from "commander";
import { decodeSafeTransaction } from "../../governance/decode";
import { createSignatureServer } from "../../governance/safeServer";
import { DirectorySignatureStore, SafeQueue, signSafeTx } from "../../governance/safeStore";
import { storeDirectoryOf } from "../../governance/safeTxService";
import { parseAddress, parseHash, parseUint } from "../context";
import { CliError } from "../errors";
import { print } from "../output";
import { STORE_HELP, checkedSafeTx, queueFor, recordFileOf, storeFrom, trustOf } from "../safeSupport";
import type { Runner } from "../main";

/** Safe owners: the queue of a Safe in the shared signature store. */
export function registerSafe(program: Command, run: Runner): void {
  const safe = program
    .command("safe")
    .description("a Safe's transactions: list, check, sign, execute, reject; serve a signature store");
  const withStore = (cmd: Command) => cmd.option("--store <where>", STORE_HELP);

  withStore(
    safe.command("list <safe>").description("the Safe's stored transactions, by nonce, with their confirmations"),
  ).action(
    run(async (ctx, rawSafe: string, o: { store?: string }) => {
      const queue = queueFor(ctx, parseAddress("safe", rawSafe), storeFrom(ctx, o.store));
      const rows = (await queue.list()).map((t) => {
        const decoded = decodeSafeTransaction(t.data, trustOf(ctx));
        return {
          safeTxHash: t.safeTxHash,
          nonce: t.data.nonce,
          status: t.status,
          ...(t.transactionHash !== undefined ? { transactionHash: t.transactionHash } : {}),
          confirmations: t.confirmations.length,
          threshold: t.threshold,
          title: /^# (.*)$/m.exec(t.description ?? "")?.[1] ?? decoded.text,
          problems: decoded.problems,
        };
      });
      print(
        ctx,
        rows,
        rows.length === 0
          ? "no transactions"
          : rows.flatMap((r) => [
              `${r.nonce}  ${r.status.padEnd(10)} ${r.confirmations}/${r.threshold}  ${r.safeTxHash}  ${r.title}` +
                (r.transactionHash !== undefined ? `  (executed in ${r.transactionHash})` : ""),
              ...r.problems.map((p) => `   ! DO NOT SIGN: ${p}`),
            ]),
      );
    }),
  );

  withStore(
    safe.command("show <safe> <hash>").description("a transaction: its calls decoded, its confirmations"),
  ).action(
    run(async (ctx, rawSafe: string, rawHash: string, o: { store?: string }) => {
      const queue = queueFor(ctx, parseAddress("safe", rawSafe), storeFrom(ctx, o.store));
      const t = await queue.entry(parseHash("hash", rawHash));
      // Amounts of the payment token with its symbol, as everywhere else.
      const decoded = decodeSafeTransaction(t.data, { ...trustOf(ctx), format: await ctx.valueFormat() });
      const calls = decoded.calls ?? [decoded];
      print(ctx, { ...t, decoded }, [
        `Safe transaction ${t.safeTxHash} (nonce ${t.data.nonce}): ${t.status}, ${t.confirmations.length} of ${t.threshold}` +
          (t.transactionHash !== undefined ? `, executed in ${t.transactionHash}` : ""),
        ...(t.description ? [`description: ${t.description.split("\n")[0]}`] : []),
        "calls:",
        ...calls.flatMap((c, i) => [`  ${i + 1}. ${c.text}`, ...c.warnings.map((w) => `     ! ${w}`)]),
        ...decoded.problems.map((p) => `DO NOT SIGN: ${p}`),
        `confirmed by: ${t.confirmations.join(", ") || "nobody yet"}`,
      ]);
    }),
  );

  withStore(
    safe
      .command("sign <safe> <hash>")
      .description("sign a stored transaction with the key (an owner), after checking it"),
  ).action(
    run(async (ctx, rawSafe: string, rawHash: string, o: { store?: string }) => {
      const address = parseAddress("safe", rawSafe);
      const queue = queueFor(ctx, address, storeFrom(ctx, o.store));
      const t = await queue.entry(parseHash("hash", rawHash));
      // Decoded first: what is signed is what the calldata does, and the rule may refuse it.
      const decoded = checkedSafeTx(ctx, "sign", t.safeTxHash, t.data);
      ctx.progress(`signing ${t.safeTxHash}: ${decoded.text}`);
      const signer = await ctx.signer();
      const me = await signer.getAddress();
      await queue.addSignature(t.safeTxHash, me, await signSafeTx(signer, ctx.record.chainId, address, t.data));
      const after = await queue.entry(t.safeTxHash);
      print(
        ctx,
        {
          safeTxHash: t.safeTxHash,
          signedBy: me,
          confirmations: after.confirmations.length,
          threshold: after.threshold,
        },
        `signed by ${me}: ${after.confirmations.length} of ${after.threshold}`,
      );
    }),
  );

  withStore(
    safe.command("execute <safe> <hash>").description("execute a transaction that has its threshold of confirmations"),
  ).action(
    run(async (ctx, rawSafe: string, rawHash: string, o: { store?: string }) => {
      const address = parseAddress("safe", rawSafe);
      const queue = queueFor(ctx, address, storeFrom(ctx, o.store));
      const hash = parseHash("hash", rawHash);
      checkedSafeTx(ctx, "execute", hash, (await queue.entry(hash)).data);
      ctx.progress(`executing ${hash}…`);
      // A plain execTransaction from the key's signer: like every other transaction of ddc, it is
      // simulated, shown and confirmed first (and only printed with --dry-run).
      const tx = await queue.executeWith(await ctx.signer(), hash);
      print(ctx, { safeTxHash: hash, tx }, `executed: ${tx}`);
    }),
  );

  withStore(
    safe
      .command("reject <safe> <nonce>")
      .description("propose (and sign) a rejection of a nonce, to unblock the queue"),
  ).action(
    run(async (ctx, rawSafe: string, rawNonce: string, o: { store?: string }) => {
      const address = parseAddress("safe", rawSafe);
      const queue = queueFor(ctx, address, storeFrom(ctx, o.store));
      const signer = await ctx.signer();
      const me = await signer.getAddress();
      const tx = await queue.proposeRejection(Number(parseUint("nonce", rawNonce)), signer);
      print(
        ctx,
        { safeTxHash: tx.safeTxHash, nonce: tx.data.nonce },
        `rejection of nonce ${tx.data.nonce}: ${tx.safeTxHash}, signed by ${me}`,
      );
    }),
  );
  safe
    .command("serve")
    .description(
      "run a signature server (the Safe Transaction Service API that api-kit uses) over a directory store: " +
        "owners then pass --store http://<host>:<port>",
    )
    .option(
      "--dir <directory>",
      "where it keeps transactions and signatures (default deployments/<network>.signatures)",
    )
    .option("--host <host>", "the interface to listen on", "127.0.0.1")
    .option("--port <port>", "the port", "8600")
    .action(
      run(async (ctx, o: { dir?: string; host: string; port: string }) => {
        const port = Number(parseUint("--port", o.port));
        if (port > 65_535) throw new CliError(`--port must be at most 65535, got ${port}`);
        const dir = o.dir ?? storeDirectoryOf(recordFileOf(ctx));
        const store = new DirectorySignatureStore(dir);
        const server = createSignatureServer({
          store,
          queueFor: (address) => new SafeQueue(ctx.provider, ctx.record.chainId, address, store),
        });
        const url = await server.listen({ host: o.host, port });
        ctx.progress(`signature server for chain ${ctx.record.chainId} at ${url}/api (store ${dir}); Ctrl-C stops it`);
        print(ctx, { url, api: `${url}/api`, dir, chainId: ctx.record.chainId }, `owners: --store ${url}`);
        await new Promise<void>((resolve) => {
          const stop = () => void server.close().then(() => resolve());
          process.once("SIGINT", stop);
          process.once("SIGTERM", stop);
        });
      }),
    );
}
