import { expect } from "chai";
import { withRetry, type RetryOptions } from "../../lib/retry";

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:8545"), { code: "ECONNREFUSED" });
const reverted = () => Object.assign(new Error("execution reverted"), { code: "CALL_EXCEPTION", data: "0x12345678" });

/** A function failing with `failures` in turn, then returning "ok"; `calls` counts its calls. */
function flaky(failures: Error[]) {
  const state = { calls: 0 };
  const fn = async () => {
    const failure = failures[state.calls++];
    if (failure !== undefined) throw failure;
    return "ok";
  };
  return { fn, state };
}

describe("lib/retry: withRetry", () => {
  const fast: RetryOptions = { retries: 3, retryBaseMs: 1, retryMaxMs: 3 };

  it("tries a transient failure again, with doubling delays under the maximum", async () => {
    const { fn, state } = flaky([refused(), refused(), refused()]);
    const heard: string[] = [];
    const result = await withRetry(fn, {
      ...fast,
      onFailure: (_e, attempt) => heard.push(`failure ${attempt}`),
      onRetry: (attempt, delay) => heard.push(`retry ${attempt} in ${delay}`),
    });
    expect(result).to.equal("ok");
    expect(state.calls).to.equal(4);
    expect(heard).to.deep.equal([
      "failure 0",
      "retry 2 in 1",
      "failure 1",
      "retry 3 in 2",
      "failure 2",
      "retry 4 in 3",
    ]);
  });

  it("passes any other failure through at once, untouched", async () => {
    const error = reverted();
    const { fn, state } = flaky([error]);
    let heard = 0;
    const caught = await withRetry(fn, { ...fast, onFailure: () => heard++ }).catch((e: unknown) => e);
    expect(caught).to.equal(error);
    expect(state.calls).to.equal(1);
    expect(heard).to.equal(0);
  });

  it("throws the last failure when the retries are used up", async () => {
    const failures = [refused(), refused(), refused()];
    const { fn, state } = flaky(failures);
    const caught = await withRetry(fn, { ...fast, retries: 2 }).catch((e: unknown) => e);
    expect(caught).to.equal(failures[2]);
    expect(state.calls).to.equal(3);
  });

  it("throws what `exhausted` makes of it, with the number of attempts", async () => {
    const { fn } = flaky([refused(), refused()]);
    const caught = await withRetry(fn, {
      ...fast,
      retries: 1,
      exhausted: (e, attempts) => new Error(`gave up after ${attempts}: ${(e as Error).message}`),
    }).catch((e: unknown) => e);
    expect((caught as Error).message).to.equal("gave up after 2: connect ECONNREFUSED 127.0.0.1:8545");
  });

  it("with no retries tries once", async () => {
    const { fn, state } = flaky([refused()]);
    const caught = await withRetry(fn, { ...fast, retries: 0 }).catch((e: unknown) => e);
    expect((caught as { code?: string }).code).to.equal("ECONNREFUSED");
    expect(state.calls).to.equal(1);
  });

  it("retries what `retryable` accepts instead of the transient failures", async () => {
    const { fn, state } = flaky([reverted()]);
    expect(await withRetry(fn, { ...fast, retryable: () => true })).to.equal("ok");
    expect(state.calls).to.equal(2);
    const refusedOnce = flaky([refused()]);
    const caught = await withRetry(refusedOnce.fn, { ...fast, retryable: () => false }).catch((e: unknown) => e);
    expect((caught as { code?: string }).code).to.equal("ECONNREFUSED");
    expect(refusedOnce.state.calls).to.equal(1);
  });
});
