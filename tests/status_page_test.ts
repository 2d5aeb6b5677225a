/**
 * The status page in a real browser (headless Chromium): two hops with a link
 * through a proxy; the page draws the link, shows it down with its cause
 * within a second of a cut and up again after, and loads nothing from
 * outside the hop. `HOPGATE_STATUS_SCREENSHOT=<file.png>` saves the page
 * during the cut (docs/operations.md shows one).
 */
import { ok as assert } from "node:assert";
import type { Page } from "puppeteer-core";
import { chainCerts, LinkProxy, startDmz, startHop, stopAll } from "./kit/hops.ts";
import { freePort, type Proc, tempDir, waitFor } from "./kit/helpers.ts";
import { chromiumPath, headlessBrowser, onlyFrom } from "./kit/browser.ts";

const chromium = chromiumPath();
const fast = ["--heartbeat", "200ms", "--link-timeout", "1s"];
const linkSelector = (state: string) => `#chain g[data-link="dmz~plant1"][data-state="${state}"]`;

/** The text of the element `selector` selects. */
function textOf(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (e) => e.textContent ?? "");
}

/** The label the picture gives the link in `state`, once it is drawn so. */
async function linkDrawn(page: Page, state: string, ms: number): Promise<string> {
  const g = await page.waitForSelector(linkSelector(state), { timeout: ms });
  return await g!.evaluate((e) => e.querySelector("text")?.textContent ?? "");
}

Deno.test({
  name: "the status page draws a cut link as down with its cause within a second, then up again",
  ignore: chromium === null,
  // puppeteer keeps its browser connection's timers and pipes until the browser closes.
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await using dir = await tempDir();
    await chainCerts(dir.path, ["plant1", "dmz"]);
    const port = freePort(), http = freePort();
    const base = `http://127.0.0.1:${http}`;
    await using proxy = new LinkProxy(port);
    let dmz: Proc | null = null, plant: Proc | null = null;
    try {
      dmz = await startDmz(dir.path, port, "plant1:push", [
        "--status-http",
        `127.0.0.1:${http}`,
        ...fast,
      ]);
      plant = await startHop(dir.path, "plant1", [
        "--sim",
        "20",
        "--sim-rate",
        "5",
        "--push",
        `dmz=127.0.0.1:${proxy.port}`,
        ...fast,
      ]);
      await using browser = await headlessBrowser(chromium!);
      const page = await browser.newPage();
      await page.setViewport({ width: 1200, height: 900 });
      const outside = await onlyFrom(page, base);
      const violations: string[] = [];
      page.on("console", (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
      });
      await page.goto(`${base}/`, { waitUntil: "domcontentloaded" });

      const upLabel = await linkDrawn(page, "up", 15_000);
      assert(/^up/.test(upLabel), upLabel);
      await waitFor(
        "the origins table to list plant1",
        async () => (await textOf(page, "#origins tbody")).includes("plant1"),
      );
      await waitFor(
        "the page to name its hop and show its certificates",
        async () =>
          (await textOf(page, "#hop")) === "dmz" &&
          (await textOf(page, "#certs")).includes("CN=dmz"),
      );

      const cutAt = Date.now();
      proxy.cut();
      const downLabel = await linkDrawn(page, "down", 10_000);
      const ms = Date.now() - cutAt;
      console.log(`link drawn down ${ms} ms after the cut: "${downLabel}"`);
      assert(/^down: \S/.test(downLabel), `no cause drawn: "${downLabel}"`);
      assert(ms < 1000, `the page showed the cut after ${ms} ms`);
      // The points the link brought are listed as not Good, with the hop and link that lost them.
      await waitFor(
        "the not-Good points to name the lost link",
        async () => (await textOf(page, "#problems")).includes("dmz lost link:plant1"),
        5_000,
      );
      const shot = Deno.env.get("HOPGATE_STATUS_SCREENSHOT");
      if (shot) await page.screenshot({ path: shot as `${string}.png` });

      proxy.restore();
      await linkDrawn(page, "up", 15_000);
      assert(outside.length === 0, `requests outside the hop: ${outside.join(", ")}`);
      assert(violations.length === 0, violations.join("\n"));
    } finally {
      await stopAll(plant, dmz);
    }
  },
});

if (chromium === null) {
  console.warn(
    "status page browser test skipped: no Chromium found (apt-get install chromium, or set HOPGATE_CHROMIUM)",
  );
}
