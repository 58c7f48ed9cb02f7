// Issue #7, class 5: data after the documented end of a stream is not billed. A rogue backend
// sends a real stream, then more events after its end carrying a bigger usage (for chat also
// another usage-only chunk and another [DONE]); the record keeps the real usage, and the client
// still gets every byte the backend sent (minus only the usage chunk the gateway asked for).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readCapture } from '../helpers/capture-server.js';
import { startRogueBackend, type RogueBackend } from '../helpers/rogue-backend.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows, type LedgerRow } from '../helpers/ledger-rows.js';
import {
  ALL_FORMATS,
  ANTHROPIC,
  AZURE,
  CHAT,
  chunkedAnswer,
  gatewayConfig,
  GEMINI_ARRAY,
  GEMINI_SSE,
  RESPONSES,
  without,
  type Counts,
  type StreamFormat,
} from './stream-formats.js';

const REAL: Counts = { prompt: 20, completion: 30 };
const BIGGER: Counts = { prompt: 900_000, completion: 8_000_000 };

let rogue: RogueBackend;
let gw: GatewayProcess;

before(async () => {
  rogue = await startRogueBackend();
  gw = await startGatewayProcess(gatewayConfig(rogue.url));
});

after(async () => {
  await gw.stop();
  await rogue.close();
});

/** One call while the backend sends `bytes`; what the client got and the record. */
async function call(
  format: StreamFormat,
  bytes: Buffer,
  seed: number,
): Promise<{ received: Buffer; row: LedgerRow }> {
  rogue.script(() => chunkedAnswer(format.contentType, bytes, seed));
  const rowsBefore = readLedgerRows(gw.ledgerPath).length;
  const res = await fetch(gw.url + format.path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...format.headers },
    body: JSON.stringify(format.body),
  });
  assert.equal(res.status, 200);
  const received = Buffer.from(await res.arrayBuffer());
  const rows = readLedgerRows(gw.ledgerPath);
  assert.equal(rows.length, rowsBefore + 1, 'one record per call');
  const row = rows.at(-1);
  assert.ok(row);
  return { received, row };
}

const counts = (row: LedgerRow): unknown[] => [
  row.prompt_tokens,
  row.completion_tokens,
  row.total_tokens,
  row.cached_tokens,
  row.reasoning_tokens,
];

describe('built streams: events after the end with a bigger usage are forwarded, not billed', () => {
  // Gemini alt=sse has no end marker: the upstream closing is its end (see the README).
  for (const [i, format] of ALL_FORMATS.filter((f) => f !== GEMINI_SSE).entries()) {
    for (const seed of [1, 2, 3]) {
      test(`${format.name} (split ${seed})`, async () => {
        const built = format.build({ bigBytes: 0, usage: REAL, after: BIGGER });
        const { received, row } = await call(format, built.bytes, 1000 * i + seed);
        // Everything after the end reaches the client unchanged, even a second usage-only chunk.
        assert.ok(received.equals(without(built.bytes, built.injected)));
        assert.deepEqual(
          [row.prompt_tokens, row.completion_tokens, row.total_tokens],
          [REAL.prompt, REAL.completion, REAL.prompt + REAL.completion],
        );
        assert.equal(row.source, 'reported');
      });
    }
  }
});

/** What a misbehaving backend appends to a capture after its documented end. */
const AFTER_END: Record<string, string> = {
  chat:
    'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"more"}}]}\n\n' +
    'data: {"id":"x","object":"chat.completion.chunk","choices":[],"usage":{"prompt_tokens":900000,"completion_tokens":8000000,"total_tokens":8900000}}\n\n' +
    'data: [DONE]\n\n',
  responses:
    'event: response.completed\ndata: {"type":"response.completed","response":{"id":"r","status":"completed",' +
    '"usage":{"input_tokens":900000,"output_tokens":8000000,"total_tokens":8900000}}}\n\n',
  anthropic:
    // The capture ends without the blank line of its last event: the backend completes it first.
    '\n\nevent: message_delta\ndata: {"type":"message_delta","delta":{},"usage":{"output_tokens":8000000}}\n\n' +
    'event: message_stop\ndata: {"type":"message_stop"}\n\n',
};

describe('recorded streams with a bigger usage after their end', () => {
  const cases: { format: StreamFormat; file: string; after: string; expected: unknown[] }[] = [
    {
      format: CHAT,
      file: 'openai-chat-stream-toolcall-usage.sse',
      after: AFTER_END.chat!,
      expected: [53, 15, 68, 0, 0],
    },
    {
      format: AZURE,
      file: 'azure-chat-stream-filter-usage.sse',
      after: AFTER_END.chat!,
      expected: [15, 78, 93, 0, 64],
    },
    {
      format: RESPONSES,
      file: 'openai-responses-stream-cached-reasoning.sse',
      after: AFTER_END.responses!,
      expected: [9463, 582, 10045, 8320, 512],
    },
    {
      format: ANTHROPIC,
      file: 'anthropic-messages-stream.sse',
      after: AFTER_END.anthropic!,
      expected: [11, 6, 17, null, null],
    },
  ];
  for (const [i, { format, file, after: tail, expected }] of cases.entries()) {
    test(`${format.name}: ${file}`, async () => {
      const capture = readCapture(file);
      const bytes = Buffer.concat([capture, Buffer.from(tail)]);
      const { received, row } = await call(format, bytes, 50 + i);
      // The chat client did not ask for usage: the real usage chunk (before [DONE]) is stripped,
      // the one after [DONE] is forwarded as it came.
      if (format === CHAT || format === AZURE) {
        const usageEvent = capture
          .toString('latin1')
          .split(/(?<=\n\n)/)
          .find((event) => /"choices":\[\]/.test(event) && /"usage":\{/.test(event));
        assert.ok(usageEvent);
        assert.ok(received.equals(without(bytes, Buffer.from(usageEvent, 'latin1'))));
      } else {
        assert.ok(received.equals(bytes));
      }
      assert.deepEqual(counts(row), expected);
      assert.equal(row.source, 'reported');
    });
  }

  test('gemini JSON array: elements and arrays after the closing bracket are not read', async () => {
    // The recorded alt=sse chunks, framed as the streamed JSON array.
    const elements = readCapture('gemini-stream.sse')
      .toString()
      .split('\r\n\r\n')
      .filter((event) => event.startsWith('data: '))
      .map((event) => event.slice('data: '.length));
    const array = Buffer.from(`[${elements.join(',\r\n')}]`);
    const plain = await call(GEMINI_ARRAY, array, 60);
    const late =
      '{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],' +
      '"usageMetadata":{"promptTokenCount":900000,"candidatesTokenCount":8000000,"totalTokenCount":8900000}}';
    const bytes = Buffer.concat([array, Buffer.from(`,\r\n${late}]\r\n[${late}]`)]);
    const { received, row } = await call(GEMINI_ARRAY, bytes, 61);
    assert.ok(received.equals(bytes));
    assert.deepEqual(counts(row), counts(plain.row));
    assert.equal(row.source, 'reported');
    assert.ok(Number(row.prompt_tokens) < 900_000);
  });
});
