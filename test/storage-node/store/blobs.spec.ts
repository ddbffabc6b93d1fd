import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";
import { expect } from "chai";
import S3rver from "s3rver";
import { ErrorCode, LEAF_BYTES } from "../../../storage-node/src/protocol";
import { FsBlobStore, S3BlobStore, type BlobStore } from "../../../storage-node/src/store/blobs";
import { StoreError } from "../../../storage-node/src/store/errors";
import { leafHashes, merkleRoot, toHex } from "../../../storage-node/src/store/merkle";
import { tempDir } from "../../helpers/temp";

/** A blob store under test and what the contract needs to look behind it. */
interface Backend {
  store: BlobStore & { quarantined(): Promise<string[]> };
  /** Leaves a temporary as a crash would. */
  plantTemp(): void;
  temps(): Promise<string[]>;
}

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function content(size: number, seed = 1): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 17) & 0xff;
  return b;
}

/** The body in pieces of `piece` bytes; `pulled` counts the pieces taken. */
function pieces(b: Buffer, piece: number) {
  const state = { pulled: 0 };
  async function* gen() {
    for (let at = 0; at < b.length; at += piece) {
      state.pulled++;
      yield b.subarray(at, at + piece);
    }
  }
  return { body: gen(), state };
}

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function all(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out.sort();
}

async function rejection(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    return e as StoreError;
  }
  throw new Error("expected a rejection");
}

