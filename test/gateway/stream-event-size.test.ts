// Issue #7, class 2: a large stream event must not lose the usage that follows it. A rogue
// backend sends events of 1.5 MiB and 5 MiB (read exactly, default gateway.maxEventBytes) and
// events above a small configured maxEventBytes (forwarded unread, the usage after them still
// read, the call flagged), in every stream format, split at random byte boundaries.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import {
  ALL_FORMATS,
  chunkedAnswer,
  COMPAT,
  gatewayConfig,
  GEMINI_ARRAY,
  GEMINI_SSE,
  without,
  type Counts,
  type StreamFormat,
  type StreamSpec,
} from './stream-formats.js';

const MiB = 1024 * 1024;
const SMALL = 64 * 1024;
const USAGE: Counts = { prompt: 1234, completion: 56789 };

let rogue: RogueBackend;
let gwDefault: GatewayProcess;
let gwSmall: GatewayProcess;

before(async () => {
  rogue = await startRogueBackend();
  [gwDefault, gwSmall] = await Promise.all([
    startGatewayProcess(gatewayConfig(rogue.url)),
    startGatewayProcess({ ...gatewayConfig(rogue.url), gateway: { maxEventBytes: SMALL } }),
  ]);
});

after(async () => {
  await Promise.all([gwDefault.stop(), gwSmall.stop()]);
  await rogue.close();
});

interface Call {
  status: number;
  received: Buffer;
  expected: Buffer;
  row: LedgerRow;
}

/** One call through `gw` while the backend streams `spec` in `format`, cut at seeded random points. */
async function call(gw: GatewayProcess, format: StreamFormat, spec: StreamSpec, seed: number): Promise<Call> {
  const built = format.build(spec);
  rogue.script(() => chunkedAnswer(format.contentType, built.bytes, seed));
  const rowsBefore = readLedgerRows(gw.ledgerPath).length;
  const res = await fetch(gw.url + format.path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...format.headers },
    body: JSON.stringify(format.body),
  });
  const received = Buffer.from(await res.arrayBuffer());
  const rows = readLedgerRows(gw.ledgerPath);
  assert.equal(rows.length, rowsBefore + 1, 'one record per call');
  const row = rows.at(-1);
  assert.ok(row);
  return { status: res.status, received, expected: without(built.bytes, built.injected), row };
}

function assertCounts(row: LedgerRow, counts: Counts, label: string): void {
  assert.deepEqual(
    [row.prompt_tokens, row.completion_tokens, row.total_tokens],
    [counts.prompt, counts.completion, counts.prompt + counts.completion],
    label,
  );
}

/** The value of tokenmeter_stream_event_too_large_total for a backend. */
async function tooLargeCount(gw: GatewayProcess, backend: string): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith(`tokenmeter_stream_event_too_large_total{backend="${backend}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

/** Warnings the gateway logged about an event over maxEventBytes, by backend. */
function tooLargeWarnings(gw: GatewayProcess, backend: string): number {
  return gw
    .stderr()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level?: number; backend?: string; maxEventBytes?: number })
    .filter((entry) => entry.level === 40 && entry.backend === backend && entry.maxEventBytes === SMALL)
    .length;
}

describe('events of 1.5 MiB and 5 MiB are metered exactly (default maxEventBytes)', () => {
  for (const format of ALL_FORMATS) {
    for (const [i, size] of [1.5 * MiB, 5 * MiB].entries()) {
      test(`${format.name}: ${size / MiB} MiB event`, async () => {
        const { status, received, expected, row } = await call(
          gwDefault,
          format,
          { bigBytes: size, usage: USAGE },
          100 + i,
        );
        assert.equal(status, 200);
        assert.ok(received.equals(expected), 'the client gets every byte but the injected usage chunk');
        assertCounts(row, USAGE, format.name);
        assert.equal(row.source, 'reported');
        assert.equal(row.flags, null);
      });
    }
  }
});

describe('an event above a small maxEventBytes: forwarded unread, the usage after it still read', () => {
  for (const [i, format] of ALL_FORMATS.entries()) {
    test(format.name, async () => {
      const counted = await tooLargeCount(gwSmall, format.backend);
      const warned = tooLargeWarnings(gwSmall, format.backend);
      const { status, received, expected, row } = await call(
        gwSmall,
        format,
        { bigBytes: 3 * SMALL, usage: USAGE },
        200 + i,
      );
      assert.equal(status, 200);
      assert.ok(received.equals(expected), 'every byte forwarded, the injected usage chunk still stripped');
      // The provider's own counts stand; the record says an event was not read.
      assertCounts(row, USAGE, format.name);
      assert.equal(row.source, 'reported');
      assert.equal(row.flags, 'event_too_large');
      assert.equal(await tooLargeCount(gwSmall, format.backend), counted + 1);
      assert.equal(tooLargeWarnings(gwSmall, format.backend), warned + 1);
    });
  }

  test('two oversized events in one stream: one flag, one count, one warning', async () => {
    const counted = await tooLargeCount(gwSmall, 'oai');
    const format: StreamFormat = {
      ...ALL_FORMATS[0]!,
      build: (spec) => {
        const once = ALL_FORMATS[0]!.build(spec);
        const big = `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: 'x'.repeat(2 * SMALL) } }] })}\n\n`;
        return { ...once, bytes: Buffer.concat([Buffer.from(big), once.bytes]) };
      },
    };
    const { received, expected, row } = await call(
      gwSmall,
      format,
      { bigBytes: 3 * SMALL, usage: USAGE },
      300,
    );
    assert.ok(received.equals(expected));
    assertCounts(row, USAGE, 'two oversized');
    assert.equal(row.flags, 'event_too_large');
    assert.equal(await tooLargeCount(gwSmall, 'oai'), counted + 1);
  });
});

describe('an event above maxEventBytes and no usage read: estimated and flagged', () => {
  const cases: [StreamFormat, StreamSpec][] = [
    // The backend reports no usage at all: estimated from the text that could be read.
    [COMPAT, { bigBytes: 3 * SMALL }],
    // The only usage rides on the oversized chunk itself.
    [GEMINI_SSE, { bigBytes: 3 * SMALL, usage: USAGE, usageInBigEvent: true }],
    [GEMINI_ARRAY, { bigBytes: 3 * SMALL, usage: USAGE, usageInBigEvent: true }],
  ];
  for (const [i, [format, spec]] of cases.entries()) {
    test(format.name, async () => {
      const { status, received, expected, row } = await call(gwSmall, format, spec, 400 + i);
      assert.equal(status, 200);
      assert.ok(received.equals(expected));
      assert.equal(row.flags, 'event_too_large');
      // Gemini's first chunk said prompt 1234, completion 1 (cumulative): never the oversized
      // chunk's counts, which were not read.
      if (format === COMPAT) {
        assert.equal(row.source, 'estimated');
        assert.ok(Number(row.prompt_tokens) > 0 && Number(row.completion_tokens) > 0);
        // Only "Hello" and "!" could be read: a handful of tokens, not the 96 KiB unread.
        assert.ok(Number(row.completion_tokens) < 10, `completion ${row.completion_tokens}`);
      } else {
        assert.ok(Number(row.completion_tokens) < USAGE.completion);
      }
    });
  }
});
