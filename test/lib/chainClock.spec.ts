import { expect } from "chai";
import { ChainClock } from "../../lib/chainClock";

/** A provider whose latest block the test sets. */
function fakeChain(timestamp: number) {
  const chain = {
    timestamp,
    fail: false,
    getBlock: async () => {
      if (chain.fail) throw new Error("connection refused");
      return { timestamp: chain.timestamp } as never;
    },
  };
  return chain;
}

describe("lib/chainClock", () => {
  it("follows the latest block, carried forward by the wall clock, never backwards", async () => {
    const chain = fakeChain(1_000_000);
    const clock = new ChainClock(chain, 20);
    await clock.start();
    try {
      const a = clock.now();
      expect(a).to.be.within(1_000_000_000, 1_000_000_200);
      // The chain runs ahead (a local chain at twenty times the wall clock): the clock jumps with it.
      chain.timestamp = 1_000_020;
      await new Promise((r) => setTimeout(r, 60));
      const b = clock.now();
      expect(b).to.be.within(1_000_020_000, 1_000_020_200);
      // A block with an older timestamp (a reorg, another RPC node) does not move it back.
      chain.timestamp = 999_000;
      await new Promise((r) => setTimeout(r, 60));
      expect(clock.now()).to.be.at.least(b);
      // The RPC away: the clock goes on from the last block, and says why.
      chain.fail = true;
      await new Promise((r) => setTimeout(r, 60));
      expect(clock.lastError?.message).to.equal("connection refused");
      expect(clock.now()).to.be.at.least(b);
    } finally {
      clock.stop();
    }
  });

  it("sleeps in the chain's time: a jump of the chain ends the sleep early", async () => {
    const chain = fakeChain(2_000_000);
    const clock = new ChainClock(chain, 10);
    await clock.start();
    try {
      const started = Date.now();
      const sleeping = clock.sleep(600_000);
      setTimeout(() => (chain.timestamp = 2_000_700), 50);
      await sleeping;
      expect(Date.now() - started).to.be.below(2_000);
      expect(clock.now()).to.be.at.least(2_000_600_000);
      // An abort ends it at once.
      const stop = new AbortController();
      const long = clock.sleep(3_600_000, stop.signal);
      stop.abort();
      await long;
    } finally {
      clock.stop();
    }
  });

  it("start() fails when the chain cannot be read", async () => {
    const chain = fakeChain(1);
    chain.fail = true;
    const clock = new ChainClock(chain, 10);
    let error: Error | undefined;
    await clock.start().catch((e: Error) => (error = e));
    expect(error?.message).to.equal("connection refused");
  });
});
