import { createServer } from 'node:http';
import { listen } from '../http-listen.js';
import pino, { type Logger } from 'pino';
import { createAdminKey } from '../admin/admin-key.js';
import { createManagedKeys } from '../auth/managed-keys.js';
import { openKeyStore } from '../auth/open-key-store.js';
import { createSubscriptionDirectory } from '../auth/subscription-directory.js';
import type { Config } from '../config/schema.js';
import { createDashboard } from './dashboard-routes.js';
import { TokenmeterError } from '../errors.js';
import { createClientIpResolver } from '../gateway/client-ip.js';
import { sendError } from '../gateway/send-error.js';
import { openLedger, type Ledger } from '../ledger/ledger.js';

/** What startDashboardServer needs besides the configuration; everything has a default. */
export interface DashboardServerOptions {
  /** 0 = any free port (tests); default `gateway.port`. */
  port?: number;
  /** Default `gateway.host`. */
  host?: string;
  /** An open ledger (closed by `close`); default: config.ledger, opened here. */
  ledger?: Ledger;
  /** Where the dashboard's files are (tests); default src/dashboard/public. */
  publicDir?: string;
  logger?: Logger;
}

/** A running dashboard server. */
export interface DashboardServer {
  /** Base URL, e.g. http://127.0.0.1:8080 (the dashboard is at `${url}/dashboard`). */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves only the dashboard and its query API (no proxying) against the configured ledger: the
 * same routes, keys and sessions as the gateway's. Managed keys are read from the ledger and
 * refreshed every `gateway.keyRefreshMs`, so a revoked key ends its sessions here too.
 * Resolves once the server listens.
 */
export async function startDashboardServer(
  config: Config,
  options: DashboardServerOptions = {},
): Promise<DashboardServer> {
  const log =
    options.logger ?? pino({ level: process.env.TOKENMETER_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const managedKeys = createManagedKeys({ subscriptions: config.subscriptions, log });
  const ledger = options.ledger ?? openLedger(config.ledger);
  const release = async (): Promise<void> => {
    await managedKeys.close();
    await ledger.close();
  };
  try {
    const store = openKeyStore(config.ledger, { busyTimeoutMs: 100 });
    if (store !== undefined) await managedKeys.start(store, config.gateway.keyRefreshMs);
    const dashboard = createDashboard({
      config,
      ledger,
      ledgerUrl: config.ledger,
      adminKey: createAdminKey(config.admin.key),
      subscriptions: createSubscriptionDirectory(config, { managedKeys }),
      clientIp: createClientIpResolver(config.gateway.trustedProxies),
      log,
      ...(options.publicDir !== undefined && { publicDir: options.publicDir }),
    });
    const server = createServer((req, res) => {
      if (req.url !== undefined && dashboard.serves(req.url)) {
        void dashboard.handle(req, res);
        return;
      }
      req.resume();
      if (req.url === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
        res.writeHead(302, { location: '/dashboard', 'content-length': 0 });
        res.end();
        return;
      }
      sendError(res, new TokenmeterError('TM_NOT_FOUND', 'This server only serves /dashboard and /api.'));
    });
    const url = await listen(
      server,
      options.port ?? config.gateway.port,
      options.host ?? config.gateway.host,
    );
    return {
      url,
      async close() {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await release();
      },
    };
  } catch (err) {
    await release();
    throw err;
  }
}
