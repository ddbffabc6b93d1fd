import { fork } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { Readable } from "node:stream";
import { expect } from "chai";
import { LEAF_BYTES } from "../../../storage-node/src/protocol";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { leafHashes, merkleRoot, toHex } from "../../../storage-node/src/store/merkle";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore } from "../../../storage-node/src/store/objects";
import { tempDir } from "../../helpers/temp";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const OLD = Buffer.alloc(LEAF_BYTES + 33, 0x11);
const NEW_SIZE = 2 * LEAF_BYTES + 77;
const NEW = Buffer.alloc(NEW_SIZE, 0x5a);

const BLOB_STEPS = ["temp-written", "temp-synced", "renamed", "dir-synced"] as const;
const STEPS = [...BLOB_STEPS, "before-commit", "after-commit"] as const;

function stores(dir: string) {
  const blobs = new FsBlobStore(join(dir, "data"));
  const meta = new MetaStore(join(dir, "meta.sqlite"));
  return { blobs, meta, store: new ObjectStore(blobs, meta) };
}

/** A directory holding version 1 of (1, "k"). */
async function withOldObject(): Promise<string> {
  const dir = tempDir("crash");
  const { store, meta } = stores(dir);
  await store.open();
  await store.put(1n, "k", 7n, Readable.from([OLD]), { version: 1n, maxBytes: 1 << 20 });
  meta.close();
  return dir;
}

/** Reopens the stores and checks (1, "k") is exactly `expected`, complete and verifiable, with nothing left over. */
async function expectState(dir: string, expected: { version: bigint; body: Buffer }, reopen: boolean) {
  const { store, meta, blobs } = stores(dir);
  if (reopen) await store.open();
  const row = meta.get(1n, "k")!;
  expect(row.version).to.equal(expected.version);
  expect(row.sha256).to.equal(sha256(expected.body));
  expect(row.size).to.equal(expected.body.length);
  expect(row.root).to.equal(toHex(merkleRoot(leafHashes(expected.body))));
  // The read checks every leaf: a torn blob would throw here.
  expect(await store.read(row, 0, row.size - 1)).to.deep.equal(expected.body);
  expect(await blobs.temps()).to.deep.equal([]);
  const present: string[] = [];
  for await (const s of blobs.list()) present.push(s);
  expect(present).to.deep.equal([row.sha256]);
  expect(await blobs.quarantined()).to.deep.equal([]);
  meta.close();
}

/** Runs crashChild.ts until it reports `step`, then SIGKILLs it. */
function runUntil(dir: string, step: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = fork(join(__dirname, "crashChild.ts"), [dir, step, String(NEW_SIZE)], {
      execArgv: ["-r", "ts-node/register/transpile-only"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let reached = "";
    child.on("message", (m: { step?: string; error?: string }) => {
      if (m.error !== undefined) return reject(new Error(m.error));
      reached = m.step ?? "";
      child.kill("SIGKILL");
    });
    child.on("exit", (_code, signal) => {
      if (signal === "SIGKILL") resolve(reached);
      else reject(new Error(`child exited without being killed (${String(signal)})`));
    });
  });
}

describe("storage-node/store: crash safety of a put", function () {
  this.timeout(120_000);

  describe("a process SIGKILLed at each step", () => {
    for (const step of STEPS) {
      const survives = step === "after-commit";
      it(`killed at ${step}: after a restart the ${survives ? "new" : "old"} object, whole; no temporary, no orphan`, async () => {
        const dir = await withOldObject();
        expect(await runUntil(dir, step)).to.equal(step);
        await expectState(dir, survives ? { version: 2n, body: NEW } : { version: 1n, body: OLD }, true);
      });
    }

    it("not killed before the end: the new object", async () => {
      const dir = await withOldObject();
      expect(await runUntil(dir, "done")).to.equal("done");
      await expectState(dir, { version: 2n, body: NEW }, true);
    });
  });

  describe("a failure thrown at each step (the process lives on)", () => {
    for (const step of STEPS) {
      const survives = step === "after-commit";
      // A blob already renamed into place is complete: a failure after that leaves it for
      // open() to remove (a concurrent put of the same content may have found it and use it).
      const placed = step === "renamed" || step === "dir-synced";
      it(`failing at ${step}: the ${survives ? "new" : "old"} object, nothing left over${placed ? " after open()" : ", without a restart"}`, async () => {
        const dir = await withOldObject();
        const { store, blobs, meta } = stores(dir);
        await store.open();
        const fail = (at: string) => {
          if (at === step) throw new Error(`failpoint ${at}`);
        };
        blobs.failpoint = fail;
        store.failpoint = fail;
        let message = "";
        try {
          await store.put(1n, "k", 7n, Readable.from([NEW]), { version: 2n, maxBytes: 1 << 20 });
        } catch (e) {
          message = (e as Error).message;
        }
        expect(message).to.equal(`failpoint ${step}`);
        meta.close();
        await expectState(dir, survives ? { version: 2n, body: NEW } : { version: 1n, body: OLD }, placed);
      });
    }
  });
});
