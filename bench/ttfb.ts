import { Client } from 'undici';
import { percentile } from './load.js';

/** Time to first byte and whole-stream time of sequential streaming requests, milliseconds. */
export interface TtfbResult {
  firstByteP50: number;
  firstByteP99: number;
  totalP50: number;
  failed: number;
}

/**
 * Sends `count` streaming requests one after another over one keep-alive connection (after
 * `warmup` unmeasured ones) and times the arrival of the first body chunk and of the end.
 * The upstream is paced, so a proxy that buffered the stream would show a first byte as late as
 * the whole stream.
 */
export async function measureTtfb(
  url: string,
  options: { count: number; warmup: number; body: string; headers: Record<string, string> },
): Promise<TtfbResult> {
  const target = new URL(url);
  const client = new Client(target.origin, { keepAliveTimeout: 30_000 });
  const firstBytes: number[] = [];
  const totals: number[] = [];
  let failed = 0;
  try {
    for (let i = 0; i < options.warmup + options.count; i++) {
      const start = performance.now();
      let first = Number.NaN;
      const res = await client.request({
        path: target.pathname + target.search,
        method: 'POST',
        headers: options.headers,
        body: options.body,
      });
      for await (const chunk of res.body) {
        if (Number.isNaN(first) && (chunk as Buffer).length > 0) first = performance.now() - start;
      }
      const total = performance.now() - start;
      if (i < options.warmup) continue;
      if (res.statusCode !== 200 || Number.isNaN(first)) {
        failed++;
        continue;
      }
      firstBytes.push(first);
      totals.push(total);
    }
  } finally {
    await client.close();
  }
  const sortedFirst = Float64Array.from(firstBytes).sort();
  return {
    firstByteP50: percentile(sortedFirst, 50),
    firstByteP99: percentile(sortedFirst, 99),
    totalP50: percentile(Float64Array.from(totals).sort(), 50),
    failed,
  };
}
