import { deepStrictEqual as assertEquals } from "node:assert";
import { EventEmitter } from "node:events";
import { BinaryStream } from "node-opcua-binary-stream";
import {
  type ClientSubscription,
  DataChangeNotification,
  DataType as UaType,
  DataValue,
  MonitoredItemNotification,
  StatusChangeNotification,
  StatusCodes,
  Variant,
} from "node-opcua-client";
import { decodeDataChangesCompactly } from "./opcua_data_changes.ts";
import { deliverTo, type Delivery } from "./opcua_client.ts";

/** The parts of node-opcua's ClientSubscription that deliverTo replaces or calls. */
class FakeSubscription extends EventEmitter {
  lastSequenceNumber = -1;
  statusChanges: unknown[] = [];
  onNotificationMessage(_message: unknown): void {
    throw new Error("node-opcua's own dispatch must not run");
  }
  __on_publish_response_StatusChangeNotification(n: unknown): void {
    this.statusChanges.push(n);
  }
  __on_publish_response_EventNotificationList(_n: unknown): void {}
}

/** A DataChangeNotification as the source receives it: encoded by a PLC, decoded here. */
function received(values: number[]): DataChangeNotification {
  const sent = new DataChangeNotification({
    monitoredItems: values.map((value, i) =>
      new MonitoredItemNotification({
        clientHandle: i + 1,
        value: new DataValue({ value: new Variant({ dataType: UaType.Double, value }) }),
      })
    ),
  });
  const stream = new BinaryStream(sent.binaryStoreSize());
  sent.encode(stream);
  const got = new DataChangeNotification(null);
  got.decode(new BinaryStream(stream.buffer));
  return got;
}

Deno.test("a subscription's notifications go to the source as they arrive: data changes, keep-alives, status changes, and errors said, not swallowed", () => {
  decodeDataChangesCompactly();
  const sub = new FakeSubscription();
  const seen: number[][] = [];
  const failures: string[] = [];
  const events: string[] = [];
  for (const e of ["keepalive", "received_notifications"]) sub.on(e, () => events.push(e));
  const to: Delivery = {
    changes: (c) => {
      if (c.numbers.includes(13)) throw new Error("unlucky");
      seen.push([...c.numbers]);
    },
    objects: () => failures.push("decoded into objects"),
    failed: (e) => failures.push(e.message),
  };
  deliverTo(sub as unknown as ClientSubscription, to);
  const status = new StatusChangeNotification({ status: StatusCodes.BadTimeout });
  sub.onNotificationMessage({
    sequenceNumber: 7,
    notificationData: [received([1.5, 2.5]), received([13]), status, received([3])],
  });
  assertEquals(seen, [[1.5, 2.5], [3]], "every data change applied, in order, past a failing one");
  assertEquals(failures, ["unlucky"]);
  assertEquals(sub.statusChanges, [status]);
  assertEquals(sub.lastSequenceNumber, 7);
  sub.onNotificationMessage({ sequenceNumber: 8, notificationData: [] });
  assertEquals(events, ["received_notifications", "keepalive"]);
});

Deno.test("a node-opcua without the methods the source replaces is refused at once", () => {
  const bare = new EventEmitter() as unknown as ClientSubscription;
  let message = "";
  try {
    deliverTo(bare, { changes: () => {}, objects: () => {}, failed: () => {} });
  } catch (e) {
    message = (e as Error).message;
  }
  assertEquals(
    message,
    "node-opcua's ClientSubscription has no onNotificationMessage; the source needs updating",
  );
});
