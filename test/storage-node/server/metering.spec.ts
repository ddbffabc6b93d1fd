import { expect } from "chai";
import { Metering } from "../../../storage-node/src/metering";
import type { NodeChain, NodeStore } from "../../../storage-node/src/ports";

/** A store that only records usage and snapshots; a chain whose reads can be made to fail. */
function fakes() {
  const usage: { bucket: bigint; era: number; servedBytes: number; requests: number }[] = [];
  const closed: { bucket: bigint; era: number }[] = [];
  const store = {
    buckets: () => [1n],
    addUsage: (bucket: bigint, era: number, servedBytes: number, requests: number) =>
      usage.push({ bucket, era, servedBytes, requests }),
  } as unknown as NodeStore;
  let failing = false;
  let era = 3;
  const chain = {
    bucketCluster: async () => {
      if (failing) throw new Error("chain unreachable");
      return 7;
    },
    era: async () => ({ era, start: 0, end: 4_000_000_000 }),
  } as unknown as NodeChain;
  return {
    usage,
    closed,
    store,
    chain,
    fail: (f: boolean) => (failing = f),
    setEra: (e: number) => (era = e),
  };
}

describe("metering", () => {
  it("a failing chain read loses no counts: they are written by the next flush", async () => {
    const f = fakes();
    const errors: unknown[] = [];
    const m = new Metering(
      f.store,
      f.chain,
      () => 1_000_000,
      0,
      (e) => errors.push(e),
    );
    m.count(1n, 100);
    m.count(1n, 50);
    f.fail(true);
    await m.flush();
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(["chain unreachable"]);
    expect(f.usage).to.deep.equal([]);
    m.count(1n, 10);
    f.fail(false);
    await m.flush();
    expect(f.usage).to.deep.equal([{ bucket: 1n, era: 3, servedBytes: 160, requests: 3 }]);
  });

  it("snapshots every bucket it holds when its cluster's era ends, without a request", async () => {
    const f = fakes();
    const m = new Metering(
      f.store,
      f.chain,
      () => 1_000_000,
      0,
      () => {},
    );
    m.onEraEnd = (bucket, era) => f.closed.push({ bucket, era });
    await m.flush();
    expect(f.closed).to.deep.equal([]);
    f.setEra(4);
    await m.flush();
    expect(f.closed).to.deep.equal([{ bucket: 1n, era: 3 }]);
    await m.stop();
  });
});
