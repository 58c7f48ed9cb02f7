import { readFileSync } from 'node:fs';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError, type ConfigIssue } from './config-error.js';
import {
  coerceInterpolatedScalar,
  interpolateDocument,
  pathKey,
  type ConfigPath,
  type Env,
} from './interpolate.js';
import { configSchema, type Config } from './schema.js';
import { describeLedgerLocationProblem, describeOutboxLocationProblem } from './ledger-location.js';
import { describeSchemaIssues, type SchemaIssue } from './schema-issues.js';
import { validateReferences } from './validate-references.js';

/** What loadConfig / parseConfig check beyond the file itself. */
export interface ConfigCheckOptions {
  /**
   * Also check on the file system that the ledger can be opened or created (see
   * describeLedgerLocationProblem). `config check` and `serve` ask for it, so config check says
   * OK only to what serve can start; readers of an existing ledger (`usage`) do not.
   */
  checkLedgerFile?: boolean;
}

/**
 * Reads, interpolates and validates a configuration file. Every problem is reported, each as
 * `file:line:col path: message`, in one {@link ConfigError}; an unreadable file is one line.
 */
export function loadConfig(path: string, env: Env = process.env, options: ConfigCheckOptions = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    const message =
      code === 'ENOENT'
        ? 'config file not found'
        : `cannot read config file: ${err instanceof Error ? err.message : String(err)}`;
    throw new ConfigError([{ file: path, line: 0, column: 0, path: '', message }]);
  }
  return parseConfig(text, path, env, options);
}

/**
 * Parses configuration text; `fileName` is only used in messages. Stages: YAML syntax (stops
 * here on error, the document is unreliable), `${VAR}` interpolation, the zod schema, then
 * cross-references (see validateReferences), then (when asked) the ledger file. Issues of all
 * later stages are collected together.
 */
export function parseConfig(
  text: string,
  fileName: string,
  env: Env = process.env,
  options: ConfigCheckOptions = {},
): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const issueAt = (offset: number, path: ConfigPath, message: string): ConfigIssue => {
    const { line, col } = lineCounter.linePos(offset);
    return { file: fileName, line, column: col, path: formatPath(path), message };
  };

  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => issueAt(e.pos[0], [], e.message.split('\n', 1)[0] ?? e.message)),
    );
  }

  const interpolation = interpolateDocument(doc, env);
  const issues = interpolation.issues.map((i) => issueAt(i.offset, i.path, i.message));
  // A value whose interpolation failed would also fail the schema; say it once.
  const failed = new Set(interpolation.issues.map((i) => pathKey(i.path)));
  const isConsequence = (path: ConfigPath): boolean =>
    path.some((_, n) => failed.has(pathKey(path.slice(0, n + 1))));

  let data: unknown;
  try {
    data = doc.toJS();
  } catch (err) {
    throw new ConfigError([issueAt(0, [], err instanceof Error ? err.message : String(err))]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError([
      issueAt(0, [], 'the file is empty: expected a mapping with at least backends and apis'),
    ]);
  }

  let result = configSchema.safeParse(data);
  if (!result.success) {
    const described = describeSchemaIssues(result.error.issues, configSchema);
    if (coerceInterpolated(data, described, interpolation.interpolatedPlainPaths))
      result = configSchema.safeParse(data);
  }
  if (!result.success) {
    for (const issue of describeSchemaIssues(result.error.issues, configSchema)) {
      if (isConsequence(issue.path)) continue;
      issues.push(issueAt(locate(doc, issue.path, issue.atKey === true), issue.path, issue.message));
    }
  } else {
    for (const issue of validateReferences(result.data)) {
      if (isConsequence(issue.path)) continue;
      issues.push(issueAt(locate(doc, issue.path, false), issue.path, issue.message));
    }
    const ledgerProblem =
      options.checkLedgerFile === true ? describeLedgerLocationProblem(result.data.ledger) : undefined;
    if (ledgerProblem !== undefined) {
      const ledgerPath: ConfigPath = isLongLedgerForm(data) ? ['ledger', 'url'] : ['ledger'];
      issues.push(issueAt(locate(doc, ledgerPath, false), ledgerPath, ledgerProblem));
    }
    const { outbox } = result.data.ledgerPolicy;
    const outboxProblem =
      options.checkLedgerFile === true
        ? describeOutboxLocationProblem(result.data.ledger, outbox)
        : undefined;
    if (outboxProblem !== undefined) {
      const at: ConfigPath =
        outbox !== undefined ? ['ledger', 'outbox'] : isLongLedgerForm(data) ? ['ledger', 'url'] : ['ledger'];
      issues.push(issueAt(locate(doc, at, false), at, outboxProblem));
    }
  }

  if (issues.length > 0 || !result.success) {
    throw new ConfigError(issues.sort((a, b) => a.line - b.line || a.column - b.column));
  }
  return result.data;
}

/** True when the file uses `ledger: { url, … }` rather than `ledger: URL`. */
function isLongLedgerForm(data: unknown): boolean {
  const ledger =
    typeof data === 'object' && data !== null ? (data as { ledger?: unknown }).ledger : undefined;
  return typeof ledger === 'object' && ledger !== null;
}

/** `['apis', 1, 'backend']` → `apis[1].backend`. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const segment of path)
    out += typeof segment === 'number' ? `[${segment}]` : out === '' ? segment : `.${segment}`;
  return out;
}

/**
 * Where a path points in the source: the value's node (or the key, for unknown keys), else the
 * deepest existing ancestor (a missing key is reported at the mapping that lacks it).
 */
function locate(doc: Document, path: ConfigPath, atKey: boolean): number {
  let node: Node | null = doc.contents;
  let offset = node?.range?.[0] ?? 0;
  for (const [index, segment] of path.entries()) {
    if (node !== null && isAlias(node)) node = (node.resolve(doc) as Node | undefined) ?? null;
    let next: Node | null = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment));
      if (pair === undefined) break;
      const key = pair.key as Node;
      const value = pair.value as Node | null;
      if (atKey && index === path.length - 1) return key.range?.[0] ?? offset;
      next = value?.range ? value : key;
    } else if (isSeq(node) && typeof segment === 'number') {
      next = (node.items[segment] as Node | undefined) ?? null;
    }
    if (next === null) break;
    node = next;
    offset = node.range?.[0] ?? offset;
  }
  return offset;
}

/**
 * Interpolated plain scalars are strings until the schema says a number or boolean belongs
 * there (`port: ${PORT:-8080}`). Returns true if any value was changed.
 */
function coerceInterpolated(
  data: unknown,
  issues: readonly SchemaIssue[],
  paths: ReadonlySet<string>,
): boolean {
  let changed = false;
  for (const issue of issues) {
    if ((issue.expected !== 'number' && issue.expected !== 'boolean') || !paths.has(pathKey(issue.path)))
      continue;
    const parent = issue.path
      .slice(0, -1)
      .reduce<unknown>(
        (node, key) =>
          typeof node === 'object' && node !== null
            ? (node as Record<string | number, unknown>)[key]
            : undefined,
        data,
      );
    const key = issue.path[issue.path.length - 1];
    if (typeof parent !== 'object' || parent === null || key === undefined) continue;
    const container = parent as Record<string | number, unknown>;
    const raw = container[key];
    if (typeof raw !== 'string') continue;
    const coerced = coerceInterpolatedScalar(raw, issue.expected);
    if (coerced !== undefined) {
      container[key] = coerced;
      changed = true;
    }
  }
  return changed;
}
