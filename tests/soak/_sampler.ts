/**
 * Samples every hop process once a second: resident memory, open
 * descriptors and sockets from /proc, heap, timers and event-loop delay from
 * the hop's /metrics. Slopes are fitted per process (a restarted hop starts
 * a new series) after a warm-up.
 */

/** One sample of one hop process. */
export interface Sample {
  /** ms since the soak began. */
  t: number;
  pid: number;
  rssMb: number;
  fds: number;
  sockets: number;
  heapMb?: number;
  timers?: number;
  /** Largest event-loop delay since the previous sample, ms. */
  loopMaxMs?: number;
  loopMeanMs?: number;
}

/** The numeric fields of a sample that slopes are fitted to. */
export type Measure = "rssMb" | "fds" | "sockets" | "heapMb" | "timers";
export const measures: Measure[] = ["rssMb", "heapMb", "fds", "sockets", "timers"];

/** Resident memory, descriptors and sockets of `pid` from /proc; null once it is gone. */
export function procSample(pid: number): { rssMb: number; fds: number; sockets: number } | null {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
    let fds = 0, sockets = 0;
    for (const e of Deno.readDirSync(`/proc/${pid}/fd`)) {
      fds++;
      try {
        if (Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`).startsWith("socket:")) sockets++;
      } catch { /* closed meanwhile */ }
    }
    return { rssMb: rss, fds, sockets };
  } catch {
    return null;
  }
}

/** The gauges the soak reads from a hop's /metrics text. */
export function parseMetrics(text: string): Partial<Sample> {
  const get = (re: RegExp) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const heap = get(/^process_heap_used_bytes (\S+)$/m);
  const loopMax = get(/^hopgate_event_loop_delay_max_seconds (\S+)$/m);
  const loopMean = get(/^hopgate_event_loop_delay_mean_seconds (\S+)$/m);
  const timers = get(/^hopgate_runtime_timers (\S+)$/m);
  return {
    ...(heap !== undefined ? { heapMb: heap / 2 ** 20 } : {}),
    ...(timers !== undefined ? { timers } : {}),
    ...(loopMax !== undefined ? { loopMaxMs: loopMax * 1000 } : {}),
    ...(loopMean !== undefined ? { loopMeanMs: loopMean * 1000 } : {}),
  };
}

/** Least-squares slope of `ys` over `xs`; 0 with fewer than 2 points. */
export function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** A per-process series: its samples after the warm-up. */
export interface Series {
  pid: number;
  samples: Sample[];
}

/** Splits samples by process and drops each process's first `warmupMs`. */
export function seriesOf(samples: Sample[], warmupMs: number): Series[] {
  const byPid = new Map<number, Sample[]>();
  for (const s of samples) {
    const list = byPid.get(s.pid) ?? [];
    list.push(s);
    byPid.set(s.pid, list);
  }
  return [...byPid].map(([pid, all]) => ({
    pid,
    samples: all.filter((s) => s.t - all[0]!.t >= warmupMs),
  }));
}

/** Per hour growth of `m` over a series (value units per hour). */
export function perHour(series: Series, m: Measure): number {
  const pts = series.samples.filter((s) => s[m] !== undefined);
  return slope(pts.map((s) => s.t / 3_600_000), pts.map((s) => s[m]!));
}

/** Median of `m` over the samples whose time is in [from, to). */
export function medianOf(samples: Sample[], m: Measure, from: number, to: number): number {
  const v = samples.filter((s) => s.t >= from && s.t < to && s[m] !== undefined)
    .map((s) => s[m]!).sort((a, b) => a - b);
  return v.length ? v[Math.floor(v.length / 2)]! : NaN;
}

/** Samples the hops each second until stopped. */
export class Sampler {
  readonly samples = new Map<string, Sample[]>();
  #t0: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #targets: () => { name: string; pid: number | undefined; statusPort: number }[];

  constructor(
    t0: number,
    targets: () => { name: string; pid: number | undefined; statusPort: number }[],
  ) {
    this.#t0 = t0;
    this.#targets = targets;
  }

  start(): void {
    const loop = async () => {
      if (this.#stopped) return;
      const started = performance.now();
      await this.sampleOnce();
      const wait = Math.max(0, 1000 - (performance.now() - started));
      if (!this.#stopped) this.#timer = setTimeout(loop, wait);
    };
    void loop();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * Samples now as well, as a checkpoint: the soak takes one whenever the
   * chain is whole before a fault, so checkpoints compare like with like
   * (every link up, every source connected).
   */
  async checkpoint(): Promise<void> {
    await this.sampleOnce(this.checkpoints);
  }

  /** The checkpoint samples, by hop. */
  readonly checkpoints = new Map<string, Sample[]>();

  async sampleOnce(into = this.samples): Promise<void> {
    const t = Date.now() - this.#t0;
    await Promise.all(
      this.#targets().map(async ({ name, pid, statusPort }) => {
        if (pid === undefined) return;
        const p = procSample(pid);
        if (!p) return;
        let m: Partial<Sample> = {};
        try {
          const res = await fetch(`http://127.0.0.1:${statusPort}/metrics`, {
            signal: AbortSignal.timeout(900),
          });
          m = parseMetrics(await res.text());
        } catch { /* hop starting or stopping: /proc figures only */ }
        const list = into.get(name) ?? [];
        list.push({ t, pid, ...p, ...m });
        into.set(name, list);
      }),
    );
  }
}
