import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/schema.js';
import { APIM_DIMENSION_ALIASES } from '../dimensions/dimension-names.js';
import { TokenmeterError } from '../errors.js';
import type { Ledger } from '../ledger/ledger.js';
import { DEFAULT_DIMENSION_KEYS } from '../ledger/record.js';
import {
  checkCustomDimensionsKnown,
  configuredCustomDimensions,
  namesUnknownCustomDimension,
} from '../reports/known-dimensions.js';
import { parseCalendarMonth } from '../reports/month-range.js';
import { buildMonthReport } from '../reports/month-report.js';
import { toReportJsonRow } from '../reports/report-format.js';
import { parseGrouping } from '../reports/report-grouping.js';
import type { ResolvedUsageQuery, UsageQuery } from '../reports/usage-query.js';
import { sendJson } from './dashboard-http.js';
import { atParam, QueryParamError } from './query-param-error.js';
import { checkParamNames, parseDimensionsParams, parseUsageParams, resolveApiQuery } from './query-params.js';
import { scopeQuery, type Viewer } from './viewer-scope.js';

/** What the query API reads. */
export interface QueryApiDeps {
  config: Config;
  ledger: Ledger;
  /** The ledger's URL (the report reads managed subscriptions' owners next to it). */
  ledgerUrl: string;
  now: () => number;
}

/** Values `/api/dimensions?name=` lists at most; one more is read to tell the list was cut. */
export const DIMENSION_VALUES_SHOWN = 1000;

/** How long the ledger's custom dimension names are reused, ms. */
const CUSTOM_NAMES_TTL_MS = 60_000;

/** The query API under `/api/`: read-only JSON for a signed-in viewer. */
export interface QueryApi {
  /** Answers `path` (already authenticated as `viewer`); throws TokenmeterError for the caller to send. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    search: URLSearchParams,
    viewer: Viewer,
  ): Promise<void>;
}

const LABELS: ReadonlyMap<string, string> = new Map(
  Object.entries(APIM_DIMENSION_ALIASES).map(([label, key]) => [key, label]),
);

export function createQueryApi(deps: QueryApiDeps): QueryApi {
  const { config, ledger } = deps;
  const configured = new Set(configuredCustomDimensions(config.tokenMetrics));
  // The ledger's custom names take a scan of the records: read at most once a minute.
  let ledgerNames: { names: Promise<string[]>; readAt: number } | undefined;
  const customNames = (): Promise<string[]> => {
    const at = deps.now();
    if (ledgerNames === undefined || at - ledgerNames.readAt >= CUSTOM_NAMES_TTL_MS) {
      const names = ledger.customDimensionNames();
      // A failed read is not kept: the next request tries again.
      names.catch(() => (ledgerNames = undefined));
      ledgerNames = { names, readAt: at };
    }
    return ledgerNames.names;
  };

  /** Refuses unknown custom dimensions; reads the ledger's names only when the config lacks one. */
  async function checkKnown(query: ResolvedUsageQuery, param: { by: string; where: string }): Promise<void> {
    if (!namesUnknownCustomDimension(query, configured)) return;
    const known = new Set([...configured, ...(await customNames())]);
    atParam(param.by, () => checkCustomDimensionsKnown({ by: query.by, where: [] }, known));
    atParam(param.where, () => checkCustomDimensionsKnown({ by: [], where: query.where }, known));
  }

  const routes: Record<string, (search: URLSearchParams, viewer: Viewer) => Promise<unknown>> = {
    '/api/session': (search, viewer) => {
      checkParamNames(search, []);
      return Promise.resolve({ ...viewer, currency: config.pricing.currency });
    },
    '/api/usage': async (search, viewer) => {
      const query: UsageQuery = parseUsageParams(search, deps.now());
      await checkKnown(resolveApiQuery(query), { by: 'by', where: 'where' });
      const scoped = scopeQuery(query, viewer);
      return scoped === undefined ? [] : ledger.query(scoped);
    },
    '/api/dimensions': async (search, viewer) => {
      const { name, range } = parseDimensionsParams(search, deps.now());
      const names = name === undefined ? [] : [name];
      const resolved = resolveApiQuery({ by: names, ...range });
      await checkKnown(resolved, { by: 'name', where: 'where' });
      if (name === undefined) return { dimensions: await listDimensions() };
      const scoped = scopeQuery(range, viewer);
      const values =
        scoped === undefined ? [] : await ledger.dimensionValues(name, scoped, DIMENSION_VALUES_SHOWN + 1);
      return {
        name: resolved.by[0]?.output ?? name,
        values: values.slice(0, DIMENSION_VALUES_SHOWN),
        truncated: values.length > DIMENSION_VALUES_SHOWN,
      };
    },
    '/api/report': async (search, viewer) => report(search, viewer),
  };

  async function listDimensions(): Promise<{ name: string; label: string; custom?: true }[]> {
    const custom = new Set([...configured, ...(await customNames())]);
    const canonical: ReadonlySet<string> = new Set(DEFAULT_DIMENSION_KEYS.map((k) => k.toLowerCase()));
    return [
      ...DEFAULT_DIMENSION_KEYS.map((key) => ({ name: key, label: LABELS.get(key) ?? key })),
      ...[...custom].sort().map((name) => {
        // A custom dimension named like a default one (or an APIM name) is reached as custom.NAME.
        const shadowed = canonical.has(name.toLowerCase()) || name.toLowerCase() === 'priced';
        return { name: shadowed ? `custom.${name}` : name, label: name, custom: true as const };
      }),
    ];
  }

  async function report(search: URLSearchParams, viewer: Viewer): Promise<unknown> {
    checkParamNames(search, ['month', 'by']);
    const monthText = search.get('month');
    if (monthText === null) throw new QueryParamError('month', 'month is required: YYYY-MM, e.g. 2026-01');
    const month = atParam('month', () => parseCalendarMonth(monthText));
    const grouping = atParam('by', () => parseGrouping(search.get('by') ?? 'subscription'));
    // A team's report is its own row of the whole report: capacity shares are split between all
    // subscriptions, and any other grouping (model, owner…) would sum other teams' usage.
    if (viewer.role === 'subscription' && (grouping.kind !== 'dimension' || grouping.key !== 'subscription'))
      throw new QueryParamError(
        'by',
        'a subscription key gets its report by subscription only',
        'TM_FORBIDDEN',
      );
    if (grouping.kind === 'dimension')
      await checkKnown(resolveApiQuery({ by: [grouping.name], where: [] }), { by: 'by', where: 'by' });
    const built = await buildMonthReport(ledger, deps.ledgerUrl, config, month, grouping);
    const rows =
      viewer.role === 'admin' ? built.rows : built.rows.filter((r) => r.group === viewer.subscription);
    return rows.map((r) => toReportJsonRow(built.groupKey, r));
  }

  return {
    async handle(req, res, path, search, viewer) {
      const route = routes[path];
      if (route === undefined || !Object.hasOwn(routes, path))
        throw new TokenmeterError('TM_NOT_FOUND', `No query API endpoint ${path}.`);
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('allow', 'GET, HEAD');
        throw new TokenmeterError('TM_METHOD_NOT_ALLOWED', `${path} is read-only: use GET.`);
      }
      sendJson(req, res, await route(search, viewer));
    },
  };
}
