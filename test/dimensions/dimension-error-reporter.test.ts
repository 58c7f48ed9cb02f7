import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Registry } from 'prom-client';
import { createDimensionEvaluator } from '../../src/dimensions/custom-dimensions.js';
import {
  createDimensionErrorReporter,
  DIMENSION_ERROR_LOG_INTERVAL_MS,
} from '../../src/dimensions/dimension-error-reporter.js';

/** A pino logger whose lines land in `lines`, parsed. */
function capturingLogger(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'warn' },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

async function errorCount(registry: Registry, dimension: string): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('tokenmeter_dimension_errors_total')?.get();
  return metric?.values.find((v) => v.labels['dimension'] === dimension)?.value;
}

describe('createDimensionErrorReporter', () => {
  it('counts every failure and logs each dimension at most once per minute', async () => {
    const registry = new Registry();
    const { log, lines } = capturingLogger();
    let now = 1_000_000;
    const report = createDimensionErrorReporter(registry, log, { now: () => now });
    const secret = 'sk-live-0123456789abcdef';
    const dims = createDimensionEvaluator(
      [
        { name: 'n', value: "int(request.headers['authorization'])", default: 'nan' },
        { name: 'zero', value: '1 / 0', default: 'inf' },
      ],
      { onError: report },
    );
    const ctx = {
      request: { method: 'POST', path: '/p', headers: { authorization: secret }, stream: false },
      api: { id: 'a' },
    };
    for (let i = 0; i < 5; i++) assert.deepEqual(dims.evaluate(ctx).values, { n: 'nan', zero: 'inf' });
    assert.equal(await errorCount(registry, 'n'), 5);
    assert.equal(await errorCount(registry, 'zero'), 5);
    assert.deepEqual(
      lines.map((l) => [l['dimension'], l['code'], l['unloggedSinceLast']]),
      [
        ['n', 'int_conversion_error', 0],
        ['zero', 'division_by_zero', 0],
      ],
    );
    now += DIMENSION_ERROR_LOG_INTERVAL_MS - 1;
    dims.evaluate(ctx);
    assert.equal(lines.length, 2, 'still within the minute');
    now += 1;
    dims.evaluate(ctx);
    assert.deepEqual(
      lines.slice(2).map((l) => [l['dimension'], l['unloggedSinceLast']]),
      [
        ['n', 5],
        ['zero', 5],
      ],
    );
    assert.equal(await errorCount(registry, 'n'), 7);
    for (const line of lines) {
      assert.equal(line['level'], 40, 'warn');
      assert.ok(!JSON.stringify(line).includes(secret), 'a header value is never logged');
    }
  });

  it('does not count or log a missing key', async () => {
    const registry = new Registry();
    const { log, lines } = capturingLogger();
    const dims = createDimensionEvaluator(
      [{ name: 'team', value: "request.headers['x-team']", default: '-' }],
      {
        onError: createDimensionErrorReporter(registry, log),
      },
    );
    const ctx = { request: { method: 'POST', path: '/p', headers: {}, stream: false }, api: { id: 'a' } };
    assert.deepEqual(dims.evaluate(ctx).values, { team: '-' });
    assert.equal(await errorCount(registry, 'team'), undefined);
    assert.deepEqual(lines, []);
  });
});
