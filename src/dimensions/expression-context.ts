import { Environment, type ASTNode } from '@marcbachmann/cel-js';
import { readBodyScalars, readQueryParameters } from './request-fields.js';

/**
 * What a custom dimension expression can see about one call, as the gateway hands it over:
 * references to what the call already holds (the headers, the query string, the parsed body),
 * never copies. The CEL context built from it holds only the parts the configured expressions
 * read (see {@link createCelContextBuilder}). Optional parts are absent when the call has no
 * subscription, route parameters, backend or JWT; expressions then read empty strings / maps.
 */
export interface DimensionContext {
  request: {
    method: string;
    /** The path only: a query string may hold a credential. */
    path: string;
    model?: string | undefined;
    /** Header names are matched lower-cased; repeated headers are joined with ", ". */
    headers: Readonly<Record<string, string | readonly string[] | undefined>>;
    /**
     * The query string (with or without its `?`) once the API's own query credential is taken
     * out (takeQueryCredential); `request.query` is read from it (readQueryParameters).
     */
    query?: string | undefined;
    /** The parsed JSON body; `request.body` holds its top-level scalars (readBodyScalars). */
    body?: unknown;
    ip?: string | undefined;
    stream: boolean;
    /** The resolved User ID (JWT userClaim, users.header, then the body). */
    user?: string | undefined;
  };
  subscription?:
    | {
        id: string;
        product?: string | undefined;
        owner?: string | undefined;
        costCenter?: string | undefined;
        metadata?: Readonly<Record<string, string>> | undefined;
      }
    | undefined;
  api: { id: string };
  /** The Operation ID (chat.completions, generateContent, …). */
  operation?: { id: string } | undefined;
  /** The route's path parameters (Azure `deployment`, Gemini `model`, …). */
  route?: { params?: Readonly<Record<string, string>> | undefined } | undefined;
  backend?: { id: string; type: string } | undefined;
  jwt?: { claims: Readonly<Record<string, unknown>> } | undefined;
}

/**
 * Creates the CEL environment custom dimensions are compiled in. Variables are declared with
 * their fields, so a misspelt field (`subscription.costCentre`, `route.param`) fails at compile
 * time; maps (`request.headers`, `request.query`, `request.body`, `route.params`,
 * `subscription.metadata`, `jwt.claims`) are open, and a missing key reads as ''.
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
        query: 'map<string, string>',
        body: 'map<string, dyn>',
        ip: 'string',
        stream: 'bool',
        user: 'string',
      },
    })
    .registerVariable({
      name: 'subscription',
      schema: {
        id: 'string',
        product: 'string',
        owner: 'string',
        costCenter: 'string',
        metadata: 'map<string, string>',
      },
    })
    .registerVariable({ name: 'api', schema: { id: 'string' } })
    .registerVariable({ name: 'operation', schema: { id: 'string' } })
    .registerVariable({ name: 'route', schema: { params: 'map<string, string>' } })
    .registerVariable({ name: 'backend', schema: { id: 'string', type: 'string' } })
    .registerVariable({ name: 'jwt', schema: { claims: 'map<string, dyn>' } });
}

/**
 * Which parts of the context a set of expressions reads, found once in their syntax trees:
 * the top-level variables, and for `request` which fields. Costly fields (`headers`, `query`,
 * `body`) are built per call only when listed here.
 */
export interface ContextUses {
  /** Top-level variables read: request, subscription, api, operation, route, backend, jwt. */
  readonly variables: ReadonlySet<string>;
  /** `request` fields read; every field when `request` is used whole (e.g. `string(request)`). */
  readonly requestFields: ReadonlySet<string>;
}

const REQUEST_FIELDS = ['method', 'path', 'model', 'headers', 'query', 'body', 'ip', 'stream', 'user'];

/** A mutable {@link ContextUses}, filled by {@link addContextUses}. */
export interface ContextUsesCollector extends ContextUses {
  readonly variables: Set<string>;
  readonly requestFields: Set<string>;
}

/** An empty collector: nothing read yet (a configuration without custom dimensions). */
export function createContextUses(): ContextUsesCollector {
  return { variables: new Set(), requestFields: new Set() };
}

function isNode(value: unknown): value is ASTNode {
  return typeof value === 'object' && value !== null && 'op' in value && 'args' in value;
}

