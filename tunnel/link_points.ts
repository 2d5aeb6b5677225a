/**
 * A hop's own link health as points (`<hop>/$links/<peer>/connected`, `since`,
 * `rtt_ms`), so every hop downstream sees which link of the chain is up and
 * how fast, alongside the data it carries.
 */
import { type PointStore, Status } from "../core/mod.ts";

/** The origin of link-health points in a hop's store. */
export const linkPointsOrigin = "links";

/** The ids of one link's health points. */
export interface LinkPointIds {
  /** Whether the link is up (Boolean). */
  connected: string;
  /** When it last went up or down (DateTime). */
  since: string;
  /** Its last heartbeat round trip, in milliseconds. */
  rtt: string;
}

/** The ids of one link's health points. */
export function linkPointIds(hop: string, peer: string): LinkPointIds {
  const base = `${hop}/$links/${peer}`;
  return { connected: `${base}/connected`, since: `${base}/since`, rtt: `${base}/rtt_ms` };
}

/** Publishes one link's health into the store. */
export class LinkPoints {
  #store: PointStore;
  #ids: LinkPointIds;

  constructor(store: PointStore, peer: string) {
    this.#store = store;
    this.#ids = linkPointIds(store.hop, peer);
  }

  /** Records a connection change at `now` (epoch ms). */
  connected(connected: boolean, now: number): void {
    const s = this.#store;
    const base = { status: Status.Good, time: now, hops: [], cause: null };
    s.apply(
      { ...base, id: this.#ids.connected, value: connected, type: "Boolean" },
      linkPointsOrigin,
    );
    s.apply(
      { ...base, id: this.#ids.since, value: new Date(now), type: "DateTime" },
      linkPointsOrigin,
    );
    const rtt = s.get(this.#ids.rtt);
    if (rtt === undefined) {
      s.apply({
        ...base,
        id: this.#ids.rtt,
        value: null,
        type: "Double",
        status: Status.BadWaitingForInitialData,
      }, linkPointsOrigin);
    } else if (!connected && rtt.status === Status.Good) {
      // The last round trip of a link that is down says little about the next one.
      s.apply({
        ...base,
        id: this.#ids.rtt,
        value: rtt.value,
        type: "Double",
        status: Status.UncertainLastUsableValue,
      }, linkPointsOrigin);
    }
  }

  /** Records a heartbeat round trip. */
  rtt(ms: number, now: number): void {
    this.#store.apply({
      id: this.#ids.rtt,
      value: ms,
      type: "Double",
      status: Status.Good,
      time: now,
      hops: [],
      cause: null,
    }, linkPointsOrigin);
  }
}
