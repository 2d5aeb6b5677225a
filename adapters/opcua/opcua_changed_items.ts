/**
 * A subscription of the hop's OPC UA server looks only at the monitored items
 * that have something to send, not at all of them, at each publish.
 *
 * node-opcua's server subscription keeps no list of the items with queued
 * notifications: at every publishing interval, and whenever the publish
 * engine asks whether a subscription has anything to send, it walks every
 * monitored item of the subscription. A client monitoring 50,000 points with
 * a publish every 100 ms makes that half a million items looked at a second,
 * changed or not; with two such clients a CPU profile of the server hop put
 * the walk at 27% of its main thread (`tests/bench/opcua_server_updates.ts
 * --subscribers 2`, docs/benchmarks.md).
 *
 * This module notes, per subscription, each item that queues a notification
 * (node-opcua's `_enqueue_notification`, through which every data change and
 * event goes, and `trigger`, which hands a linked item's queue over), and
 * replaces the subscription's walk (`_harvestMonitoredItems` and the
 * `hasUncollectedMonitoredItemNotifications` getter) with one over the noted
 * items. An item stays noted while it holds notifications it could not hand
 * over (sampling mode), as the walk would find it again. Notifications of
 * different items may come in another order than the walk's (the items'
 * creation order); OPC UA gives no order across items.
 *
 * These are private methods of node-opcua; if an upgrade renames them, the
 * server starts without the change and warns (see the OPC UA server sink), and
 * `opcua_server_test.ts` fails on it.
 */
import { setImmediate } from "node:timers";
import { MonitoredItem, Subscription } from "node-opcua";

/** The private parts of node-opcua's MonitoredItem this module relies on. */
interface ItemInternals {
  monitoredItemId: number;
  $subscription?: object | null;
  hasMonitoredItemNotifications: boolean;
  extractMonitoredItemNotifications(): unknown[];
  _enqueue_notification(notification: unknown): void;
  trigger(): void;
}

/** The private parts of node-opcua's server Subscription this module relies on. */
interface SubscriptionInternals {
  monitoredItems: Map<number, ItemInternals>;
  _hasUncollectedMonitoredItemNotifications: boolean;
  _addNotificationMessage(notification: unknown, monitoredItemId: number): void;
  _harvestMonitoredItems(): void;
}

/** Per subscription, the items that queued a notification since it last looked. */
const noted = new WeakMap<object, Set<ItemInternals>>();

function notedOf(subscription: object): Set<ItemInternals> {
  let set = noted.get(subscription);
  if (!set) noted.set(subscription, set = new Set());
  return set;
}

function note(item: ItemInternals): void {
  const subscription = item.$subscription;
  if (subscription && item.hasMonitoredItemNotifications) notedOf(subscription).add(item);
}

/** What replaces the walk over every item: hands over the noted items' notifications. */
function harvestNoted(this: SubscriptionInternals): void {
  const items = notedOf(this);
  const kept: ItemInternals[] = [];
  for (const item of items) {
    // an item deleted from the subscription was disposed of with its queue
    if (this.monitoredItems.get(item.monitoredItemId) !== item) continue;
    for (const chunk of item.extractMonitoredItemNotifications()) {
      this._addNotificationMessage(chunk, item.monitoredItemId);
    }
    if (item.hasMonitoredItemNotifications) kept.push(item);
  }
  items.clear();
  for (const item of kept) items.add(item);
  this._hasUncollectedMonitoredItemNotifications = false;
}

/** What replaces the getter's walk: whether a noted item holds a notification. */
function hasNotedNotifications(this: SubscriptionInternals): boolean {
  if (this._hasUncollectedMonitoredItemNotifications) return true;
  const items = notedOf(this);
  for (const item of items) {
    if (
      item.hasMonitoredItemNotifications && this.monitoredItems.get(item.monitoredItemId) === item
    ) {
      this._hasUncollectedMonitoredItemNotifications = true;
      return true;
    }
    items.delete(item);
  }
  return false;
}

let installed: boolean | null = null;

/**
 * Wraps node-opcua's MonitoredItem and server Subscription once per process;
 * returns whether it could (false when node-opcua no longer has the methods
 * this relies on, and subscriptions walk every item as node-opcua does).
 */
export function installChangedItemHarvest(): boolean {
  if (installed !== null) return installed;
  const item = MonitoredItem.prototype as unknown as ItemInternals;
  const subscription = Subscription.prototype as unknown as SubscriptionInternals;
  const enqueue = item._enqueue_notification;
  const trigger = item.trigger;
  const getter = Object.getOwnPropertyDescriptor(
    subscription,
    "hasUncollectedMonitoredItemNotifications",
  );
  if (
    typeof enqueue !== "function" || typeof trigger !== "function" ||
    typeof subscription._harvestMonitoredItems !== "function" ||
    typeof subscription._addNotificationMessage !== "function" || !getter?.get ||
    !getter.configurable
  ) {
    installed = false;
    return installed;
  }
  item._enqueue_notification = function (this: ItemInternals, notification: unknown) {
    enqueue.call(this, notification);
    note(this);
  };
  item.trigger = function (this: ItemInternals) {
    trigger.call(this);
    // node-opcua hands the linked item's queue over in a setImmediate; this one runs after it
    setImmediate(() => note(this));
  };
  subscription._harvestMonitoredItems = harvestNoted;
  Object.defineProperty(subscription, "hasUncollectedMonitoredItemNotifications", {
    configurable: true,
    enumerable: getter.enumerable ?? false,
    get: hasNotedNotifications,
  });
  installed = true;
  return installed;
}