/** The contract every BlobStore keeps. */
function contract(name: string, make: () => Promise<Backend>) {
  describe(`${name}: the BlobStore contract`, () => {
    let b: Backend;
    beforeEach(async () => {
      b = await make();
      await b.store.open();
    });

    it("put streams, hashes and stores; read and stream give back any range", async () => {
      const data = content(2 * LEAF_BYTES + 100);
      const info = await b.store.put(Readable.from([data.subarray(0, 1000), data.subarray(1000)]), {
        maxBytes: 1 << 20,
      });
      expect(info.sha256).to.equal(sha256(data));
      expect(info.size).to.equal(data.length);
      expect(info.leaves.map((l) => l.toString("hex"))).to.deep.equal(leafHashes(data).map(toHex));
      expect(info.root).to.equal(toHex(merkleRoot(leafHashes(data))));
      expect(await b.store.has(info.sha256)).to.equal(true);
      expect(await b.store.read(info.sha256, 0, data.length - 1)).to.deep.equal(data);
      expect(await b.store.read(info.sha256, 70_000, 70_009)).to.deep.equal(data.subarray(70_000, 70_010));
      expect(await collect(b.store.stream(info.sha256, 5, LEAF_BYTES + 5))).to.deep.equal(
        data.subarray(5, LEAF_BYTES + 6),
      );
      expect(await all(b.store.list())).to.deep.equal([info.sha256]);
      expect(await b.temps()).to.deep.equal([]);
    });

    it("an empty body is a blob too", async () => {
      const info = await b.store.put(Readable.from([]), { maxBytes: 10 });
      expect(info.sha256).to.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      expect(info.size).to.equal(0);
      expect(info.leaves.map((l) => l.toString("hex"))).to.deep.equal([
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      ]);
      expect(await b.store.has(info.sha256)).to.equal(true);
    });

    it("the same content twice is stored once", async () => {
      const data = content(5000);
      const a = await b.store.put(pieces(data, 999).body, { maxBytes: 5000 });
      const c = await b.store.put(pieces(data, 4096).body, { maxBytes: 5000, expectedSha256: sha256(data) });
      expect(c.sha256).to.equal(a.sha256);
      expect(await all(b.store.list())).to.deep.equal([a.sha256]);
      expect(await b.temps()).to.deep.equal([]);
    });

    it("a body past maxBytes stops being read, fails with too-large and leaves nothing", async () => {
      const data = content(10 * 1024);
      const { body, state } = pieces(data, 1024);
      const e = await rejection(b.store.put(body, { maxBytes: 3000 }));
      expect(e.code).to.equal(ErrorCode.TooLarge);
      expect(e.message).to.equal("body exceeds 3000 bytes");
      // The third piece passed 3000 bytes: nothing after it was pulled.
      expect(state.pulled).to.equal(3);
      expect(await all(b.store.list())).to.deep.equal([]);
      expect(await b.temps()).to.deep.equal([]);
    });

    it("exactly maxBytes is accepted", async () => {
      const info = await b.store.put(pieces(content(3000), 1024).body, { maxBytes: 3000 });
      expect(info.size).to.equal(3000);
    });

    it("a body whose digest is not the announced one fails with digest-mismatch and leaves nothing", async () => {
      const data = content(3000);
      const wrong = sha256(Buffer.from("something else"));
      const e = await rejection(b.store.put(Readable.from([data]), { maxBytes: 1 << 20, expectedSha256: wrong }));
      expect(e.code).to.equal(ErrorCode.DigestMismatch);
      expect(e.message).to.equal(`body sha256 is ${sha256(data)}, expected ${wrong}`);
      expect(await b.store.has(sha256(data))).to.equal(false);
      expect(await all(b.store.list())).to.deep.equal([]);
      expect(await b.temps()).to.deep.equal([]);
    });

    it("a body that fails midway leaves nothing", async () => {
      async function* broken() {
        yield Buffer.alloc(100);
        throw new Error("connection reset");
      }
      const e = await rejection(b.store.put(broken(), { maxBytes: 1000 }));
      expect(e.message).to.equal("connection reset");
      expect(await all(b.store.list())).to.deep.equal([]);
      expect(await b.temps()).to.deep.equal([]);
    });

    it("a missing blob: not-found from read and stream, false from has; remove is idempotent", async () => {
      const missing = sha256(Buffer.from("missing"));
      expect(await b.store.has(missing)).to.equal(false);
      expect((await rejection(b.store.read(missing, 0, 0))).code).to.equal(ErrorCode.NotFound);
      expect((await rejection(collect(b.store.stream(missing, 0, 10)))).code).to.equal(ErrorCode.NotFound);
      expect((await rejection(b.store.read("../../etc/passwd", 0, 0))).code).to.equal(ErrorCode.NotFound);
      expect(await b.store.has("not-a-digest")).to.equal(false);
      await b.store.remove(missing);
      const info = await b.store.put(Readable.from([Buffer.from("x")]), { maxBytes: 1 });
      await b.store.remove(info.sha256);
      await b.store.remove(info.sha256);
      expect(await b.store.has(info.sha256)).to.equal(false);
    });

    it("quarantine moves a blob aside: no longer readable, kept for inspection", async () => {
      const info = await b.store.put(Readable.from([Buffer.from("hello")]), { maxBytes: 100 });
      await b.store.quarantine(info.sha256);
      expect(await b.store.has(info.sha256)).to.equal(false);
      expect((await rejection(b.store.read(info.sha256, 0, 4))).code).to.equal(ErrorCode.NotFound);
      const q = await b.store.quarantined();
      expect(q).to.have.length(1);
      expect(q[0]).to.match(new RegExp(`^${info.sha256}\\.\\d+$`));
      expect(await all(b.store.list())).to.deep.equal([]);
      expect((await rejection(b.store.quarantine(info.sha256))).code).to.equal(ErrorCode.NotFound);
    });

    it("open() removes the temporaries a crash left", async () => {
      b.plantTemp();
      b.plantTemp();
      expect(await b.temps()).to.have.length(2);
      expect(await b.store.open()).to.deep.equal({ tempsRemoved: 2 });
      expect(await b.temps()).to.deep.equal([]);
      expect(await b.store.open()).to.deep.equal({ tempsRemoved: 0 });
    });
  });
}

contract("FsBlobStore", async () => {
  const dir = tempDir("blobs");
  const store = new FsBlobStore(dir);
  let n = 0;
  return {
    store,
    plantTemp: () => writeFileSync(join(dir, "tmp", `leftover${n++}`), "partial"),
    temps: () => store.temps(),
  };
});

describe("S3 backend (s3rver)", () => {
  let server: S3rver;
  let endpoint: string;
  before(async () => {
    server = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: tempDir("s3rver"),
      configureBuckets: [{ name: "ddc-blobs" }],
    });
    const addr = await server.run();
    endpoint = `http://127.0.0.1:${addr.port}`;
  });
  after(async () => {
    await server.close();
  });

  let n = 0;
  contract("S3BlobStore", async () => {
    const client = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const stagingDir = tempDir("s3-staging");
    // A prefix per test: one bucket, no test sees another's blobs.
    const store = new S3BlobStore({ client, bucket: "ddc-blobs", prefix: `node-${n++}/`, stagingDir });
    return {
      store,
      plantTemp: () => writeFileSync(join(stagingDir, `leftover${n++}`), "partial"),
      temps: async () => (await import("node:fs/promises")).readdir(stagingDir),
    };
  });
});
