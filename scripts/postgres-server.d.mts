/** A private PostgreSQL server (scripts/postgres-server.mjs). */
export interface PostgresServer {
  /** postgres://postgres@127.0.0.1:PORT/postgres (trust authentication). */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  readonly logFile: string;
  /** Starts it again after stop(), on the same port, with its data. */
  start(): Promise<void>;
  /** Fast shutdown; the data is kept. */
  stop(): Promise<void>;
  /** Stops it and removes its files. */
  destroy(): Promise<void>;
}

export function postgresBinDir(): string | undefined;

export function startPostgresServer(options?: { parent?: string; port?: number }): Promise<PostgresServer>;
