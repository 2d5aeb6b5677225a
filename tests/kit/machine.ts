/**
 * What the benchmarks and the soak read of a process and of the machine, from
 * /proc (Linux): memory and CPU time of a process, busy CPU time of the
 * machine, load average, and how long a process's main thread ran and waited
 * for a CPU.
 */

/** Memory and CPU of a process, as read from /proc. */
export interface ResourceSample {
  /** Resident set now, in kB. */
  rssKb: number;
  /** Peak resident set since start, in kB. */
  hwmKb: number;
  /**
   * Resident anonymous memory now, in kB: the process's own, without the
   * executable's and libraries' pages (file-backed, shared by every process
   * running the same binary).
   */
  anonKb: number;
  /** User plus system CPU time since start, in ms. */
  cpuMs: number;
  /** When the sample was taken (performance.now()). */
  at: number;
}

export const clockTicksPerS = 100; // USER_HZ; 100 on every Linux build we run on (getconf CLK_TCK).

/** Reads RSS, peak RSS and CPU time of `pid` from /proc/<pid>/status and /proc/<pid>/stat. */
export function sampleProcess(pid: number): ResourceSample {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(status)?.[1]);
  // The command name in field 2 may hold spaces; the fields after its ")" are fixed.
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(rest[11]) + Number(rest[12]); // utime, stime (fields 14 and 15)
  return {
    rssKb: kb("VmRSS"),
    hwmKb: kb("VmHWM"),
    anonKb: kb("RssAnon"),
    cpuMs: ticks * 1000 / clockTicksPerS,
    at: performance.now(),
  };
}

/** Time a thread spent on a CPU and waiting in the run queue for one, since it started. */
export interface ThreadSchedule {
  runMs: number;
  waitMs: number;
}

/**
 * How long the main thread of `pid` (a hop's JavaScript thread) has run and
 * waited for a CPU while runnable, from /proc/<pid>/task/<pid>/schedstat;
 * `null` where the kernel keeps no such counts. On a machine whose cores are
 * all busy, the wait is what separates the machine's share from a program's
 * own cost.
 */
export function sampleMainThread(pid: number): ThreadSchedule | null {
  try {
    const [run, wait] = Deno.readTextFileSync(`/proc/${pid}/task/${pid}/schedstat`).trim()
      .split(" ").map(Number);
    if (!Number.isFinite(run) || !Number.isFinite(wait)) return null;
    return { runMs: run! / 1e6, waitMs: wait! / 1e6 };
  } catch {
    return null;
  }
}

/**
 * The CPU some processes use over a window, and the busy CPU of the machine
 * that is none of theirs ("others": other jobs on a shared machine), each in
 * % of one core. Starts now; `end()` closes the window.
 */
export function cpuWindow<K extends string>(
  pids: Record<K, number>,
): { end(): { pct: Record<K, number>; othersPct: number } } {
  const names = Object.keys(pids) as K[];
  const sample = () => new Map(names.map((k) => [k, sampleProcess(pids[k])]));
  const first = sample();
  const machine0 = sampleMachine();
  return {
    end() {
      const last = sample();
      const machine1 = sampleMachine();
      const pct = {} as Record<K, number>;
      let ours = 0;
      for (const k of names) {
        const [a, b] = [first.get(k)!, last.get(k)!];
        pct[k] = (b.cpuMs - a.cpuMs) / (b.at - a.at) * 100;
        ours += pct[k];
      }
      const busy = (machine1.busyMs - machine0.busyMs) / (machine1.at - machine0.at) * 100;
      return { pct, othersPct: Math.max(0, busy - ours) };
    },
  };
}

/** Busy and total CPU time of the whole machine so far, in ms, from /proc/stat. */
export function sampleMachine(): { busyMs: number; totalMs: number; at: number } {
  const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0]!.split(/\s+/).slice(1)
    .map(Number);
  const idle = cpu[3]! + cpu[4]!; // idle, iowait
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const toMs = 1000 / clockTicksPerS;
  return { busyMs: (total - idle) * toMs, totalMs: total * toMs, at: performance.now() };
}

