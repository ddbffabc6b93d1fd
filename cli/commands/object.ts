import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { createStorageClient, type DdcStorageClient, type ObjectHead } from "../../storage-node/client/node";
import { parseId, parseUint, type Context } from "../context";
import { CliError } from "../errors";
import { GuardedSigner } from "../guard";
import { print } from "../output";
import type { Runner } from "../main";

/** A size as people read it: `1.5 MiB (1572864 bytes)`. */
export function formatSize(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} bytes`;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1).replace(/\.?0+$/, "")} ${units[unit]} (${bytes} bytes)`;
}

/** `a-b` (inclusive) or `a-` (to the end). */
export function parseRange(raw: string): { start: number; end?: number } {
  const m = /^(\d+)-(\d*)$/.exec(raw);
  if (m === null)
    throw new CliError(`--range must be <first byte>-<last byte> (inclusive) or <first byte>-, got "${raw}"`);
  const start = Number(m[1]);
  const end = m[2] === "" ? undefined : Number(m[2]);
  if (end !== undefined && end < start) throw new CliError(`--range ends before it starts: "${raw}"`);
  return { start, end };
}

/** The storage client of the deployment's core, signing sessions with the key. */
async function storage(ctx: Context): Promise<DdcStorageClient> {
  const signer = await ctx.signer();
  return createStorageClient({
    provider: ctx.provider,
    // A session signature moves no funds: the transaction guard's confirmation is not asked for it.
    signer: signer instanceof GuardedSigner ? signer.inner : signer,
    chainId: ctx.record.chainId,
    core: ctx.ddc.target as string,
    onRetry: (e) => ctx.progress(`${e.message}; trying the next replica`),
  });
}

function readInput(file: string): Uint8Array {
  try {
    return readFileSync(file === "-" ? 0 : file);
  } catch (error) {
    throw new CliError(`cannot read ${file === "-" ? "standard input" : file}: ${(error as Error).message}`);
  }
}

function headLines(h: ObjectHead): string[] {
  return [
    `${h.key}`,
    `  size     ${formatSize(h.size)}`,
    `  sha256   ${h.sha256}`,
    `  version  ${h.version}`,
    ...(h.parts !== undefined ? [`  parts    ${h.parts} (a manifest)`] : [`  root     ${h.root}`]),
  ];
}

export function registerObject(program: Command, run: Runner): void {
  const object = program
    .command("object")
    .description("objects in a bucket, on the storage nodes of its cluster (needs the owner's or a role holder's key)");

  object
    .command("put <bucket> <key> <file>")
    .description("store a file (- for standard input); over 64 MiB it is stored as parts and a manifest")
    .option("--content-type <type>", "the content type to store")
    .action(
      run(async (ctx, bucket: string, key: string, file: string, o: { contentType?: string }) => {
        const id = parseId("bucket", bucket);
        const data = readInput(file);
        const r = await (await storage(ctx)).put(id, key, data, { contentType: o.contentType });
        print(ctx, r, [
          `stored ${key} in bucket ${id}: ${formatSize(r.size)}${r.parts !== undefined ? ` in ${r.parts.length} parts` : ""}`,
          `  sha256   ${r.sha256}`,
          `  version  ${r.version}`,
          `  receipts from node${r.receipts.length === 1 ? "" : "s"} ${r.receipts.map((x) => x.node).join(", ")} (signatures checked)`,
        ]);
      }),
    );

  object
    .command("get <bucket> <key> [file]")
    .description("fetch an object, checked against its hashes, to a file or standard output (-, the default)")
    .option("--range <a-b>", "only bytes a to b (inclusive; `a-` to the end)")
    .action(
      run(async (ctx, bucket: string, key: string, file: string | undefined, o: { range?: string }) => {
        const id = parseId("bucket", bucket);
        const range = o.range === undefined ? undefined : parseRange(o.range);
        const data = await (await storage(ctx)).get(id, key, { range });
        if (file === undefined || file === "-") {
          process.stdout.write(data);
          return;
        }
        writeFileSync(file, data);
        print(
          ctx,
          { bucket: id, key, file, size: data.length },
          `wrote ${formatSize(data.length)} of ${key} to ${file}`,
        );
      }),
    );

  object
    .command("head <bucket> <key>")
    .description("an object's size, SHA-256, version and Merkle root")
    .action(
      run(async (ctx, bucket: string, key: string) => {
        const h = await (await storage(ctx)).head(parseId("bucket", bucket), key);
        print(ctx, h, headLines(h));
      }),
    );

  object
    .command("rm <bucket> <key>")
    .description("delete an object (a split one's parts too)")
    .action(
      run(async (ctx, bucket: string, key: string) => {
        const id = parseId("bucket", bucket);
        const r = await (await storage(ctx)).remove(id, key);
        print(ctx, r, `deleted ${key} from bucket ${id}${r.parts > 0 ? ` and its ${r.parts} parts` : ""}`);
      }),
    );

  object
    .command("ls <bucket>")
    .description("list a bucket's objects in key order")
    .option("--prefix <prefix>", "only keys starting with it")
    .option("--limit <n>", "at most this many (default: all)")
    .action(
      run(async (ctx, bucket: string, o: { prefix?: string; limit?: string }) => {
        const id = parseId("bucket", bucket);
        const limit = o.limit === undefined ? undefined : Number(parseUint("--limit", o.limit));
        if (limit === 0) throw new CliError("--limit must be at least 1");
        const objects = [];
        for await (const page of (await storage(ctx)).list(id, {
          prefix: o.prefix,
          limit: limit === undefined ? undefined : Math.min(limit, 1000),
        })) {
          objects.push(...page.objects);
          if (limit !== undefined && objects.length >= limit) break;
        }
        const shown = limit === undefined ? objects : objects.slice(0, limit);
        print(
          ctx,
          { bucket: id, objects: shown },
          shown.length === 0
            ? `no objects in bucket ${id}${o.prefix !== undefined ? ` under ${o.prefix}` : ""}`
            : shown.map((x) => `${x.key}  ${formatSize(x.size)}  ${x.sha256}`),
        );
      }),
    );
}
