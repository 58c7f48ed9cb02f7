import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { listen } from '../http-listen.js';
import pino, { type Logger } from 'pino';
import { Counter } from 'prom-client';
import type { Config } from '../config/schema.js';
import { TokenmeterError } from '../errors.js';
import { createDimensionEvaluator } from '../dimensions/custom-dimensions.js';
import { createDimensionErrorReporter } from '../dimensions/dimension-error-reporter.js';
import { createRecordIdGenerator } from '../ledger/record-id.js';
import { fallbackJournalPath, openFallbackJournal } from '../ledger/fallback-journal.js';
import { describeLedgerUrl, openLedger, parseLedgerUrl, type Ledger } from '../ledger/ledger.js';
import { createPrometheusMetrics, type PrometheusMetrics } from '../metrics/prometheus-metrics.js';
import { createCallPricer } from '../pricing/call-pricer.js';
import { startSimulator, type Simulator } from '../simulator/index.js';
import { createApiRouter } from './api-router.js';
import { closeBackends, createBackends, type Backend } from './backends.js';
import { createClientIpResolver } from './client-ip.js';
import { acceptHttp2Cleartext } from './http2-cleartext.js';
import { createDrainTracker, type DrainSummary, type DrainTracker } from './drain.js';
import { proxyCall, type ProxyDeps } from './proxy-call.js';
import { createRecordSink, type RecordSink } from './record-sink.js';
import { createRefusalCounter } from './refusal-counter.js';
import { sendUnknownError } from './send-error.js';
import { createCallerIdentifier } from '../auth/identify-caller.js';
import { createSubscriptionDirectory } from '../auth/subscription-directory.js';
import { createManagedKeys, type ManagedKeys } from '../auth/managed-keys.js';
import { openKeyStore } from '../auth/open-key-store.js';
import { createAdminApi, type AdminApi } from '../admin/admin-api.js';
import { createAdminKey } from '../admin/admin-key.js';
import { createDashboard, type Dashboard } from '../dashboard/dashboard-routes.js';
import { createAlertChannels } from '../budgets/alert-delivery.js';
import { exposeBudgetRatios } from '../budgets/budget-gauge.js';
import { createBudgetTracker, type BudgetTracker } from '../budgets/budget-tracker.js';
import { startReportSchedule, type ReportSchedule } from '../reports/report-schedule.js';
import { claimsReadBy } from '../trace/claims-read.js';
import { createCallTracer } from '../trace/call-tracer.js';
import type { RollupBuildProgress } from '../ledger/rollup-store.js';
import { createMetricSinks, type MetricSinkOptions, type MetricSinks } from '../sinks/metric-sinks.js';
import { createOutboxLedger, type OutboxLedger } from '../outbox/outbox-ledger.js';
import { outboxRoot } from '../outbox/outbox-location.js';
import { createRealtimeGateway, type RealtimeGateway } from '../realtime/realtime-upgrade.js';

export interface GatewayOptions {
  /** Overrides config.ledger (tests, demo). */
  ledgerUrl?: string;
  /**
   * A ledger opened by the caller for the URL in effect (tests of a failing ledger); the gateway
   * still finds its fallback journal from the URL, and closes the ledger on close.
   */
  ledger?: Ledger;
  /** Overrides config.gateway.port (0 = any free port). */
  port?: number;
  logger?: Logger;
  /** Progress of the ledger's rollup build at open (`tokenmeter serve` shows it on stderr). */
  onRollupBuild?: RollupBuildProgress;
  /** Budget tracking: a wall clock to cross a month in tests, the ledger refresh period (1000 ms). */
  budgets?: { clock?: () => number; refreshMs?: number };
  /** `reports.schedule`: a wall clock and the check period (default hourly), for tests. */
  reports?: { clock?: () => number; checkMs?: number };
  /** OTLP / Azure Monitor sink tunables (export timeout, queue bound, Azure interval), for tests. */
  metricSinks?: MetricSinkOptions;
}