/** The 1-, 5- and 15-minute load averages, as `/proc/loadavg` shows them. */
export function loadAverage(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
}

/** A kernel thread's name (as `ps` shows it now) and the CPU time it has run since it started. */
export interface KernelThread {
  /** Its name as `ps` shows it now. */
  name: string;
  /** CPU time it has run since it started, in ms. */
  ms: number;
  /** How many times it has been given a CPU since it started (each run ends when it yields). */
  runs: number;
}

/**
 * CPU time each kernel thread (a child of `kthreadd`, pid 2) has run since it
 * started, by pid, from /proc/<pid>/schedstat; empty where the kernel keeps no
 * such counts. By pid, since a kernel worker's name changes with the work
 * queue it serves (`kworker/0:1-events`, `kworker/0:1-mm_percpu_wq`). A kernel
 * thread runs until it yields: one that works in slices of several
 * milliseconds (found on one virtual machine: `kdamond.0`, the kernel's
 * memory access monitor, 3–10 ms about every 505 ms) holds up whatever waits
 * for that core, which the latency phase shows as bursts of late updates.
 */
export function sampleKernelThreads(): Map<number, KernelThread> {
  const out = new Map<number, KernelThread>();
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid !== 2) continue;
      const [run, , runs] = Deno.readTextFileSync(`/proc/${e.name}/schedstat`).split(" ")
        .map(Number);
      if (Number.isFinite(run) && Number.isFinite(runs)) {
        out.set(Number(e.name), { name, ms: run! / 1e6, runs: runs! });
      }
    } catch {
      // Gone meanwhile, or no scheduler statistics.
    }
  }
  return out;
}

/**
 * The kernel threads that ran most between two {@link sampleKernelThreads},
 * as `[name[pid], ms of CPU per second, ms per run]`, busiest first; a thread
 * started meanwhile counts from zero. The length of a run is what delays the
 * updates waiting for its core: kdamond.0 at 8 ms/s in two runs a second holds
 * a core 4 ms each time, a worker at 8 ms/s in 400 runs 0.02 ms.
 */
export function busiestKernelThreads(
  before: Map<number, KernelThread>,
  after: Map<number, KernelThread>,
  seconds: number,
  count = 3,
): [string, number, number][] {
  return [...after].map(([pid, t]): [string, number, number] => {
    const ms = t.ms - (before.get(pid)?.ms ?? 0), runs = t.runs - (before.get(pid)?.runs ?? 0);
    return [`${t.name}[${pid}]`, ms / seconds, runs > 0 ? ms / runs : 0];
  }).sort((a, b) => b[1] - a[1]).slice(0, count);
}

/**
 * The kernel's data access monitors (DAMON) that run, as one line each:
 * `kdamond.N: <operations>, up to <max> regions sampled every <ms> ms`; empty
 * where there are none or /sys/kernel/mm/damon is absent. One virtual machine
 * here ran one from boot (physical addresses, up to 8,192 regions sampled every
 * 500 ms): each sampling is a run of `kdamond.N` that holds a core for
 * milliseconds, the period of the latency phase's bursts of late updates.
 */
export function dataAccessMonitors(): string[] {
  const root = "/sys/kernel/mm/damon/admin/kdamonds";
  const read = (path: string) => Deno.readTextFileSync(path).trim();
  const out: string[] = [];
  try {
    for (const k of Deno.readDirSync(root)) {
      if (!/^\d+$/.test(k.name)) continue;
      try {
        if (read(`${root}/${k.name}/state`) !== "on") continue;
        const ctx = `${root}/${k.name}/contexts/0`;
        const sampleMs = Number(read(`${ctx}/monitoring_attrs/intervals/sample_us`)) / 1000;
        out.push(
          `kdamond.${k.name}: ${read(`${ctx}/operations`)}, up to ${
            Number(read(`${ctx}/monitoring_attrs/nr_regions/max`)).toLocaleString("en")
          } regions sampled every ${sampleMs} ms`,
        );
      } catch {
        // Stopped meanwhile, or a monitor without a context.
      }
    }
  } catch {
    // No DAMON in this kernel, or no access to it.
  }
  return out;
}
