/**
 * A link's traffic since its adapter started, across reconnects: plain number
 * fields that the wire, the sender and the receiver increment where the work
 * is done (no map lookup per update), read by the status endpoint.
 */
export class LinkCounters {
  /** Bytes written to the socket. */
  bytesSent = 0;
  /** Bytes read from the socket. */
  bytesReceived = 0;
  /** Frames written. */
  framesSent = 0;
  /** Whole frames read. */
  framesReceived = 0;
  /** Point states sent to the peer. */
  pointsSent = 0;
  /** Point states received from the peer and applied. */
  pointsReceived = 0;

  /** The counters with their metric names, in base units. */
  snapshot(): Record<string, number> {
    return {
      bytes_sent: this.bytesSent,
      bytes_received: this.bytesReceived,
      frames_sent: this.framesSent,
      frames_received: this.framesReceived,
      points_sent: this.pointsSent,
      points_received: this.pointsReceived,
    };
  }
}
