/**
 * Which points a hop lets writes through to. The default is nothing: a
 * write must be allowed explicitly by every hop on its way.
 */

/**
 * Compiles `--writable` patterns: `*` matches within one path segment, `**`
 * any number of segments. An empty list allows nothing.
 */
export function writePolicy(patterns: readonly string[]): (id: string) => boolean {
  if (patterns.length === 0) return () => false;
  const res = patterns.map(globToRegExp);
  return (id) => res.some((re) => re.test(id));
}

/** Turns a point-id glob into an anchored regular expression. */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      out += ".*";
      i++;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}
