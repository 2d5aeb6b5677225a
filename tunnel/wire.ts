/**
 * The byte stream under a link. A link never touches a socket: the adapter
 * hands it one through this interface, and tests hand it in-memory pipes
 * driven by a manual clock.
 */

/** The byte stream under a link. */
export interface Wire {
  /** Queues bytes; returns false when the stream's buffer is full and a drain will follow. */
  write(bytes: Uint8Array): boolean;
  /** Bytes queued and not yet taken by the kernel. */
  buffered(): number;
  /** Ends the stream (idempotent). */
  close(): void;
}
