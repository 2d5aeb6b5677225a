import {
  deepStrictEqual as assertDeepEquals,
  ok as assert,
  strictEqual as assertEquals,
} from "node:assert";
import {
  busiestKernelThreads,
  dataAccessMonitors,
  sampleKernelThreads,
  sampleMainThread,
} from "./kit/machine.ts";

Deno.test("the benchmarks' scheduler counts follow a process's main thread on a CPU", async () => {
  if (sampleMainThread(Deno.pid) === null) return; // no scheduler statistics: the benchmarks say nothing
  // A child on a CPU for 300 ms, then asleep (the kernel brings a thread's counts up to date
  // when it leaves the CPU, so a thread is not sampled while it is running).
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const u = performance.now() + 300; while (performance.now() < u) {} console.log('done'); setTimeout(() => {}, 20000);",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // A deadline: a child that never says done is stopped, and its output ends.
  const deadline = setTimeout(() => child.kill(), 30_000);
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let out = "";
    while (!out.includes("done")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the child ended, or was stopped after 30 s, before its 300 ms");
      out += value;
    }
    const s = sampleMainThread(child.pid)!;
    // Loose: starting the runtime adds its own time, and the machine may take the CPU away
    // meanwhile, which shows as waiting.
    assert(s.runMs >= 250 && s.runMs < 10_000, `ran ${s.runMs} ms`);
    assert(s.waitMs >= 0 && s.waitMs < 10_000, `waited ${s.waitMs} ms`);
    reader.releaseLock();
  } finally {
    clearTimeout(deadline);
    try {
      child.kill();
    } catch { /* already ended */ }
    await child.status;
  }
  assertEquals(sampleMainThread(2 ** 22 + 1), null); // above any Linux pid
});

Deno.test("the benchmarks rank kernel threads by the CPU they took, matched by pid", () => {
  // Per second between the two samples, by pid (a kernel worker's name changes with its work
  // queue, so a match by name would count a renamed worker's whole life), with the ms of each
  // run; a thread not seen before counts from zero, one that did not run has runs of 0 ms.
  const earlier = new Map([[10, { name: "a", ms: 40, runs: 7 }], [11, {
    name: "b",
    ms: 10,
    runs: 100,
  }], [13, { name: "d", ms: 1, runs: 1 }]]);
  const after = new Map([
    [10, { name: "a", ms: 50, runs: 9 }],
    [11, { name: "b-renamed", ms: 30, runs: 140 }],
    [12, { name: "c", ms: 9, runs: 3 }],
    [13, { name: "d", ms: 1, runs: 1 }],
  ]);
  assertDeepEquals(busiestKernelThreads(earlier, after, 2, 2), [["b-renamed[11]", 10, 0.5], [
    "a[10]",
    5,
    5,
  ]]);
  assertDeepEquals(busiestKernelThreads(earlier, after, 2, 3).at(-1), ["c[12]", 4.5, 3]);
  assertDeepEquals(busiestKernelThreads(earlier, after, 2, 4).at(-1), ["d[13]", 0, 0]);
});

Deno.test("the benchmarks find the kernel's threads in /proc", () => {
  if (sampleMainThread(Deno.pid) === null) return; // no scheduler statistics: the benchmarks say nothing
  const threads = sampleKernelThreads();
  // Linux always runs some (kthreadd's children: per-CPU workers, softirq threads, …).
  assert(threads.size > 0, "no kernel thread found");
  for (const [pid, t] of threads) {
    assert(pid > 2 && t.name.length > 0, `${pid}: ${t.name}`);
    assert(Number.isFinite(t.ms) && t.ms >= 0, `${t.name}: ${t.ms}`);
    assert(Number.isInteger(t.runs) && t.runs >= 0, `${t.name}: ${t.runs} runs`);
  }
  // This process is not one of them.
  assert(!threads.has(Deno.pid));
});

Deno.test("the benchmarks name the kernel's data access monitors that run", () => {
  const monitors = dataAccessMonitors();
  for (const m of monitors) {
    assert(/^kdamond\.\d+: \w+, up to [\d,]+ regions sampled every [\d.]+ ms$/.test(m), m);
  }
  // As many as /sys says are on with a context (none where the kernel has no DAMON).
  const root = "/sys/kernel/mm/damon/admin/kdamonds";
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(root)].filter((k) => /^\d+$/.test(k.name));
  } catch {
    // No DAMON here.
  }
  // One with no monitoring context has nothing to describe, and is not listed.
  const on = entries.filter((k) => {
    try {
      return Deno.readTextFileSync(`${root}/${k.name}/state`).trim() === "on" &&
        Deno.statSync(`${root}/${k.name}/contexts/0/operations`).isFile;
    } catch {
      return false;
    }
  }).length;
  assertEquals(monitors.length, on);
});
