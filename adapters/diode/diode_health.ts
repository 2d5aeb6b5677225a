/**
 * A diode's health as points of the receiving hop
 * (`<hop>/$diode/<peer>/receiving`, `packets`, `repaired`, `lost`, `gaps`,
 * and `sender_points`, the points the sender said it holds, to compare),
 * so every hop downstream, and the MQTT and OPC UA clients there, see how
 * well the diode carries, beside the data it carries.
 */
import { type PointStore, Status } from "../../core/mod.ts";

/** The origin of diode health points in a hop's store. */
export const diodeHealthOrigin = "diode-health";

/** What the health points show. */
export interface DiodeHealthCounts {
  packets: number;
  repaired: number;
  lostChanges: number;
  gaps: number;
}

/** Publishes one diode's health into the store, when it changes. */
export class DiodeHealth {
  #store: PointStore;
  #base: string;
  #last = new Map<string, number | boolean>();

  constructor(store: PointStore, peer: string) {
    this.#store = store;
    this.#base = `${store.hop}/$diode/${peer}`;
  }

  /**
   * Records the counters, whether packets arrive, and the points the sender
   * holds (-1: not told yet), at `now` (epoch ms).
   */
  update(c: DiodeHealthCounts, receiving: boolean, senderPoints: number, now: number): void {
    this.#set("receiving", receiving, now);
    this.#set("packets", c.packets, now);
    this.#set("repaired", c.repaired, now);
    this.#set("lost", c.lostChanges, now);
    this.#set("gaps", c.gaps, now);
    if (senderPoints >= 0) this.#set("sender_points", senderPoints, now);
  }

  #set(name: string, value: number | boolean, now: number): void {
    if (this.#last.get(name) === value) return;
    this.#last.set(name, value);
    this.#store.apply({
      id: `${this.#base}/${name}`,
      value,
      type: typeof value === "boolean" ? "Boolean" : "Double",
      status: Status.Good,
      time: now,
      hops: [],
      cause: null,
    }, diodeHealthOrigin);
  }
}
