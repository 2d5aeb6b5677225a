/**
 * A hostile but authenticated peer: a real TLS client with a certificate of
 * the chain that says hello and then sends whatever frames a test crafts.
 */
import { join } from "node:path";
import * as tls from "node:tls";
import { FrameReader, FrameType, protocolVersion } from "../../tunnel/frames.ts";
import {
  decodeFrame,
  type Direction,
  type Frame,
  helloFrame,
  simpleFrame,
} from "../../tunnel/control_frames.ts";
import { waitFor } from "./helpers.ts";

/** A hop's certificate files in `<dir>/<hop>/certs`, as PEM text. */
export async function certsOf(dir: string, hop: string) {
  const certs = join(dir, hop, "certs");
  return {
    cert: await Deno.readTextFile(join(certs, `${hop}.crt`)),
    key: await Deno.readTextFile(join(certs, `${hop}.key`)),
    ca: await Deno.readTextFile(join(certs, "ca.crt")),
  };
}

/** One connection of a crafted peer; disposing it closes the socket. */
export class CraftedPeer implements AsyncDisposable {
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  #socket: tls.TLSSocket;
  #reader = new FrameReader(64 << 20);
  #ping: ReturnType<typeof setInterval>;
  #ended = false;

  private constructor(socket: tls.TLSSocket) {
    this.#socket = socket;
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.#ended = true;
        resolve();
      })
    );
    socket.on("error", () => {});
    socket.on("data", (chunk: Uint8Array) => {
      for (const [type, body] of this.#reader.push(chunk)) {
        this.frames.push(decodeFrame(type, body));
      }
    });
    // Heartbeats keep the link alive while the test takes its time.
    this.#ping = setInterval(() => this.send(simpleFrame(FrameType.Ping, Date.now())), 200);
    this.closed.then(() => clearInterval(this.#ping));
  }

  /** Connects to `port` as `hop` (its certificate in `dir`) and says hello to `to`. */
  static async connect(
    dir: string,
    port: number,
    o: { hop: string; to: string; direction: Direction },
  ): Promise<CraftedPeer> {
    const creds = await certsOf(dir, o.hop);
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      ...creds,
      servername: o.to,
      minVersion: "TLSv1.3",
    });
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
    const peer = new CraftedPeer(socket);
    peer.send(
      helloFrame({ version: protocolVersion, hop: o.hop, to: o.to, direction: o.direction }),
    );
    return peer;
  }

  /** Writes raw bytes (frames) to the listener. */
  send(...bytes: Uint8Array[]): void {
    if (this.#ended) return;
    for (const b of bytes) this.#socket.write(b);
  }

  /** The listener's answer to hello, once it arrives (or the Close that refused it). */
  opened(): Promise<Frame> {
    return this.waitFrame((f) => f.type === FrameType.Hello || f.type === FrameType.Close);
  }

  /** Waits for a frame matching `match`. */
  waitFrame(match: (f: Frame) => boolean, ms = 10_000): Promise<Frame> {
    return waitFor("a frame from the listener", () => this.frames.find(match), ms);
  }

  /** Waits until the listener closes the connection and returns the reason it gave. */
  async refusal(ms = 10_000): Promise<string> {
    await waitFor("the listener to close the link", () => this.#ended || undefined, ms);
    const close = this.frames.find((f) => f.type === FrameType.Close);
    return close?.type === FrameType.Close ? close.reason : "(closed without a reason)";
  }

  /** True while the connection is open. */
  get open(): boolean {
    return !this.#ended;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    clearInterval(this.#ping);
    this.#socket.destroy();
    await this.closed;
  }
}
