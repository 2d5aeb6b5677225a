/**
 * Reads a Prometheus text exposition with an independent parser from npm
 * (parse-prometheus-text-format), so tests of /metrics do not check the
 * hop's own writer with its own idea of the format.
 */
import parsePrometheusText from "parse-prometheus-text-format";

/** One metric family as the parser gives it (the package ships no types). */
interface ParsedFamily {
  name: string;
  help: string;
  type: string;
  metrics: { value?: string; labels?: Record<string, string> }[];
}

/** The samples of an exposition keyed `name{label="value",…}` (labels in their order), and each family's type. */
export function parseExposition(
  text: string,
): { samples: Map<string, number>; types: Map<string, string> } {
  const families = (parsePrometheusText as (t: string) => ParsedFamily[])(text);
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const f of families) {
    types.set(f.name, f.type);
    for (const m of f.metrics) {
      const labels = Object.entries(m.labels ?? {});
      const key = labels.length === 0
        ? f.name
        : `${f.name}{${labels.map(([k, v]) => `${k}="${v}"`).join(",")}}`;
      samples.set(key, Number(m.value));
    }
  }
  return { samples, types };
}

/** The sum of every sample of family `name` whose labels include all of `match`. */
export function sumOf(
  samples: Map<string, number>,
  name: string,
  match: Record<string, string> = {},
): number {
  let total = 0;
  for (const [key, v] of samples) {
    if (key !== name && !key.startsWith(`${name}{`)) continue;
    if (Object.entries(match).every(([k, x]) => key.includes(`${k}="${x}"`))) total += v;
  }
  return total;
}