/** A running gateway. */
export interface Gateway {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  ledger: Ledger;
  metrics: PrometheusMetrics;
  /** The recording path: its stats and health (GET /readyz). */
  records: RecordSink;
  /** The simulator backends this gateway started, by backend id. */
  simulators: ReadonlyMap<string, Simulator>;
  /** The budgets of the subscriptions, when any is configured. */
  budgets: BudgetTracker | undefined;
  /** The monthly report delivery, when `reports.schedule` is set. */
  reportSchedule: ReportSchedule | undefined;
  /** The OTLP / Azure Monitor metric sinks (none when `metrics` configures neither). */
  metricSinks: MetricSinks;
  /**
   * Stops the gateway: no new connections, the calls in flight finish for up to
   * `drainTimeoutMs` (default: no deadline; the calls left at the deadline are cut and recorded
   * `partial`), then the ledger and every other resource close. Resolves with what the drain did.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<DrainSummary>;
}

/** Builds a pino logger on stderr; TOKENMETER_LOG_LEVEL overrides the level (default info). */
export function createLogger(level = 'info'): Logger {
  return pino({ level: process.env.TOKENMETER_LOG_LEVEL ?? level }, pino.destination(2));
}

/**
 * Starts the gateway: simulator backends (if any), the ledger, metrics and the HTTP server.
 * Resolves once the server listens.
 */
export async function startGateway(config: Config, options: GatewayOptions = {}): Promise<Gateway> {
  const log = options.logger ?? createLogger();
  // Pure set-up first: what can only fail on a bad configuration holds no resources yet.
  const metrics = createPrometheusMetrics(config.tokenMetrics);
  const router = createApiRouter(config);
  const customDimensions = createDimensionEvaluator(
    config.tokenMetrics.flatMap((m) => m.dimensions),
    { onError: createDimensionErrorReporter(metrics.registry, log) },
  );
  const managedKeys = createManagedKeys({ subscriptions: config.subscriptions, log });
  const directory = createSubscriptionDirectory(config, { managedKeys });
  const callers = createCallerIdentifier(config, directory, { log });
  const adminKey = createAdminKey(config.admin.key);
  const tracer = createCallTracer(adminKey, {
    claimsRead: claimsReadBy(
      config.tokenMetrics.flatMap((m) =>
        m.dimensions.flatMap((d) => (typeof d === 'string' ? [] : [d.value])),
      ),
    ),
  });
  const admin = createAdminApi(adminKey, tracer);
  const ledgerUrl = options.ledgerUrl ?? config.ledger;
  const journalPath = fallbackJournalPath(parseLedgerUrl(ledgerUrl));
  const ledger =
    options.ledger ?? openLedgerForStart(ledgerUrl, config.ledgerPolicy.outbox, log, options.onRollupBuild);
  const outbox = 'outbox' in ledger ? (ledger as OutboxLedger).outbox : undefined;
  const simulators = new Map<string, Simulator>();
  let backends = new Map<string, Backend>();
  // Whatever was started is released again if a later step fails (e.g. EADDRINUSE), so the
  // process can exit with the error instead of hanging on open handles.
  const budgets = createBudgets(config, ledger, log, options.budgets);
  // Metric sinks only observe durable records; their exports run on their own timers.
  const metricSinks = createMetricSinks(config, metrics.registry, log, options.metricSinks);
  const observers = [metrics, ...metricSinks.observers, ...(budgets === undefined ? [] : [budgets])];
  const sink = createRecordSink(ledger, observers, log, {
    whenUnavailable: config.ledgerPolicy.whenUnavailable,
    ...(journalPath !== undefined ? { journal: openFallbackJournal(journalPath) } : {}),
  });
  exposeRecordingStats(metrics, sink);
  if (outbox !== undefined) exposeOutboxStats(metrics, outbox);
  if (budgets !== undefined) exposeBudgetRatios(metrics.registry, budgets);
  let reportSchedule: ReportSchedule | undefined;
  const releaseResources = async (): Promise<void> => {
    callers.close();
    await reportSchedule?.close();
    await budgets?.close();
    await managedKeys.close();
    await closeBackends(backends);
    await Promise.all([...simulators.values()].map((s) => s.close()));
    await sink.close();
    await metricSinks.close();
    await ledger.close();
  };
  let server: Server;
  let drain: DrainTracker;
  let url: string;
  let realtime: RealtimeGateway | undefined;
  try {
    // Records a previous run left in the fallback journal reach the ledger before new calls do.
    await sink.recover();
    // ... and the records an earlier run left in the outbox, as far as the ledger takes them soon.
    await outbox?.catchUp(START_CATCH_UP_MS);
    await budgets?.start();
    await startManagedKeys(managedKeys, ledgerUrl, config.gateway.keyRefreshMs, metrics, log);
    for (const backend of config.backends) {
      if (backend.type !== 'simulator') continue;
      const simulator = await startSimulator({ ...(backend.simulator ?? {}), host: '127.0.0.1', port: 0 });
      simulators.set(backend.id, simulator);
    }
    backends = createBackends(config, (b) => simulators.get(b.id)?.url ?? b.url ?? '');
    const clientIp = createClientIpResolver(config.gateway.trustedProxies);
    const dashboard = createDashboard({
      config,
      ledger,
      ledgerUrl,
      adminKey,
      subscriptions: directory,
      clientIp,
      log,
    });
    const deps: ProxyDeps = {
      config,
      router,
      callers,
      backends,
      clientIp,
      customDimensions,
      sink,
      prices: createCallPricer(config),
      nextRecordId: createRecordIdGenerator(),
      tracer,
      refusals: createRefusalCounter(metrics.registry),
      log,
      ...(budgets !== undefined ? { budgets } : {}),
    };
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      const handling = handleRequest(req, res, deps, metrics, sink, outbox, admin, dashboard).catch(
        (err: unknown) => {
          log.error({ err }, 'request failed');
          sendUnknownError(res, err);
        },
      );
      drain.track(req, res, handling);
    };
    server = createServer(clientLimits(config.gateway), handler);
    // HTTP/2 cleartext with prior knowledge on the same port (the AWS SDK's default handler).
    const http2 = acceptHttp2Cleartext(server, handler, {
      firstBytesTimeoutMs: config.gateway.headersTimeoutMs,
      requestTimeoutMs: config.gateway.requestTimeoutMs,
      idleTimeoutMs: config.gateway.keepAliveTimeoutMs,
      log,
    });
    drain = createDrainTracker(server, http2);
    // Realtime sessions (WebSocket upgrades): docs/realtime.md.
    const sessions = createRealtimeGateway(deps);
    realtime = sessions;
    server.on('upgrade', sessions.handleUpgrade);
    metrics.addInternalGauge(
      'tokenmeter_realtime_sessions',
      'Realtime WebSocket sessions open.',
      () => sessions.sessions,
    );
    applyConnectionLimits(server, config.gateway, metrics);
    url = await listen(server, options.port ?? config.gateway.port, config.gateway.host);
    reportSchedule = startReportSchedule({ config, ledger, ledgerUrl, log, ...options.reports });
  } catch (err) {
    await releaseResources();
    throw err;
  }
  log.info({ url }, 'tokenmeter gateway listening');

