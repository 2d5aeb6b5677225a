/**
 * The OPC UA source at scale: address spaces beyond the sizes that used to
 * break it (a stack overflow above ~125,000 variables, a subscribe timeout
 * for the whole set, publishing intervals above 6 s), the variable limit's
 * warning, and queue overflows made visible. The PLC is the test simulator
 * (a node-opcua server in its own process); the hop runs under its derived
 * permissions.
 */
import { ok as assert } from "node:assert";
import { join } from "node:path";
import { tempDir, waitFor } from "./kit/helpers.ts";
import { expectLine, startHop, startPlc, stopHop } from "./kit/opcua.ts";

/** Flags of hop plant1 reading `url`, with its data in `<dir>/plant1` and status lines every `status`. */
function plantFlags(url: string, dir: string, status: string, extra: string[]): string[] {
  return [
    "--name",
    "plant1",
    "--opcua",
    `plc=${url}`,
    "--opcua-trust-unknown",
    "--data-dir",
    join(dir, "plant1"),
    "--status-interval",
    status,
    ...extra,
  ];
}

Deno.test("a hop browses, reads and monitors 200,000 variables (beyond the old stack-overflow cliff at ~125,000), with a 10 s publishing interval", async () => {
  await using dir = await tempDir();
  const count = 200_000;
  // 50,000 items per subscription: the set needs several subscriptions and 200 batches.
  const plc = await startPlc({ count, maxItems: 50_000, pki: join(dir.path, "plc") });
  // Sampling and publishing every 10 s keep the simulator's sampling load low; a publishing
  // interval above 6 s used to fail every subscription (keep-alives beyond the session timeout).
  const hop = startHop(
    plantFlags(plc.url, dir.path, "2s", [
      "--opcua-security",
      "None",
      "--opcua-sampling",
      "10s",
      "--opcua-publishing",
      "10s",
    ]),
    dir.path,
  );
  try {
    const line = await expectLine(
      hop,
      new RegExp(
        `Connected to opcua:plc .* ${count + 2} variables, ${
          count + 2
        } monitored in 5 subscriptions`,
      ),
      240_000,
    );
    console.log(line.replace(/^.*?: Connected/, "Connected"));
    // Every variable, the counter, the setpoint and the overflow counter are points.
    await expectLine(hop, new RegExp(`Status: ${count + 3} points`), 30_000);
    assert(
      !hop.lines.some((l) => /lost or unreachable|stack size/.test(l)),
      hop.output().slice(-3000),
    );
  } finally {
    await stopHop(hop, 30_000);
    await plc.proc.stop();
  }
});

Deno.test("a PLC with more variables than --opcua-max-variables is read up to the limit, with a warning naming it", async () => {
  await using dir = await tempDir();
  const plc = await startPlc({ count: 300, pki: join(dir.path, "plc") });
  const hop = startHop(
    plantFlags(plc.url, dir.path, "0", [
      "--opcua-security",
      "None",
      "--opcua-max-variables",
      "250",
    ]),
    dir.path,
  );
  try {
    const warning = await expectLine(hop, /more than 250 variables/, 60_000);
    assert(/--opcua-max-variables/.test(warning), warning);
    await expectLine(hop, /Connected to opcua:plc .* 250 variables, 250 monitored/, 30_000);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("changes a full monitored-item queue drops are counted, logged once per interval and shown on the status line", async () => {
  await using dir = await tempDir();
  // 20 variables changing every 50 ms, sampled every 50 ms, published every second into
  // queues of 2: about 18 of every 20 samples overflow.
  const plc = await startPlc({ count: 20, pki: join(dir.path, "plc"), extra: ["--churn", "50"] });
  const hop = startHop(
    plantFlags(plc.url, dir.path, "1s", [
      "--opcua-security",
      "None",
      "--opcua-sampling",
      "50ms",
      "--opcua-publishing",
      "1s",
      "--opcua-queue",
      "2",
    ]),
    dir.path,
  );
  try {
    await expectLine(
      hop,
      /Connected to opcua:plc .* 22 variables, 22 monitored .* queue 2/,
      60_000,
    );
    const warning = await expectLine(hop, /values arrived with the Overflow bit/, 30_000);
    assert(/--opcua-queue/.test(warning), warning);
    await expectLine(
      hop,
      /Status: 23 points, .*opcua:plc running\/connected \[\d+ queue overflows\]/,
    );
    // One warning per interval at most, however many values overflow.
    await waitFor(
      "three status intervals",
      () => hop.lines.filter((l) => /Status:/.test(l)).length >= 4,
      20_000,
    );
    const warnings = hop.lines.filter((l) => /Overflow bit/.test(l)).length;
    const statuses = hop.lines.filter((l) => /Status:/.test(l)).length;
    assert(warnings <= statuses + 1, `${warnings} warnings in ${statuses} status intervals`);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});

Deno.test("a batch of monitored items the PLC fails is tried again after the others, and the working ones stay monitored", async () => {
  await using dir = await tempDir();
  // 5,002 items in batches of 1,000: the 2nd and 4th CreateMonitoredItems calls fail.
  const plc = await startPlc({
    count: 5_000,
    pki: join(dir.path, "plc"),
    extra: ["--fail-calls", "2,4"],
  });
  const hop = startHop(plantFlags(plc.url, dir.path, "0", ["--opcua-security", "None"]), dir.path);
  try {
    const retry = await expectLine(
      hop,
      /2000 variables of opcua:plc are not monitored yet/,
      60_000,
    );
    assert(/fails on purpose|BadInternalError/.test(retry), retry);
    await expectLine(
      hop,
      /Connected to opcua:plc .* 5002 variables, 5002 monitored in 1 subscriptions/,
    );
    assert(
      !hop.lines.some((l) => /lost or unreachable|cannot be monitored/.test(l)),
      hop.output().slice(-3000),
    );
    assert(plc.proc.lines.filter((l) => /PLC fails CreateMonitoredItems/.test(l)).length === 2);
  } finally {
    await stopHop(hop);
    await plc.proc.stop();
  }
});
