/**
 * A headless Chromium for tests of the status page, driven by puppeteer-core
 * (which runs under Deno as it is: it speaks the DevTools protocol over a
 * pipe or WebSocket to a browser we name, and downloads nothing). The
 * browser is Debian's `chromium` package, which .ci/run installs; tests skip
 * with a message only where no binary is found.
 */
import puppeteer, { type Browser, type Page } from "puppeteer-core";

/** Where Chromium is looked for: `HOPGATE_CHROMIUM`, then the usual Debian and Chrome paths. */
const candidates = [
  Deno.env.get("HOPGATE_CHROMIUM"),
  "/usr/bin/chromium",
  "/usr/bin/chromium-browser",
  "/usr/bin/google-chrome",
];

/** The Chromium binary to use, or `null` when none is installed. */
export function chromiumPath(): string | null {
  for (const c of candidates) {
    if (!c) continue;
    try {
      if (Deno.statSync(c).isFile) return c;
    } catch { /* not here */ }
  }
  return null;
}

/** A headless browser, closed when the `await using` binding goes out of scope. */
export async function headlessBrowser(path: string): Promise<Browser & AsyncDisposable> {
  const browser = await puppeteer.launch({
    executablePath: path,
    headless: true,
    // Tests run as root in containers, where Chromium's own sandbox cannot start.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
  });
  return Object.assign(browser, {
    [Symbol.asyncDispose]: () => browser.close().catch(() => {}),
  });
}

/**
 * Lets the page load only from `origin`: every other request is refused and
 * recorded in the returned list (which a test expects to stay empty).
 */
export async function onlyFrom(page: Page, origin: string): Promise<string[]> {
  const outside: string[] = [];
  await page.setRequestInterception(true);
  page.on("request", (r) => {
    const url = r.url();
    if (url.startsWith(`${origin}/`) || url === origin) {
      void r.continue();
    } else {
      outside.push(url);
      void r.abort();
    }
  });
  return outside;
}
