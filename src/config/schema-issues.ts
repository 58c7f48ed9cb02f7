import { z } from 'zod';
import type { ConfigPath } from './interpolate.js';

/** A schema violation reduced to what a user needs: where, what, and (for typos) a suggestion. */
export interface SchemaIssue {
  path: ConfigPath;
  message: string;
  /** For a missing value: the key is absent, so it is reported at its parent. */
  missing?: boolean;
  /** Report at the key itself rather than at its value (unknown keys). */
  atKey?: boolean;
  /** zod's expected type for `invalid_type` issues (used to coerce interpolated scalars). */
  expected?: string;
}

type ZodIssue = z.core.$ZodIssue;

/**
 * Turns zod issues into one line each. Unknown keys become one issue per key, located at the
 * key, with a "did you mean" when a known key is one or two edits away; a union (dimension
 * name or `{name, value}`) reports the branch the input was clearly meant for.
 */
export function describeSchemaIssues(
  issues: readonly ZodIssue[],
  schema: z.ZodType,
  prefix: ConfigPath = [],
): SchemaIssue[] {
  const out: SchemaIssue[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path.map((p) => (typeof p === 'number' ? p : String(p)))];
    switch (issue.code) {
      case 'unrecognized_keys':
        for (const key of issue.keys) {
          const suggestion = closest(key, knownKeys(schema, path));
          out.push({
            path: [...path, key],
            atKey: true,
            message: `unknown key${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}`,
          });
        }
        break;
      case 'invalid_union': {
        const meant = issue.errors.filter(
          (branch) => !branch.every((i) => i.code === 'invalid_type' && i.path.length === 0),
        );
        const [only] = meant;
        if (meant.length === 1 && only !== undefined) out.push(...describeSchemaIssues(only, schema, path));
        else out.push({ path, message: issue.message === 'Invalid input' ? 'invalid value' : issue.message });
        break;
      }
      case 'invalid_type':
        if (/received undefined$/.test(issue.message))
          out.push({
            path,
            message: `is required (${issue.expected})`,
            missing: true,
            expected: issue.expected,
          });
        else out.push({ path, message: stripPrefix(issue.message), expected: issue.expected });
        break;
      default:
        out.push({ path, message: stripPrefix(issue.message) });
    }
  }
  return out;
}

function stripPrefix(message: string): string {
  return message.replace(/^Invalid (input|option): /, '');
}

/** The keys the schema allows for the object at `path`, or [] when it is not an object. */
function knownKeys(schema: z.ZodType, path: ConfigPath): string[] {
  let candidates: z.ZodType[] = [schema];
  for (const segment of path) {
    candidates = candidates.flatMap(unwrap).flatMap((s) => {
      if (s instanceof z.ZodObject && typeof segment === 'string') {
        const child = (s.shape as Record<string, z.ZodType | undefined>)[segment];
        return child === undefined ? [] : [child];
      }
      if (s instanceof z.ZodArray && typeof segment === 'number') return [s.element as z.ZodType];
      return [];
    });
  }
  return candidates.flatMap(unwrap).flatMap((s) => (s instanceof z.ZodObject ? Object.keys(s.shape) : []));
}

/** Looks through defaults, optionals, pipes (transforms) and unions to the schemas inside. */
function unwrap(schema: z.ZodType): z.ZodType[] {
  if (schema instanceof z.ZodDefault || schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return unwrap(schema.unwrap() as z.ZodType);
  }
  if (schema instanceof z.ZodPipe) return unwrap(schema.in as z.ZodType);
  if (schema instanceof z.ZodUnion) return (schema.options as z.ZodType[]).flatMap(unwrap);
  return [schema];
}

/** The nearest known key within two edits (one for short keys), case-insensitive. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = key.length <= 4 ? 2 : 3;
  for (const candidate of known) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance: a transposition ("prot" → "port") is one edit. */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i += 1) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j += 1) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        d = Math.min(d, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      row.push(d);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
