/**
 * The TLS library's one-time start-up, begun off the main thread. A new
 * process's first TLS connection took 40–55 ms longer than its second (a
 * `node:tls` client against a local server; `strace`: native code computing
 * on the main thread, no system call, right after a look at `/dev/sysgenid`):
 * the runtime initialises its native crypto library on first use, and a hop
 * dialing its peer paid it before its ClientHello left. An ECDSA key generated
 * through WebCrypto, which Deno runs on a worker thread, initialises the same
 * library: started as the hop starts, it runs while the hop reads its
 * configuration and certificates and runs its start-up collection, and the
 * first handshake then took 12–15 ms instead of 51–66 ms.
 */

/** Makes the throw-away key; WebCrypto's ECDSA P-256 unless a test gives another. */
export type KeyMaker = () => Promise<unknown>;

const ecdsaKey: KeyMaker = () =>
  crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);

/**
 * Starts the crypto library's initialisation on a worker thread; settles
 * (never rejects, as the hop does not await it) once done. The key it makes
 * is thrown away.
 */
export function warmUpTls(makeKey: KeyMaker = ecdsaKey): Promise<void> {
  try {
    return makeKey().then(() => {}, () => {});
  } catch {
    // A runtime without WebCrypto's ECDSA: nothing to warm, the first handshake pays as before.
    return Promise.resolve();
  }
}
