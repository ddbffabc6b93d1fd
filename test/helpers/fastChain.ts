import { ethers, network } from "hardhat";
import { wallSleep } from "../../lib/chainClock";
import type { Clock } from "../../validator/src/eraRun";

/** Where a scaled clock starts: its chain time at a wall-clock instant, and how fast it runs. */
export interface ScaledClockBase {
  chainStart: number;
  wallStart: number;
  speed: number;
}

/** The chain's time running `speed` times the wall clock from `base` (ms); its sleeps shortened to match. */
export function scaledClock(base: ScaledClockBase): Clock {
  return {
    now: () => base.chainStart + (Date.now() - base.wallStart) * base.speed,
    sleep: (ms, signal) => wallSleep(ms / base.speed, signal),
  };
}

/**
 * The in-process Hardhat chain made to run `speed` times the wall clock: from 10 s after its latest
 * block, a block is mined every 100 ms at the scaled clock's time, until `stop()`. Nodes and
 * validators given `clock` then see eras of an hour pass in 3600 / speed seconds.
 */
export async function fastHardhatChain(speed: number): Promise<{ clock: Clock; stop(): void }> {
  const latest = await ethers.provider.getBlock("latest");
  const clock = scaledClock({ chainStart: (latest!.timestamp + 10) * 1000, wallStart: Date.now(), speed });
  const miner = setInterval(() => {
    void network.provider.send("evm_mine", [Math.floor(clock.now() / 1000)]).catch(() => undefined);
  }, 100);
  return { clock, stop: () => clearInterval(miner) };
}
