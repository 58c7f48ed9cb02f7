import { Environment, Optional, type ParseResult } from '@marcbachmann/cel-js';
import type { DimensionConfig } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';

/**
 * What a custom dimension expression can see about one call. Optional parts are absent when
 * the call has no subscription, backend or JWT yet; expressions then read empty strings.
 */
export interface DimensionContext {
  request: {
    method: string;
    path: string;
    model?: string | undefined;
    /** Header names are matched lower-cased; repeated headers are joined with ", ". */
    headers: Readonly<Record<string, string | readonly string[] | undefined>>;
    ip?: string | undefined;
    stream: boolean;
    user?: string | undefined;
  };
  subscription?:
    | {
        id: string;
        product?: string | undefined;
        owner?: string | undefined;
        costCenter?: string | undefined;
      }
    | undefined;
  api: { id: string };
  backend?: { id: string; type: string } | undefined;
  jwt?: { claims: Readonly<Record<string, unknown>> } | undefined;
}

/**
 * Creates the CEL environment custom dimensions are compiled in. Variables are declared with
 * their fields, so a misspelt field (`subscription.costCentre`) fails at compile time;
 * maps (`request.headers`, `jwt.claims`) are open, and a missing key reads as ''.
 * Creating an environment is costly: do it once, at startup.
 */
export function createDimensionEnvironment(): Environment {
  return new Environment({ enableOptionalTypes: true })
    .registerVariable({
      name: 'request',
      schema: {
        method: 'string',
        path: 'string',
        model: 'string',
        headers: 'map<string, string>',
        ip: 'string',
        stream: 'bool',
        user: 'string',
      },
    })
    .registerVariable({
      name: 'subscription',
      schema: { id: 'string', product: 'string', owner: 'string', costCenter: 'string' },
    })
    .registerVariable({ name: 'api', schema: { id: 'string' } })
    .registerVariable({ name: 'backend', schema: { id: 'string', type: 'string' } })
    .registerVariable({ name: 'jwt', schema: { claims: 'map<string, dyn>' } });
}

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

/** Evaluates a config's custom dimensions for each call. */
export interface DimensionEvaluator {
  /** The custom dimension names, in config order. */
  readonly names: readonly string[];
  /**
   * The value of every custom dimension for one call. Never throws: a missing map key (an
   * absent header or JWT claim) yields '', any other evaluation error yields '' and is counted
   * in {@link errorCount}. Values are not capped here: a header or claim can be of any length,
   * and the caller caps them with every other dimension (`capLedgerDimensions` for the ledger,
   * `capLabelValue` in each metric emitter; see value-cap.ts).
   */
  evaluate(ctx: DimensionContext): Record<string, string>;
  /** Evaluation errors so far (not counting missing keys). */
  readonly errorCount: number;
}

/**
 * Compiles the custom (`{name, value}`) dimensions once; string entries are default
 * dimensions and are ignored here, and a name listed again is compiled once. Throws `TM_CONFIG_INVALID` if an expression does not
 * compile (config loading reports that earlier, with its line).
 *
 * @example
 * const dims = createDimensionEvaluator([{ name: 'team', value: "request.headers['x-team']" }]);
 * dims.evaluate(ctx); // { team: 'blue' }
 */
export function createDimensionEvaluator(
  dimensions: readonly DimensionConfig[],
  options: { onError?: (name: string, err: unknown) => void } = {},
): DimensionEvaluator {
  const env = createDimensionEnvironment();
  const compiled: { name: string; run: ParseResult }[] = [];
  for (const dimension of dimensions) {
    // Several tokenMetrics entries may list the same custom dimension; a record has one value.
    if (typeof dimension === 'string' || compiled.some((c) => c.name === dimension.name)) continue;
    const result = compileDimensionExpression(env, dimension.value);
    if ('error' in result) {
      throw new TokenmeterError('TM_CONFIG_INVALID', `custom dimension "${dimension.name}": ${result.error}`);
    }
    compiled.push({ name: dimension.name, run: result.compiled });
  }
  let errorCount = 0;
  return {
    names: compiled.map((c) => c.name),
    get errorCount() {
      return errorCount;
    },
    evaluate(ctx) {
      const values: Record<string, string> = {};
      if (compiled.length === 0) return values;
      const celContext = toCelContext(ctx);
      for (const { name, run } of compiled) {
        try {
          const value: unknown = run(celContext);
          values[name] = stringifyValue(value);
        } catch (err) {
          values[name] = '';
          if ((err as { code?: unknown }).code !== 'no_such_key') {
            errorCount += 1;
            options.onError?.(name, err);
          }
        }
      }
      return values;
    },
  };
}

function toCelContext(ctx: DimensionContext): Record<string, unknown> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(ctx.request.headers)) {
    if (value === undefined) continue;
    headers[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }
  const r = ctx.request;
  const s = ctx.subscription;
  return {
    request: {
      method: r.method,
      path: r.path,
      model: r.model ?? '',
      headers,
      ip: r.ip ?? '',
      stream: r.stream,
      user: r.user ?? '',
    },
    subscription: {
      id: s?.id ?? '',
      product: s?.product ?? '',
      owner: s?.owner ?? '',
      costCenter: s?.costCenter ?? '',
    },
    api: { id: ctx.api.id },
    backend: { id: ctx.backend?.id ?? '', type: ctx.backend?.type ?? '' },
    jwt: { claims: ctx.jwt?.claims ?? {} },
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
