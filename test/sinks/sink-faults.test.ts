// Issue #11 item 5: an OTLP or Application Insights endpoint that is down (closed port), hangs
// (accepts, never answers) or answers 500 leaves calls unaffected; the sink's queue stays within
// its bound, dropping the oldest points (counted in tokenmeter_metric_export_dropped_total), and
// once the endpoint recovers the points it kept arrive. Records are never dropped: the ledger
// holds every call.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MetricEnvelope } from '../../src/sinks/azure-monitor-sink.js';
import type { SinkName } from '../../src/sinks/sink-counters.js';
import { decodeProtobufExport } from './otlp-decode.js';
import { closedPort, startReceiver, type ReceivedRequest, type Receiver } from './receivers.js';
import { chat, KEYS, startSinkGateway, type CallUsage } from './sink-gateway.js';

const IKEY = '0f3c6a8e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';

/** Points one call of one dimension set makes per interval: OTLP input+output+duration; Azure prompt+completion+total. */
const POINTS_PER_INTERVAL = 3;
/** The queue holds two intervals' points. */
const BOUND = 2 * POINTS_PER_INTERVAL;
const FAILING_INTERVALS = 4;

const trackAnswer = (req: ReceivedRequest): string => {
  const n = (JSON.parse(req.body.toString('utf8')) as unknown[]).length;
  return JSON.stringify({ itemsReceived: n, itemsAccepted: n, errors: [] });
};

/** Input (prompt) tokens in what the receiver accepted. */
function promptTokensReceived(sink: SinkName, requests: ReceivedRequest[]): number {
  let sum = 0;
  for (const r of requests) {
    if (sink === 'otlp') {
      for (const exp of decodeProtobufExport(r.body))
        for (const m of exp.metrics)
          if (m.name === 'gen_ai.client.token.usage')
            for (const p of m.points) if (p.attributes['gen_ai.token.type'] === 'input') sum += p.sum;
    } else {
      for (const e of JSON.parse(r.body.toString('utf8')) as MetricEnvelope[])
        if (e.data.baseData.metrics[0]?.name === 'Prompt Tokens') sum += e.data.baseData.metrics[0].value;
    }
  }
  return sum;
}

function sample(exposition: string, name: string, sink: SinkName): number {
  const line = exposition.split('\n').find((l) => l.startsWith(`${name}{sink="${sink}"}`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

for (const sink of ['otlp', 'azureMonitor'] as const)
  for (const fault of ['down', 'hang', 'fail500'] as const)
    test(`${sink}: endpoint ${fault}: calls succeed, the queue stays bounded, kept points arrive after recovery`, async () => {
      const answer = sink === 'azureMonitor' ? trackAnswer : () => '';
      let receiver: Receiver | undefined;
      let port: number;
      if (fault === 'down') port = await closedPort();
      else {
        receiver = await startReceiver(fault, answer);
        port = receiver.port;
      }
      const base = `http://127.0.0.1:${port}`;
      const metrics =
        sink === 'otlp'
          ? { otlp: { endpoint: `${base}/v1/metrics`, protocol: 'http/protobuf', intervalMs: 3_600_000 } }
          : { azureMonitor: { connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${base}` } };
      const h = await startSinkGateway(metrics, {
        timeoutMs: 300,
        maxQueuedPoints: BOUND,
        azureIntervalMs: 3_600_000,
      });
      const loop = (sink === 'otlp' ? h.gw.metricSinks.otlp : h.gw.metricSinks.azureMonitor)?.loop;
      assert.ok(loop !== undefined);
      try {
        const calls: CallUsage[] = [];
        let droppedBefore = 0;
        for (let interval = 0; interval < FAILING_INTERVALS; interval++) {
          const call = await chat(h.gw, KEYS.a);
          assert.equal(call.status, 200);
          calls.push(call);
          await loop.tick();
          assert.ok(loop.queuedPoints <= BOUND, `queued ${loop.queuedPoints} > ${BOUND}`);
          const dropped = sample(await h.gw.metrics.render(), 'tokenmeter_metric_export_dropped_total', sink);
          // Nothing is dropped until the bound is reached; past it, each interval drops one interval's points.
          assert.equal(dropped, Math.max(0, (interval + 1 - 2) * POINTS_PER_INTERVAL));
          assert.ok(dropped >= droppedBefore);
          droppedBefore = dropped;
        }
        assert.equal(loop.peakQueuedPoints, BOUND);
        if (fault !== 'down') assert.ok((receiver?.seen ?? 0) > 0, 'the endpoint was tried');
        const exposition = await h.gw.metrics.render();
        assert.match(
          exposition,
          new RegExp(`tokenmeter_metric_exports_total\\{sink="${sink}",outcome="failure"\\} [1-9]`),
        );

        // Recovery: the endpoint answers again; the next interval sends what was kept plus its own.
        if (receiver === undefined) receiver = await startReceiver('ok', answer, port);
        else receiver.mode = 'ok';
        const last = await chat(h.gw, KEYS.a);
        calls.push(last);
        await loop.tick();
        assert.equal(loop.queuedPoints, 0);
        // Kept: the last two intervals' points (the bound), the older ones were dropped.
        const kept = calls.slice(-2).reduce((s, c) => s + c.prompt, 0);
        assert.equal(promptTokensReceived(sink, receiver.accepted), kept);
        assert.equal(
          sample(await h.gw.metrics.render(), 'tokenmeter_metric_export_dropped_total', sink),
          (calls.length - 2) * POINTS_PER_INTERVAL,
        );
        // Records are never dropped: the ledger has every call.
        assert.equal(h.gw.records.stats.dropped, 0);
        assert.equal(await h.gw.ledger.count(), calls.length);
      } finally {
        await h.close();
        await receiver?.close();
      }
    });

for (const sink of ['otlp', 'azureMonitor'] as const)
  test(`${sink}: closing the gateway while the endpoint never answers ends, and counts what could not be sent`, async () => {
    const receiver = await startReceiver('hang');
    const metrics =
      sink === 'otlp'
        ? { otlp: { endpoint: `${receiver.url}/v1/metrics`, protocol: 'http/json', intervalMs: 3_600_000 } }
        : {
            azureMonitor: {
              connectionString: `InstrumentationKey=${IKEY};IngestionEndpoint=${receiver.url}`,
            },
          };
    const h = await startSinkGateway(metrics, { timeoutMs: 200, azureIntervalMs: 3_600_000 });
    try {
      const call = await chat(h.gw, KEYS.a);
      assert.equal(call.status, 200);
      await h.close(); // the last attempt hangs until the timeout, then close goes on
      assert.equal(receiver.seen, 1, 'one last attempt was made');
      const exposition = await h.gw.metrics.render();
      assert.equal(sample(exposition, 'tokenmeter_metric_export_dropped_total', sink), POINTS_PER_INTERVAL);
      assert.match(
        exposition,
        new RegExp(`tokenmeter_metric_exports_total\\{sink="${sink}",outcome="failure"\\} 1`),
      );
      assert.equal(h.gw.records.stats.dropped, 0);
    } finally {
      await receiver.close();
    }
  });
