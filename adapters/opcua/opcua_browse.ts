/**
 * Finding the variables to read: a breadth-first browse below a node (the
 * Objects folder by default), giving each variable its browse path so point
 * ids stay the same across restarts, plus explicitly named node ids whose
 * path is found by walking up to the Objects folder.
 */
import {
  type BrowseDescriptionLike,
  BrowseDirection,
  type BrowseResult,
  type ClientSession,
  NodeClass,
  type NodeId,
  type ReferenceDescription,
  resolveNodeId,
} from "node-opcua-client";
import { globToRegExp } from "../../core/mod.ts";

/** One variable to read: its node id and its browse path below the browse root. */
export interface FoundVariable {
  nodeId: string;
  path: string;
}

/** Bounds, so a huge or cyclic address space cannot run the browse away. */
export interface BrowseOptions {
  /** Nodes per Browse call (the server's MaxNodesPerBrowse). */
  perCall: number;
  /** Deepest folder level followed (default 32). */
  maxDepth?: number;
  /** Most variables collected (default 1,000,000); the browse stops at the next one. */
  maxVariables?: number;
  /**
   * Wraps every request to the server (a timeout per request, the loss of
   * the connection), so a large address space is bounded per call, not as a whole.
   */
  guard?: <T>(what: string, request: Promise<T>) => Promise<T>;
}

/** What a browse found, and whether it stopped at `maxVariables`. */
export interface BrowseResultSet {
  variables: FoundVariable[];
  /** True when more variables were there than `maxVariables`. */
  truncated: boolean;
}

const objectsFolder = "i=85";
const hasProperty = "i=46";

/** A browse name as one path segment: `/` would split it, so it is replaced. */
function segment(name: string | null | undefined): string {
  return (name ?? "").replaceAll("/", "_") || "_";
}

type Guard = NonNullable<BrowseOptions["guard"]>;
const unguarded: Guard = (_what, request) => request;

/**
 * Browses several nodes in chunks of `perCall`, following continuation
 * points. References are appended one by one: spreading an array into
 * `push(...)` puts every element on the stack and overflows it beyond
 * about 125,000 elements.
 */
async function browseMany(
  session: ClientSession,
  nodes: BrowseDescriptionLike[],
  perCall: number,
  guard: Guard = unguarded,
): Promise<ReferenceDescription[][]> {
  const out: ReferenceDescription[][] = [];
  for (let i = 0; i < nodes.length; i += perCall) {
    const results: BrowseResult[] = await guard(
      "browse",
      session.browse(nodes.slice(i, i + perCall)),
    );
    for (const r of results) {
      const refs = [...(r.references ?? [])];
      let cp = r.continuationPoint;
      for (let round = 0; cp && cp.length > 0 && round < 10_000; round++) {
        const next = await guard("browse next", session.browseNext(cp, false));
        for (const ref of next.references ?? []) refs.push(ref);
        cp = next.continuationPoint;
      }
      out.push(refs);
    }
  }
  return out;
}

/** Forward hierarchical references of objects and variables, without properties. */
function childrenOf(nodeId: NodeId | string): BrowseDescriptionLike {
  return {
    nodeId,
    browseDirection: BrowseDirection.Forward,
    referenceTypeId: "HierarchicalReferences",
    includeSubtypes: true,
    nodeClassMask: NodeClass.Object | NodeClass.Variable,
    resultMask: 0x3f,
  };
}

/**
 * Every variable below `root`, with paths relative to it. Nodes of
 * namespace 0 (the Server object and its diagnostics) are skipped;
 * properties (engineering units, ranges) are metadata, not points.
 */
export async function browseVariables(
  session: ClientSession,
  root: string,
  options: BrowseOptions,
): Promise<BrowseResultSet> {
  const maxDepth = options.maxDepth ?? 32;
  const maxVariables = options.maxVariables ?? 1_000_000;
  const found: FoundVariable[] = [];
  let truncated = false;
  const seen = new Set<string>([resolveNodeId(root).toString()]);
  let level: { nodeId: NodeId | string; path: string }[] = [{ nodeId: root, path: "" }];
  for (let depth = 0; depth < maxDepth && level.length > 0 && !truncated; depth++) {
    const refs = await browseMany(
      session,
      level.map((n) => childrenOf(n.nodeId)),
      options.perCall,
      options.guard,
    );
    const next: typeof level = [];
    level.forEach((parent, i) => {
      for (const ref of refs[i] ?? []) {
        const id = ref.nodeId.toString();
        // Namespace 0 holds the standard's own objects (Server, diagnostics), never plant data.
        if (seen.has(id) || ref.nodeId.namespace === 0) continue;
        if (ref.referenceTypeId.toString() === hasProperty) continue;
        seen.add(id);
        const path = parent.path ? `${parent.path}/${segment(ref.browseName.name)}` : segment(
          ref.browseName.name,
        );
        if (ref.nodeClass === NodeClass.Variable) {
          if (found.length < maxVariables) found.push({ nodeId: id, path });
          else truncated = true;
        } else next.push({ nodeId: ref.nodeId, path });
      }
    });
    level = next;
  }
  return { variables: found, truncated };
}

/**
 * The browse path of a node below the Objects folder, found by following
 * inverse hierarchical references; the node id itself when there is none.
 */
export async function pathOf(
  session: ClientSession,
  nodeId: string,
  guard: Guard = unguarded,
): Promise<string> {
  const segments: string[] = [];
  let current = resolveNodeId(nodeId);
  const [name] = await guard(
    "read browse name",
    session.read([{ nodeId: current, attributeId: 3 }]),
  );
  const browseName = name?.value.value as { name?: string } | null | undefined;
  segments.unshift(segment(browseName?.name ?? nodeId));
  for (let depth = 0; depth < 32; depth++) {
    const [up] = await browseMany(
      session,
      [{
        nodeId: current,
        browseDirection: BrowseDirection.Inverse,
        referenceTypeId: "HierarchicalReferences",
        includeSubtypes: true,
        resultMask: 0x3f,
      }],
      1,
      guard,
    );
    const parent = up?.[0];
    if (!parent) break;
    if (parent.nodeId.toString() === resolveNodeId(objectsFolder).toString()) {
      return segments.join("/");
    }
    segments.unshift(segment(parent.browseName.name));
    current = parent.nodeId;
  }
  return segment(nodeId);
}

/** Applies --opcua-include and --opcua-exclude to browse paths. */
export function pathFilter(
  include: readonly string[],
  exclude: readonly string[],
): (path: string) => boolean {
  const inc = include.map(globToRegExp);
  const exc = exclude.map(globToRegExp);
  return (path) =>
    (inc.length === 0 || inc.some((re) => re.test(path))) && !exc.some((re) => re.test(path));
}
