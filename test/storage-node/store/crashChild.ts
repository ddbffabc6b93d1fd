// A process writing one object and stopping at a failpoint, for crash.spec.ts: it tells its
// parent which step it reached and waits there to be killed (SIGKILL: nothing is cleaned up).
import { join } from "node:path";
import { Readable } from "node:stream";
import { FsBlobStore } from "../../../storage-node/src/store/blobs";
import { MetaStore } from "../../../storage-node/src/store/meta";
import { ObjectStore } from "../../../storage-node/src/store/objects";

const [dir, step, size] = process.argv.slice(2);

async function main() {
  const blobs = new FsBlobStore(join(dir, "data"));
  const meta = new MetaStore(join(dir, "meta.sqlite"));
  const store = new ObjectStore(blobs, meta);
  await store.open();
  const stop = async (at: string) => {
    if (at !== step) return;
    process.send!({ step: at });
    await new Promise(() => undefined);
  };
  blobs.failpoint = stop;
  store.failpoint = stop;
  const body = Buffer.alloc(Number(size), 0x5a);
  await store.put(1n, "k", 7n, Readable.from([body.subarray(0, 1000), body.subarray(1000)]), {
    version: 2n,
    maxBytes: 1 << 20,
  });
  process.send!({ step: "done" });
  await new Promise(() => undefined);
}

// Runs only as its own process (the test runner loads every file under test/ too).
if (require.main === module) {
  main().catch((e) => {
    process.send!({ error: String(e) });
    process.exit(1);
  });
}