/**
 * Adds what one expression's syntax tree reads to `uses`. `request.x`, `request.?x` and
 * `request['x']` name the field `x`; any other use of `request` (passed whole to a function,
 * indexed by a computed key) counts as every field. An identifier that is not a variable (a
 * macro's loop variable) is recorded too: harmless, since only known names are looked up.
 */
export function addContextUses(node: ASTNode, uses: ContextUsesCollector): void {
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item);
      return;
    }
    if (!isNode(value) || value.op === 'value') return;
    const field = requestField(value);
    if (field !== undefined) {
      uses.variables.add('request');
      uses.requestFields.add(field);
      return;
    }
    if (value.op === 'id') {
      uses.variables.add(value.args);
      if (value.args === 'request') for (const name of REQUEST_FIELDS) uses.requestFields.add(name);
      return;
    }
    visit(value.args);
  };
  visit(node);
}

/** The field of `request` a member access or constant index reads, if that is what it is. */
function requestField(node: ASTNode): string | undefined {
  if (node.op === '.' || node.op === '.?') {
    const [target, name] = node.args;
    return target.op === 'id' && target.args === 'request' ? name : undefined;
  }
  if (node.op === '[]' || node.op === '[?]') {
    const [target, key] = node.args;
    if (target.op !== 'id' || target.args !== 'request') return undefined;
    return key.op === 'value' && typeof key.args === 'string' ? key.args : undefined;
  }
  return undefined;
}

const EMPTY: Readonly<Record<string, never>> = Object.freeze(Object.create(null) as Record<string, never>);

/**
 * Builds the CEL context of one call from a {@link DimensionContext}, with only the variables
 * and `request` fields in `uses` (decided once, when the expressions are compiled): the headers
 * are normalised, the query parsed and the body's scalars collected only for configurations
 * whose expressions read them, so a call pays nothing for context no expression reads.
 * Fields left out are never looked up: the type check refused every name not declared.
 */
export function createCelContextBuilder(
  uses: ContextUses,
): (ctx: DimensionContext) => Record<string, unknown> {
  const v = uses.variables;
  const f = uses.requestFields;
  const wants = {
    request: v.has('request'),
    headers: f.has('headers'),
    query: f.has('query'),
    body: f.has('body'),
    subscription: v.has('subscription'),
    api: v.has('api'),
    operation: v.has('operation'),
    route: v.has('route'),
    backend: v.has('backend'),
    jwt: v.has('jwt'),
  };
  return (ctx) => {
    const cel: Record<string, unknown> = {};
    if (wants.request) {
      const r = ctx.request;
      const request: Record<string, unknown> = {
        method: r.method,
        path: r.path,
        model: r.model ?? '',
        ip: r.ip ?? '',
        stream: r.stream,
        user: r.user ?? '',
      };
      if (wants.headers) request['headers'] = normaliseHeaders(r.headers);
      if (wants.query) request['query'] = readQueryParameters(r.query ?? '');
      if (wants.body) request['body'] = readBodyScalars(r.body);
      cel['request'] = request;
    }
    if (wants.subscription) {
      const s = ctx.subscription;
      cel['subscription'] = {
        id: s?.id ?? '',
        product: s?.product ?? '',
        owner: s?.owner ?? '',
        costCenter: s?.costCenter ?? '',
        metadata: s?.metadata ?? EMPTY,
      };
    }
    if (wants.api) cel['api'] = { id: ctx.api.id };
    if (wants.operation) cel['operation'] = { id: ctx.operation?.id ?? '' };
    if (wants.route) cel['route'] = { params: ctx.route?.params ?? EMPTY };
    if (wants.backend) cel['backend'] = { id: ctx.backend?.id ?? '', type: ctx.backend?.type ?? '' };
    if (wants.jwt) cel['jwt'] = { claims: ctx.jwt?.claims ?? EMPTY };
    return cel;
  };
}

/**
 * Headers as `map<string, string>`: Node's own headers (lower-cased names, string values) are
 * passed as they are; only when a name is not lower-case or a value is a list (`set-cookie`)
 * or absent is a copy made, names lower-cased and lists joined with ", ".
 */
function normaliseHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
): Readonly<Record<string, string>> {
  let plain = true;
  for (const name in headers) {
    if (typeof headers[name] !== 'string' || name !== name.toLowerCase()) {
      plain = false;
      break;
    }
  }
  if (plain) return headers as Readonly<Record<string, string>>;
  const copy = Object.create(null) as Record<string, string>;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    copy[name.toLowerCase()] = typeof value === 'string' ? value : value.join(', ');
  }
  return copy;
}