  return {
    url,
    ledger,
    metrics,
    records: sink,
    simulators,
    budgets,
    reportSchedule,
    metricSinks,
    async close(options = {}) {
      // The drain stops listening at once (before any await: serve logs "new connections refused"
      // right after calling close) and waits for each call's record to be committed. Realtime
      // sessions are closed (1001) meanwhile, their records committed too; only then does the
      // sink close.
      const draining = drain.drain(options.drainTimeoutMs);
      await realtime?.close();
      const summary = await draining;
      await releaseResources();
      return summary;
    },
  };
}

async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: ProxyDeps,
  metrics: PrometheusMetrics,
  sink: RecordSink,
  outbox: OutboxLedger['outbox'] | undefined,
  admin: AdminApi,
  dashboard: Dashboard,
): Promise<void> {
  if (req.url !== undefined && admin.serves(req.url)) {
    admin.handle(req, res);
    return;
  }
  // /dashboard and /api are reserved (config/validate-references.ts): no API path reaches them.
  if (req.url !== undefined && dashboard.serves(req.url)) {
    await dashboard.handle(req, res);
    return;
  }
  if (req.method === 'GET' && (req.url === '/metrics' || req.url?.startsWith('/metrics?') === true)) {
    const body = await metrics.render();
    res.writeHead(200, { 'content-type': metrics.contentType });
    res.end(body);
    return;
  }
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  if (req.method === 'GET' && req.url === '/readyz') {
    // Readiness, not liveness: false while a metered call could not be recorded in the ledger.
    // Still ready while the outbox is written but not shipped: its records are safe.
    const health = sink.health();
    const shipping = outbox === undefined ? {} : { outbox: outboxHealth(outbox) };
    const body = health.ready
      ? { status: 'ready', ...shipping }
      : { status: 'unavailable', ...health, ...shipping };
    res.writeHead(health.ready ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
    return;
  }
  await proxyCall(req, res, deps);
}

/**
 * Loads the managed keys of the ledger (none for an in-memory one) and keeps them fresh: every
 * `refreshMs` a poll reads the change counter on a connection of its own whose lock wait is
 * short (a busy ledger skips a poll instead of stalling calls), and reloads when it moved.
 */
async function startManagedKeys(
  managedKeys: ManagedKeys,
  ledgerUrl: string,
  refreshMs: number,
  metrics: PrometheusMetrics,
  log: Logger,
): Promise<void> {
  try {
    // Handed over at once: managedKeys.close (releaseResources) closes it, whatever happens next.
    const store = openKeyStore(ledgerUrl, { busyTimeoutMs: KEY_POLL_BUSY_TIMEOUT_MS });
    if (store !== undefined) await managedKeys.start(store, refreshMs);
  } catch (err) {
    if (isUnreachableSharedLedger(ledgerUrl, err)) {
      // A shared ledger that is down at start must not keep the gateway from serving: the
      // outbox holds the records, the YAML keys work, the managed keys load at the first poll
      // that reaches the server (managedKeys keeps polling).
      log.warn(
        { err },
        'managed keys cannot be loaded: the PostgreSQL ledger is unreachable; the gateway serves the YAML keys and loads the managed ones once it is back',
      );
    } else {
      const reason = err instanceof Error ? err.message : String(err);
      throw new TokenmeterError(
        'TM_LEDGER_UNAVAILABLE',
        `cannot read managed keys from ${describeLedgerUrl(ledgerUrl)}: ${reason}`,
        {
          cause: err,
        },
      );
    }
  }
  metrics.addInternalGauge(
    'tokenmeter_managed_keys_loaded',
    'Live managed key secrets the gateway holds (tokenmeter keys).',
    () => managedKeys.size,
  );
  metrics.addInternalGauge(
    'tokenmeter_managed_keys_reload_failures',
    'Polls of the managed keys that failed; the keys loaded last stayed in use.',
    () => managedKeys.reloadFailures,
  );
}

/** Whether `err` says that the ledger is a PostgreSQL server out of reach now (not misconfigured). */
function isUnreachableSharedLedger(ledgerUrl: string, err: unknown): boolean {
  return (
    parseLedgerUrl(ledgerUrl).kind === 'postgres' &&
    err instanceof TokenmeterError &&
    err.code === 'TM_LEDGER_UNAVAILABLE'
  );
}

/** The budget tracker when a subscription has a budget (none otherwise: no timer, no cost per call). */
function createBudgets(
  config: Config,
  ledger: Ledger,
  log: Logger,
  options: GatewayOptions['budgets'] = {},
): BudgetTracker | undefined {
  if (!config.subscriptions.some((s) => s.budget !== undefined)) return undefined;
  return createBudgetTracker({
    subscriptions: config.subscriptions,
    timeZone: config.reports.timezone,
    currency: config.pricing.currency,
    ledger,
    channels: createAlertChannels(config.alerts, config.smtp),
    log,
    ...options,
  });
}

/**
 * The key poller's lock wait, milliseconds. WAL readers are rarely blocked at all (a checkpoint
 * truncating the WAL, another process recovering it); when they are, 100 ms on the event loop
 * is the most a poll may cost, and the next poll tries again.
 */
const KEY_POLL_BUSY_TIMEOUT_MS = 100;

/** How long start-up waits for the outbox to ship what an earlier run left, milliseconds. */
const START_CATCH_UP_MS = 2000;

/**
 * Opens the ledger at start-up; a failure (a directory in the way, not an SQLite file, no
 * permission) becomes TM_LEDGER_UNAVAILABLE naming the URL, for a one-line start-up error.
 * A file or PostgreSQL ledger is written through the outbox (docs/outbox.md): the returned
 * ledger journals each record locally and a worker ships it; an in-memory one is written directly.
 */
function openLedgerForStart(
  url: string,
  configuredOutbox: string | undefined,
  log: Logger,
  onRollupBuild: RollupBuildProgress | undefined,
): Ledger {
  let reader: Ledger;
  try {
    reader = openLedger(url, onRollupBuild === undefined ? {} : { onRollupBuild });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new TokenmeterError(
      'TM_LEDGER_UNAVAILABLE',
      `cannot open the ledger ${describeLedgerUrl(url)}: ${reason}`,
      {
        cause: err,
      },
    );
  }
  const root = outboxRoot(parseLedgerUrl(url), configuredOutbox);
  if (root === undefined) return reader;
  try {
    return createOutboxLedger({ url, root, reader, log });
  } catch (err) {
    void reader.close();
    const reason = err instanceof Error ? err.message : String(err);
    throw new TokenmeterError('TM_LEDGER_UNAVAILABLE', `cannot open the outbox ${root}: ${reason}`, {
      cause: err,
    });
  }
}

/** The outbox part of `/readyz`. */
function outboxHealth(outbox: OutboxLedger['outbox']): Record<string, unknown> {
  const status = outbox.status();
  return {
    pending: status.pending,
    oldestPendingSeconds: Math.round(status.oldestPendingSeconds * 10) / 10,
    target: status.target,
    ...(status.lastError !== undefined ? { lastError: status.lastError } : {}),
  };
}

/** The outbox's shipping, next to the recording path's own gauges. */
function exposeOutboxStats(metrics: PrometheusMetrics, outbox: OutboxLedger['outbox']): void {
  metrics.addInternalGauge(
    'tokenmeter_outbox_records_pending',
    'Usage records in the outbox not shipped to the ledger yet.',
    () => outbox.status().pending,
  );
  metrics.addInternalGauge(
    'tokenmeter_outbox_oldest_pending_seconds',
    'Age of the oldest usage record in the outbox not shipped yet, seconds (0 when none).',
    () => outbox.status().oldestPendingSeconds,
  );
  metrics.addInternalGauge(
    'tokenmeter_outbox_ship_failures_total',
    'Attempts to ship outbox records to the ledger that failed (each retry counts).',
    () => outbox.status().shipFailures,
  );
  metrics.addInternalGauge(
    'tokenmeter_outbox_records_shipped_total',
    'Usage records the outbox shipped to the ledger.',
    () => outbox.status().shipped,
  );
  metrics.addInternalGauge(
    'tokenmeter_outbox_lines_rejected_total',
    'Outbox lines set aside in rejected.ndjson instead of shipped (see docs/outbox.md).',
    () => outbox.status().rejected,
  );
}

/**
 * The client-side timeouts of node:http (gateway.requestTimeoutMs, headersTimeoutMs).
 * requestTimeout bounds receiving the request only: once its body is complete the connection
 * leaves Node's expiry list, so a long streamed answer is never cut by it. Node enforces both
 * on a periodic sweep (connectionsCheckingInterval, 30 s by default, far coarser than the
 * timeouts themselves); a sweep every tenth of the shorter timeout, between 10 ms and 1 s, keeps
 * a deadline within 10% (1 s at the defaults) for a walk over the open connections per sweep.
 * An expired request gets `408 Request Timeout` and its connection is closed.
 */
function clientLimits(limits: Config['gateway']): {
  requestTimeout: number;
  headersTimeout: number;
  connectionsCheckingInterval: number;
} {
  const shorter = Math.min(limits.requestTimeoutMs, limits.headersTimeoutMs);
  return {
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: limits.headersTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, Math.max(10, Math.floor(shorter / 10))),
  };
}

