// Issue #11 item 3: the OTLP sink exports the GenAI semantic conventions' histograms, over
// http/json and http/protobuf, to a real receiver; the payload is decoded and checked against
// the calls made through a real gateway with a simulator upstream.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OPERATION_DURATION_BUCKETS, TOKEN_USAGE_BUCKETS } from '../../src/sinks/genai-conventions.js';
import {
  decodeJsonExport,
  decodeProtobufExport,
  type DecodedExport,
  type DecodedPoint,
} from './otlp-decode.js';
import { startReceiver } from './receivers.js';
import { chat, KEYS, messages, startSinkGateway, type CallUsage } from './sink-gateway.js';

// The conventions' advisory boundaries, as the specification lists them.
const SPEC_TOKEN_BUCKETS = [
  1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];
const SPEC_DURATION_BUCKETS = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

function sumWhere(points: DecodedPoint[], match: Record<string, string>): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  for (const p of points)
    if (Object.entries(match).every(([k, v]) => p.attributes[k] === v)) {
      sum += p.sum;
      count += p.count;
    }
  return { sum, count };
}

const total = (calls: CallUsage[], field: 'prompt' | 'completion'): number =>
  calls.reduce((s, c) => s + c[field], 0);

for (const protocol of ['http/json', 'http/protobuf'] as const) {
  test(`OTLP ${protocol}: gen_ai.client.token.usage and operation.duration match the calls`, async () => {
    const receiver = await startReceiver();
    const h = await startSinkGateway({
      otlp: {
        endpoint: `${receiver.url}/v1/metrics`,
        protocol,
        intervalMs: 3_600_000,
        headers: { 'x-collector-key': 'secret-1' },
      },
    });
    const teamA = [await chat(h.gw, KEYS.a), await chat(h.gw, KEYS.a, 'gpt-4o', { 'x-app': 'billing' })];
    const teamB = [await messages(h.gw, KEYS.b)];
    const failed = await chat(h.gw, KEYS.b, 'gpt-4o-mini', { 'x-simulator-fail': '429' });
    assert.equal(failed.status, 429);
    await h.close(); // the last export happens at close
    await receiver.close();

    assert.equal(receiver.accepted.length, 1);
    const request = receiver.accepted[0];
    assert.ok(request !== undefined);
    assert.equal(request.path, '/v1/metrics');
    assert.equal(request.headers['x-collector-key'], 'secret-1');
    assert.equal(
      request.headers['content-type'],
      protocol === 'http/json' ? 'application/json' : 'application/x-protobuf',
    );
    const exports: DecodedExport[] =
      protocol === 'http/json' ? decodeJsonExport(request.body) : decodeProtobufExport(request.body);
    assert.equal(exports.length, 1);
    const [exp] = exports;
    assert.ok(exp !== undefined);
    assert.equal(exp.resource['service.name'], 'tokenmeter');
    assert.equal(exp.resource['service.instance.id'], 'gw-test-1');
    assert.equal(exp.resource['tokenmeter.gateway.location'], 'westeurope');

    const usage = exp.metrics.find((m) => m.name === 'gen_ai.client.token.usage');
    const duration = exp.metrics.find((m) => m.name === 'gen_ai.client.operation.duration');
    assert.ok(usage !== undefined && duration !== undefined);
    assert.equal(usage.unit, '{token}');
    assert.equal(duration.unit, 's');
    assert.equal(usage.temporality, 1, 'delta');
    assert.deepEqual(TOKEN_USAGE_BUCKETS, SPEC_TOKEN_BUCKETS);
    assert.deepEqual(OPERATION_DURATION_BUCKETS, SPEC_DURATION_BUCKETS);
    for (const p of usage.points) {
      assert.deepEqual(p.bounds, SPEC_TOKEN_BUCKETS);
      assert.equal(p.buckets.length, SPEC_TOKEN_BUCKETS.length + 1);
      assert.equal(
        p.buckets.reduce((s, n) => s + n, 0),
        p.count,
      );
    }
    for (const p of duration.points) assert.deepEqual(p.bounds, SPEC_DURATION_BUCKETS);

    // Token sums by type and by subscription (an APIM-named dimension, exported under its key).
    const openAi = {
      'gen_ai.provider.name': 'openai',
      'gen_ai.operation.name': 'chat',
      subscription: 'team-a',
    };
    assert.deepEqual(sumWhere(usage.points, { ...openAi, 'gen_ai.token.type': 'input' }), {
      sum: total(teamA, 'prompt'),
      count: 2,
    });
    assert.deepEqual(sumWhere(usage.points, { ...openAi, 'gen_ai.token.type': 'output' }), {
      sum: total(teamA, 'completion'),
      count: 2,
    });
    const anthropic = {
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.operation.name': 'chat',
      subscription: 'team-b',
    };
    assert.equal(
      sumWhere(usage.points, { ...anthropic, 'gen_ai.token.type': 'input' }).sum,
      total(teamB, 'prompt'),
    );
    assert.equal(
      sumWhere(usage.points, { ...anthropic, 'gen_ai.token.type': 'output' }).sum,
      total(teamB, 'completion'),
    );
    // Models and the custom dimension.
    assert.equal(
      sumWhere(usage.points, { 'gen_ai.request.model': 'gpt-4o', 'gen_ai.token.type': 'input' }).count,
      1,
    );
    assert.equal(
      sumWhere(usage.points, { app: 'billing', 'gen_ai.token.type': 'output' }).sum,
      teamA[1]?.completion,
    );
    const responseModels = new Set(usage.points.map((p) => p.attributes['gen_ai.response.model']));
    for (const call of [...teamA, ...teamB]) assert.ok(responseModels.has(call.model), call.model);
    for (const p of usage.points) {
      assert.equal(p.attributes.api !== undefined, true);
      assert.equal(p.attributes['error.type'], undefined);
    }

    // Every call has a duration; the failed one carries error.type.
    assert.equal(
      duration.points.reduce((s, p) => s + p.count, 0),
      4,
    );
    assert.deepEqual(sumWhere(duration.points, { 'error.type': '429' }).count, 1);
    assert.equal(
      duration.points
        .filter((p) => p.attributes['error.type'] === undefined)
        .reduce((s, p) => s + p.count, 0),
      3,
    );
  });
}

test('OTLP: points of successive intervals are separate deltas that add up', async () => {
  const receiver = await startReceiver();
  const h = await startSinkGateway({
    otlp: { endpoint: `${receiver.url}/v1/metrics`, protocol: 'http/json', intervalMs: 3_600_000 },
  });
  const otlp = h.gw.metricSinks.otlp;
  assert.ok(otlp !== undefined);
  const first = await chat(h.gw, KEYS.a);
  await otlp.loop.tick();
  await otlp.loop.tick(); // nothing happened: nothing is sent
  const second = await chat(h.gw, KEYS.a);
  await h.close();
  await receiver.close();
  assert.equal(receiver.accepted.length, 2);
  const inputs = receiver.accepted.map((r) => {
    const usage = decodeJsonExport(r.body)[0]?.metrics.find((m) => m.name === 'gen_ai.client.token.usage');
    return sumWhere(usage?.points ?? [], { 'gen_ai.token.type': 'input' }).sum;
  });
  assert.deepEqual(inputs, [first.prompt, second.prompt]);
});
