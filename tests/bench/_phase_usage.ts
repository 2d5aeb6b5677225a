/**
 * What else ran on the machine while a benchmark phase ran: load average
 * before and after, and the CPU the rest of the machine used, i.e. busy CPU
 * (from /proc/stat) minus this process's and its reaped children's (from
 * /proc/self/stat). Every phase stops the processes it starts, so by its end
 * their CPU is counted as ours.
 */
import { clockTicksPerS, sampleMachine } from "../kit/machine.ts";

/** One phase's machine figures. */
export interface PhaseUsage {
  phase: string;
  seconds: number;
  /** 1-minute load average before and after. */
  loadBefore: number;
  loadAfter: number;
  /** % of one core used by this benchmark and its children. */
  oursPct: number;
  /** % of one core used by everything else on the machine meanwhile. */
  othersPct: number;
}

function ownCpuMs(): number {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime, stime, cutime, cstime (fields 14–17)
  const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  return ticks * 1000 / clockTicksPerS;
}

function load1(): number {
  return Math.round(Deno.loadavg()[0]! * 100) / 100;
}

/** Runs `work` and returns the machine's figures around it, and what it threw (if anything). */
export async function withPhaseUsage(
  phase: string,
  work: () => Promise<void>,
): Promise<{ usage: PhaseUsage; error?: unknown }> {
  const loadBefore = load1();
  const m0 = sampleMachine();
  const own0 = ownCpuMs();
  let error: { error: unknown } | null = null;
  try {
    await work();
  } catch (e) {
    error = { error: e };
  }
  const m1 = sampleMachine();
  const own1 = ownCpuMs();
  const ms = m1.at - m0.at;
  const oursPct = (own1 - own0) / ms * 100;
  const busyPct = (m1.busyMs - m0.busyMs) / ms * 100;
  const usage = {
    phase,
    seconds: Math.round(ms / 100) / 10,
    loadBefore,
    loadAfter: load1(),
    oursPct: Math.round(oursPct),
    othersPct: Math.max(0, Math.round(busyPct - oursPct)),
  };
  return error ? { usage, ...error } : { usage };
}
