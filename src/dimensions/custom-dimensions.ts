import { Optional, type Environment, type ParseResult } from '@marcbachmann/cel-js';
import type { DimensionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import {
  addContextUses,
  createCelContextBuilder,
  createContextUses,
  createDimensionEnvironment,
  type ContextUses,
  type DimensionContext,
} from './expression-context.js';

export { createDimensionEnvironment, type ContextUses, type DimensionContext } from './expression-context.js';

/**
 * Compiles (parses and type-checks) one expression. Returns the compiled expression, or a
 * one-line error message saying what is wrong and where in the expression.
 */
export function compileDimensionExpression(
  env: Environment,
  expression: string,
): { compiled: ParseResult } | { error: string } {
  try {
    const compiled = env.parse(expression);
    const checked = compiled.check();
    if (!checked.valid) return { error: describeCelError(checked.error) };
    return { compiled };
  } catch (err) {
    return { error: describeCelError(err) };
  }
}

function describeCelError(err: unknown): string {
  if (!(err instanceof Error)) return 'invalid CEL expression';
  // The library's message carries a multi-line source excerpt; keep the first line and say
  // where instead, so a config error stays one line.
  const first = err.message.split('\n', 1)[0] ?? err.message;
  const range = (err as { range?: { start?: number } }).range;
  const at = typeof range?.start === 'number' ? ` (at character ${range.start + 1})` : '';
  return `invalid CEL expression: ${first}${at}`;
}

/** The custom dimensions of one call. */
export interface EvaluatedDimensions {
  /** Every custom dimension's value, by name, in config order. */
  values: Readonly<Record<string, string>>;
  /**
   * The names whose value is their `default:` ('' when none is configured): the expression
   * yielded '', read a missing map key or failed at run time. The others' values came from
   * their expression.
   */
  defaulted: readonly string[];
}

/** Evaluates a config's custom dimensions for each call. */
export interface DimensionEvaluator {
  /** The custom dimension names, in config order. */
  readonly names: readonly string[];
  /** What the expressions read, found at compile time: only that is built per call. */
  readonly uses: ContextUses;
  /**
   * The value of every custom dimension for one call. Never throws. When the expression yields
   * '' or fails at run time, the dimension's `default:` is used ('' when none). A missing map key
   * (an absent header, query parameter, body field, route parameter, metadata key or JWT claim)
   * is not an error: absent input is normal. Any other failure (a conversion, a division by
   * zero, a type mismatch) is an error: counted in {@link errorCount} and passed to `onError`.
   * Values are not capped here: a header or claim can be of any length, and the caller caps
   * them with every other dimension (`capLedgerDimensions` for the ledger, `capLabelValue` in
   * each metric emitter; see value-cap.ts).
   */
  evaluate(ctx: DimensionContext): EvaluatedDimensions;
  /** Evaluation errors so far (not counting missing keys). */
  readonly errorCount: number;
}

/** The cel-js error code of a lookup of a key a map does not hold. */
const NO_SUCH_KEY = 'no_such_key';

/**
 * Compiles the custom (`{name, value, default?}`) dimensions once; string entries are default
 * dimensions and are ignored here, and a name listed again is compiled once. Throws
 * `TM_CONFIG_INVALID` if an expression does not compile (config loading reports that earlier,
 * with its line). What the expressions read is found here too (see ContextUses), so that a
 * call builds only that part of the context, and nothing at all without custom dimensions.
 *
 * @example
 * const dims = createDimensionEvaluator([
 *   { name: 'team', value: "request.headers['x-team']", default: 'unknown' },
 * ]);
 * dims.evaluate(ctx); // { values: { team: 'blue' }, defaulted: [] }
 */
export function createDimensionEvaluator(
  dimensions: readonly DimensionConfig[],
  options: { onError?: (name: string, err: unknown) => void } = {},
): DimensionEvaluator {
  const env = createDimensionEnvironment();
  const compiled: { name: string; run: ParseResult; fallback: string }[] = [];
  const uses = createContextUses();
  for (const dimension of dimensions) {
    // Several tokenMetrics entries may list the same custom dimension; a record has one value.
    if (typeof dimension === 'string' || compiled.some((c) => c.name === dimension.name)) continue;
    const result = compileDimensionExpression(env, dimension.value);
    if ('error' in result) {
      throw new TokenmeterError('TM_CONFIG_INVALID', `custom dimension "${dimension.name}": ${result.error}`);
    }
    addContextUses(result.compiled.ast, uses);
    compiled.push({ name: dimension.name, run: result.compiled, fallback: dimension.default ?? '' });
  }
  const buildContext = createCelContextBuilder(uses);
  const none: readonly string[] = [];
  let errorCount = 0;
  return {
    names: compiled.map((c) => c.name),
    uses,
    get errorCount() {
      return errorCount;
    },
    evaluate(ctx) {
      const values: Record<string, string> = {};
      if (compiled.length === 0) return { values, defaulted: none };
      const celContext = buildContext(ctx);
      let defaulted: string[] | undefined;
      for (const { name, run, fallback } of compiled) {
        let value = '';
        try {
          value = stringifyValue(run(celContext));
        } catch (err) {
          if ((err as { code?: unknown }).code !== NO_SUCH_KEY) {
            errorCount += 1;
            options.onError?.(name, err);
          }
        }
        if (value === '') {
          value = fallback;
          (defaulted ??= []).push(name);
        }
        values[name] = value;
      }
      return { values, defaulted: defaulted ?? none };
    },
  };
}

function stringifyValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (value instanceof Optional) return value.hasValue() ? stringifyValue(value.value()) : '';
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean')
    return String(value);
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('utf8');
  return (
    JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return v.toString();
      if (v instanceof Map) return Object.fromEntries(v as Map<unknown, unknown>) as unknown;
      return v;
    }) ?? ''
  );
}
