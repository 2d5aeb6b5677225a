/**
 * Loopback TCP for `hopgate demo` and for the tests and benchmarks under
 * tests/ (through tests/kit/, which re-exports it), so that all of them pick
 * ports and fail links the same way: a free port, and a proxy whose link can
 * fail on demand (the demo's user cuts the plant → DMZ link with it).
 */

/** Ports {@link freePort} gave out in this process, which it does not give again. */
const givenOut = new Set<number>();

/**
 * A TCP port free on 127.0.0.1 right now, for a process about to listen on it
 * (another process may take it meanwhile: use it at once). Never one it gave
 * before in this process: a chain picks its ports before its hops listen, so
 * two picks alike, or the port of an earlier test's hop still stopping, would
 * fail a hop with EADDRINUSE (seen once, in the soak test).
 */
export function freePort(): number {
  // Below Linux's ephemeral range (32768 and up): a port found free there can still be taken by
  // any outgoing connection on the machine before it is listened on; one below it only by
  // another listener. Random, so parallel runs rarely pick the same one.
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (givenOut.has(port)) continue;
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      givenOut.add(port);
      return port;
    } catch { /* taken: try another */ }
  }
  // The range is crowded: the system's choice, which may repeat one it gave before.
  for (let i = 0; i < 1_000; i++) {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = l.addr.port;
    l.close();
    if (!givenOut.has(port)) {
      givenOut.add(port);
      return port;
    }
  }
  throw new Error(
    `no free TCP port on 127.0.0.1 that this process has not used already (${givenOut.size} given out): too many listeners on this machine`,
  );
}

/** How the link behind a {@linkcode LinkProxy} is doing now. */
export type LinkState = "open" | "black-holed" | "cut";

/**
 * Forwards 127.0.0.1:`port` to 127.0.0.1:`target`; can black-hole the link
 * (a path that silently drops packets: nobody learns of it until their own
 * timeout fires) or cut it (a pulled cable seen by both ends).
 */
export class LinkProxy implements AsyncDisposable {
  /** The 127.0.0.1 port to dial instead of the target. */
  readonly port: number;
  #state: LinkState = "open";
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #open: Promise<void> = Promise.resolve();
  #resume: (() => void) | undefined;
  #loop: Promise<void>;

  /** Listens at once on a free port and forwards to 127.0.0.1:`target`. */
  constructor(target: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#loop = this.#accept(target);
  }

  /** How the link is doing now. */
  get state(): LinkState {
    return this.#state;
  }

  /** Stops forwarding in both directions; connections stay open and new ones hang. */
  blackHole(): void {
    this.restore();
    this.#state = "black-holed";
    this.#open = new Promise((r) => this.#resume = r);
  }

  /** Closes every connection and refuses new ones. */
  cut(): void {
    this.restore();
    this.#state = "cut";
    for (const c of this.#conns) closeQuietly(c);
    this.#conns.clear();
  }

  /** Forwards again, including what a black hole held. */
  restore(): void {
    this.#state = "open";
    this.#resume?.();
    this.#resume = undefined;
    this.#open = Promise.resolve();
  }

  /** Closes the listener and every connection. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* closed */ }
    this.cut();
    await this.#loop;
  }

  /** Closes it, as {@linkcode LinkProxy.close} does. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #accept(target: number): Promise<void> {
    try {
      for await (const down of this.#listener) {
        if (this.#state === "cut") {
          closeQuietly(down);
          continue;
        }
        this.#conns.add(down);
        this.#open.then(() => Deno.connect({ hostname: "127.0.0.1", port: target })).then(
          (up) => {
            if (!this.#conns.has(down)) return closeQuietly(up); // cut while connecting
            this.#conns.add(up);
            void this.#pump(down, up);
            void this.#pump(up, down);
          },
          () => this.#drop(down),
        );
      }
    } catch { /* listener closed */ }
  }

  async #pump(from: Deno.Conn, to: Deno.Conn): Promise<void> {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        await this.#open;
        const n = await from.read(buf);
        if (n === null) break;
        await this.#open; // black-holed while reading: hold the chunk
        for (let off = 0; off < n;) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* either side gone */ }
    this.#drop(from);
    this.#drop(to);
  }

  #drop(c: Deno.Conn): void {
    this.#conns.delete(c);
    closeQuietly(c);
  }
}

function closeQuietly(c: Deno.Conn): void {
  try {
    c.close();
  } catch { /* closed */ }
}
