/**
 * A loopback TCP proxy that can stop forwarding without closing anything, like
 * a network path that silently drops packets: both ends keep their sockets,
 * nothing is read, and neither side learns of it until its own timeout fires.
 */

/** Forwards 127.0.0.1:`port` to 127.0.0.1:`target` until black-holed or closed. */
export class Blackhole implements AsyncDisposable {
  readonly port: number;
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #open: Promise<void> = Promise.resolve();
  #resume: (() => void) | undefined;

  constructor(target: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = this.#listener.addr.port;
    this.#accept(target);
  }

  /** Whether forwarding is stopped. */
  get holed(): boolean {
    return this.#resume !== undefined;
  }

  /** Stops forwarding in both directions; connections stay open and new ones hang. */
  hole(): void {
    if (this.#resume) return;
    this.#open = new Promise((r) => this.#resume = r);
  }

  /** Forwards again, including what was held. */
  restore(): void {
    this.#resume?.();
    this.#resume = undefined;
    this.#open = Promise.resolve();
  }

  /** Closes the listener and every connection. */
  close(): void {
    this.restore();
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) closeQuietly(c);
    this.#conns.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #accept(target: number): Promise<void> {
    try {
      for await (const down of this.#listener) {
        this.#conns.add(down);
        this.#open.then(() => Deno.connect({ hostname: "127.0.0.1", port: target })).then(
          (up) => {
            this.#conns.add(up);
            this.#pump(down, up);
            this.#pump(up, down);
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
