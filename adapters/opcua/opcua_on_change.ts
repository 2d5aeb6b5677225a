/**
 * Monitored items of the hop's points are served on change, whatever
 * sampling interval the client asks for.
 *
 * node-opcua serves a monitored item on change ("exception-based") only when
 * the client asks for a sampling interval of 0. For any other interval it
 * reads the variable on a timer, every item at every tick, through its full
 * read path (permission and role checks, a DataValue per read), whether the
 * value changed or not. A client subscribing to 10,000 points with a 100 ms
 * sampling interval (what SCADA clients commonly ask) kept a hop's main
 * thread busy reading unchanged values: 133% of a core with nothing
 * changing (`tests/bench/opcua_server_updates.ts`).
 *
 * A point's variable changes only when the hop's store applies a change
 * (`setValueFromSource`, which tells node-opcua's monitored items at once), so
 * sampling it finds nothing a change did not already announce. Served on
 * change, an item keeps the sampling interval it was given as node-opcua's
 * coalescing window: the first change goes out at once, further changes within
 * the interval are folded into the latest, so a client still gets at most one
 * value per item per interval, as it asked.
 *
 * node-opcua decides this in a private method (`_set_parameters`, when an item
 * is created or modified) before the item knows its node, and offers no option
 * for it. This module wraps that method and `setNode` so that, for a Value
 * item on a variable of a namespace registered with {@link serveOnChange},
 * the item is exception-based. If a node-opcua upgrade renames them, the
 * server starts without the change and warns (see the OPC UA server sink);
 * `opcua_server_test.ts` fails on it.
 */
import { AttributeIds, MonitoredItem, type Namespace, NodeClass } from "node-opcua";

/** The private parts of node-opcua's MonitoredItem this module relies on. */
interface ItemInternals {
  _exceptionBased: boolean;
  itemToMonitor: { attributeId: number };
  node: { nodeClass: NodeClass; namespace: unknown } | null | undefined;
  _set_parameters(parameters: unknown): void;
  setNode(node: unknown): void;
}

/** Namespaces whose variables are set only from their source: the hop's points. */
const onChangeNamespaces = new WeakSet<object>();

/** Makes the item exception-based when it monitors the Value of a variable of a registered namespace. */
function serveItemOnChange(item: ItemInternals): void {
  const node = item.node; // undefined while node-opcua's constructor runs
  if (
    node && node.nodeClass === NodeClass.Variable &&
    item.itemToMonitor.attributeId === AttributeIds.Value &&
    onChangeNamespaces.has(node.namespace as object)
  ) {
    item._exceptionBased = true;
  }
}

let installed: boolean | null = null;

/**
 * Wraps node-opcua's MonitoredItem once per process; returns whether it could
 * (false when node-opcua no longer has the methods this relies on).
 */
export function installOnChangeServing(): boolean {
  if (installed !== null) return installed;
  const proto = MonitoredItem.prototype as unknown as ItemInternals;
  const setParameters = proto._set_parameters;
  const setNode = proto.setNode;
  if (typeof setParameters !== "function" || typeof setNode !== "function") {
    installed = false;
    return installed;
  }
  proto._set_parameters = function (this: ItemInternals, parameters: unknown) {
    setParameters.call(this, parameters);
    serveItemOnChange(this);
  };
  proto.setNode = function (this: ItemInternals, node: unknown) {
    setNode.call(this, node);
    serveItemOnChange(this);
  };
  installed = true;
  return installed;
}

/**
 * Serves the monitored items of `namespace`'s variables on change (see the
 * module's comment); false when node-opcua could not be wrapped, and they
 * are sampled as node-opcua does.
 */
export function serveOnChange(namespace: Namespace): boolean {
  if (!installOnChangeServing()) return false;
  onChangeNamespaces.add(namespace);
  return true;
}
