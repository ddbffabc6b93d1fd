import type { Command } from "commander";
import { decodeSafeTransaction } from "../../governance/decode";
import { signSafeTx } from "../../governance/safeStore";
import { parseAddress, parseHash, parseUint } from "../context";
import { print } from "../output";
import { checkedSafeTx, connectionFor, privateKeyOf, queueFor, storeFrom, trustOf } from "../safeSupport";
import type { Runner } from "../main";

/** Safe owners: the queue of a Safe in the shared signature store. */
export function registerSafe(program: Command, run: Runner): void {
  const safe = program.command("safe").description("a Safe's transactions: list, check, sign, execute, reject");
  const withStore = (cmd: Command) =>
    cmd.option("--store <where>", "the signature store: a directory or an http(s) URL (or DDC_SAFE_STORE)");

  withStore(
    safe.command("list <safe>").description("the Safe's stored transactions, by nonce, with their confirmations"),
  ).action(
    run(async (ctx, rawSafe: string, o: { store?: string }) => {
      const queue = queueFor(ctx, parseAddress("safe", rawSafe), storeFrom(o.store));
      const rows = (await queue.list()).map((t) => {
        const decoded = decodeSafeTransaction(t.data, trustOf(ctx));
        return {
          safeTxHash: t.safeTxHash,
          nonce: t.data.nonce,
          status: t.status,
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
              `${r.nonce}  ${r.status.padEnd(10)} ${r.confirmations}/${r.threshold}  ${r.safeTxHash}  ${r.title}`,
              ...r.problems.map((p) => `   ! DO NOT SIGN: ${p}`),
            ]),
      );
    }),
  );

  withStore(
    safe.command("show <safe> <hash>").description("a transaction: its calls decoded, its confirmations"),
  ).action(
    run(async (ctx, rawSafe: string, rawHash: string, o: { store?: string }) => {
      const queue = queueFor(ctx, parseAddress("safe", rawSafe), storeFrom(o.store));
      const t = await queue.entry(parseHash("hash", rawHash));
      const decoded = decodeSafeTransaction(t.data, trustOf(ctx));
      const calls = decoded.calls ?? [decoded];
      print(ctx, { ...t, decoded }, [
        `Safe transaction ${t.safeTxHash} (nonce ${t.data.nonce}): ${t.status}, ${t.confirmations.length} of ${t.threshold}`,
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
      const queue = queueFor(ctx, address, storeFrom(o.store));
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
      const queue = queueFor(ctx, address, storeFrom(o.store));
      const hash = parseHash("hash", rawHash);
      checkedSafeTx(ctx, "execute", hash, (await queue.entry(hash)).data);
      ctx.progress(`executing ${hash}…`);
      const tx = await queue.execute(connectionFor(ctx, address), privateKeyOf(await ctx.signer()), hash);
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
      const queue = queueFor(ctx, address, storeFrom(o.store));
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
}
