/**
 * The runtime's own gauges for /metrics: active timers and other resources
 * of the process, and how late the event loop runs. A soak run or an
 * operator's dashboard reads them to tell a leak (a count that only grows)
 * or a starved loop from a busy but healthy hop. Each costs a list of
 * resource names per scrape and a 100 ms timer; nothing on the data path.
 */
import process from "node:process";
import type { Family } from "./metrics.ts";

/** How often the event-loop monitor checks its own lateness. */
const tick = 100;

/**
 * Measures event-loop delay: a repeating timer notes how late each of its
 * ticks fires. Written here because `node:perf_hooks`' `monitorEventLoopDelay`
 * reports only microseconds of delay under Deno whatever the load.
 */
export class EventLoopMonitor {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #max = 0;
  #sum = 0;
  #count = 0;

  /** Starts ticking (again). */
  start(): void {
    this.stop();
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      const late = Math.max(0, now - this.#last - tick);
      this.#last = now;
      this.#max = Math.max(this.#max, late);
      this.#sum += late;
      this.#count++;
    }, tick);
  }

  /** Stops ticking. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Mean and largest delay in ms since the last call, and starts a new interval. */
  take(): { mean: number; max: number } {
    const out = { mean: this.#count ? this.#sum / this.#count : 0, max: this.#max };
    this.#max = this.#sum = this.#count = 0;
    return out;
  }
}

/**
 * The runtime's resource gauges now (the event-loop delay and memory are
 * among the hop's metrics, from {@link EventLoopMonitor} and `Deno.memoryUsage`).
 */
export function runtimeFamilies(): Family[] {
  const byKind = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) byKind.set(r, (byKind.get(r) ?? 0) + 1);
  return [
    {
      name: "hopgate_runtime_timers",
      help: "Active timers (timeouts and intervals) of the process",
      type: "gauge",
      samples: [{ value: byKind.get("Timeout") ?? 0 }],
    },
    {
      name: "hopgate_runtime_resources",
      help: "Active resources of the process (sockets, servers, timers), by kind",
      type: "gauge",
      samples: [...byKind].sort().map(([kind, n]) => ({ labels: { kind }, value: n })),
    },
  ];
}
