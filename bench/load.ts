import autocannon from 'autocannon';

/** Throughput and latency of one autocannon run against one target. */
export interface LoadResult {
  requestsPerSecond: number;
  /** Milliseconds, from every 2xx response's own timing (autocannon's histogram has 1 ms steps). */
  p50: number;
  p99: number;
  /** 2xx responses. */
  ok: number;
  /** Non-2xx responses plus connection errors and timeouts. */
  failed: number;
}

/** One load scenario. */
export interface LoadOptions {
  connections: number;
  seconds: number;
  body: string;
  headers: Record<string, string>;
}

/** Nearest-rank percentile of ascending-sorted values (NaN when empty). */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * Runs autocannon (programmatic API) with `connections` keep-alive connections for `seconds`,
 * POSTing `body` to `url`. Latency percentiles are computed from the fractional response times
 * autocannon reports per response, so sub-millisecond differences stay visible.
 */
export async function runLoad(url: string, options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = [];
  const instance = autocannon({
    url,
    method: 'POST',
    connections: options.connections,
    duration: options.seconds,
    timeout: 30,
    headers: options.headers,
    body: options.body,
  });
  instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
    if (statusCode >= 200 && statusCode < 300) latencies.push(responseTime);
  });
  const result = await instance;
  const sorted = Float64Array.from(latencies).sort();
  return {
    requestsPerSecond: result.duration > 0 ? sorted.length / result.duration : 0,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    ok: sorted.length,
    failed: result.non2xx + result.errors + result.timeouts,
  };
}