/**
 * Idle keep-alive connections close after gateway.keepAliveTimeoutMs (Node tells the client that
 * figure in `Keep-Alive: timeout=…` and closes its side 1 s later, so the client, told the
 * figure, closes first: measured 1.3 s for 300 ms on Node 20); at gateway.maxConnections
 * open client connections Node closes each new one at accept (its 'drop' event), counted in
 * tokenmeter_connections_refused_total. tokenmeter_open_connections is the open count.
 */
function applyConnectionLimits(server: Server, limits: Config['gateway'], metrics: PrometheusMetrics): void {
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxConnections = limits.maxConnections;
  let open = 0;
  server.on('connection', (socket) => {
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
  });
  metrics.addInternalGauge(
    'tokenmeter_open_connections',
    'Client connections open on the gateway.',
    () => open,
  );
  const refused = new Counter({
    name: 'tokenmeter_connections_refused_total',
    help: 'Client connections closed at accept because gateway.maxConnections were open.',
    registers: [metrics.registry],
  });
  server.on('drop', () => refused.inc());
}

/** The recording path's own health, next to the token metrics. */
function exposeRecordingStats(metrics: PrometheusMetrics, sink: RecordSink): void {
  const { stats } = sink;
  metrics.addInternalGauge(
    'tokenmeter_ledger_append_failures',
    'Ledger appends that failed (retries included).',
    () => stats.appendFailures,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_retry_pending',
    'Usage records held only in memory: neither the ledger nor the fallback journal could write.',
    () => stats.pending,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_records_dropped',
    'Usage records nothing could hold (memory bound, or stopping): written to stderr as JSON lines.',
    () => stats.dropped,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_writable',
    '1 while the ledger writes, 0 from a failed append until it has taken every held-back record.',
    () => (stats.ledgerWritable ? 1 : 0),
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_journal_pending',
    'Usage records in the fallback journal waiting for import into the ledger.',
    () => stats.journalPending,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_journal_write_failures',
    'Appends to the fallback journal that failed.',
    () => stats.journalWriteFailures,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_journal_import_failures',
    'Fallback journal imports that failed (retried with backoff).',
    () => stats.importFailures,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_journal_lines_rejected',
    'Fallback journal lines that were not a usage record (torn, damaged): set aside, not imported.',
    () => stats.journalLinesRejected,
  );
  metrics.addInternalGauge(
    'tokenmeter_ledger_calls_refused',
    'Metered calls refused with TM_LEDGER_UNAVAILABLE before forwarding.',
    () => stats.refusedCalls,
  );
  metrics.addInternalGauge(
    'tokenmeter_record_observer_failures',
    'Record observers (metrics) that threw.',
    () => stats.observerFailures,
  );
}
