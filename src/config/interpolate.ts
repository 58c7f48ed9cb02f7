import { isMap, isScalar, isSeq, type Document, type Node } from 'yaml';

/** The environment variables interpolation reads (process.env by default). */
export type Env = Readonly<Record<string, string | undefined>>;

/** A path into the configuration: mapping keys and sequence indices. */
export type ConfigPath = readonly (string | number)[];

/** An interpolation failure, located by path and by offset in the YAML text. */
export interface InterpolationIssue {
  path: ConfigPath;
  /** Offset of the scalar in the source text (for line/column). */
  offset: number;
  message: string;
}

/** What {@link interpolateDocument} did to a document. */
export interface InterpolationResult {
  issues: InterpolationIssue[];
  /**
   * Paths (as {@link pathKey}) of plain (unquoted) scalars whose text came from interpolation.
   * Their values stay strings; {@link coerceInterpolatedScalar} turns them into numbers or
   * booleans where the schema expects one, as if the value had been written in the file.
   */
  interpolatedPlainPaths: Set<string>;
}

// `$${` is an escaped literal `${`; `${…}` an interpolation; a lone `${` is unclosed.
const TOKEN = /\$\$\{|\$\{([^}]*)\}|\$\{/g;
const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?$/s;

/**
 * Replaces `${VAR}` and `${VAR:-default}` in one string; `$${` yields a literal `${`.
 * As in the shell, the default applies when the variable is unset or empty. A `${VAR}` whose
 * variable is unset is an error naming the variable (an empty variable is a valid value).
 *
 * @example interpolateString('http://${HOST:-localhost}:8080', {}) // { value: 'http://localhost:8080' }
 */
export function interpolateString(text: string, env: Env): { value: string } | { error: string } {
  let out = '';
  let last = 0;
  for (const match of text.matchAll(TOKEN)) {
    out += text.slice(last, match.index);
    last = match.index + match[0].length;
    if (match[0] === '$${') {
      out += '${';
      continue;
    }
    const inner = match[1];
    if (inner === undefined) return { error: 'unclosed "${": write "$${" for a literal "${"' };
    const ref = REFERENCE.exec(inner);
    const name = ref?.[1];
    if (ref === null || name === undefined) {
      return { error: `invalid interpolation "\${${inner}}": expected \${VAR} or \${VAR:-default}` };
    }
    const fallback = ref[2];
    if (fallback?.includes('${') === true) {
      return { error: `nested interpolation in the default of \${${name}} is not supported` };
    }
    const value = env[name];
    if (fallback !== undefined) out += value === undefined || value === '' ? fallback : value;
    else if (value === undefined) return { error: `environment variable ${name} is not set` };
    else out += value;
  }
  return { value: out + text.slice(last) };
}

/** A stable string key for a path, for sets and maps. */
export function pathKey(path: ConfigPath): string {
  return JSON.stringify(path);
}

/**
 * Interpolates every string scalar that is a value (never a mapping key) of the document, in
 * place. Collects every failure instead of stopping at the first.
 */
export function interpolateDocument(doc: Document, env: Env): InterpolationResult {
  const result: InterpolationResult = { issues: [], interpolatedPlainPaths: new Set() };
  visitValues(doc.contents, [], env, result);
  return result;
}

function visitValues(node: Node | null, path: ConfigPath, env: Env, result: InterpolationResult): void {
  if (node === null) return;
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      visitValues(pair.value as Node | null, [...path, key], env, result);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, index) => visitValues(item as Node | null, [...path, index], env, result));
  } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('${')) {
    const interpolated = interpolateString(node.value, env);
    if ('error' in interpolated) {
      result.issues.push({ path, offset: node.range?.[0] ?? 0, message: interpolated.error });
      return;
    }
    node.value = interpolated.value;
    if (node.type === 'PLAIN') result.interpolatedPlainPaths.add(pathKey(path));
  }
  // Aliases point at an anchored node that is visited where it is defined.
}

/**
 * Reads an interpolated plain scalar the way YAML would have read it had it been written in the
 * file (`port: ${PORT:-8080}` → 8080), but only into the type the schema expects there, so a
 * digits-only key interpolated into a string field stays a string.
 */
export function coerceInterpolatedScalar(
  value: string,
  expected: 'number' | 'boolean',
): number | boolean | undefined {
  if (expected === 'boolean') {
    if (/^(true|True|TRUE)$/.test(value)) return true;
    if (/^(false|False|FALSE)$/.test(value)) return false;
    return undefined;
  }
  // YAML 1.2 core schema integers and floats (decimal; hex/octal forms are not worth the surprise).
  if (/^[-+]?[0-9]+$/.test(value) || /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(value)) {
    return Number(value);
  }
  return undefined;
}
