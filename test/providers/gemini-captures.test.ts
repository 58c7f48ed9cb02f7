// Every Gemini capture (../shared/fixtures/captures, INDEX.md section 7) replayed whole and split
// at random byte boundaries, as SSE and re-framed as the default streamed JSON array, with the
// counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { readCapture, readCaptureJson } from './captures.js';
import { createRandom, crlfMidpoints, splitAt, splitRandomly, utf8Midpoints } from '../sse/chunking.js';

const SEEDS = 150;
const SSE_PATH = '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse';
const ARRAY_PATH = '/v1beta/models/gemini-2.5-flash:streamGenerateContent';

function route(subPath: string): RouteMatch {
  const match = geminiAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

const JSON_CASES: { file: string; usage: TokenUsage; model: string }[] = [
  {
    file: 'gemini-nonstream-thoughts.json',
    // candidates 28 + thoughts 244; no cachedContentTokenCount, so cached is absent.
    usage: { promptTokens: 9, completionTokens: 272, totalTokens: 281, reasoningTokens: 244 },
    model: 'gemini-3-pro-preview',
  },
  {
    file: 'gemini-nonstream-implicit-cache.json',
    usage: {
      promptTokens: 12013,
      completionTokens: 88,
      totalTokens: 12101,
      cachedTokens: 11243,
      reasoningTokens: 73,
    },
    model: 'gemini-2.5-flash',
  },
];

interface StreamCase {
  file: string;
  usage: TokenUsage;
  /** The usage of the first chunk alone (what a stream cut after it reports). */
  firstUsage: TokenUsage;
}

const STREAM_CASES: StreamCase[] = [
  {
    file: 'gemini-stream.sse',
    // The last snapshot (candidates 80), never 31 + 79 + 80.
    usage: { promptTokens: 18, completionTokens: 115, totalTokens: 133, reasoningTokens: 35 },
    firstUsage: { promptTokens: 18, completionTokens: 66, totalTokens: 84, reasoningTokens: 35 },
  },
  {
    file: 'gemini-stream-tooluse-prompt.sse',
    // toolUsePromptTokenCount 4610 is prompt: 32 + 4610.
    usage: { promptTokens: 4642, completionTokens: 62, totalTokens: 4704, reasoningTokens: 37 },
    firstUsage: { promptTokens: 4642, completionTokens: 57, totalTokens: 4699, reasoningTokens: 37 },
  },
];

describe('non-streamed captures', () => {
  for (const c of JSON_CASES) {
    test(c.file, () => {
      const extracted = geminiAdapter.extractUsage(
        route('/v1beta/models/m:generateContent'),
        readCaptureJson(c.file),
      );
      // deepEqual is strict: a count the capture lacks must be absent, not 0.
      assert.deepEqual(extracted.usage, c.usage);
      assert.equal(extracted.responseModel, c.model);
    });
  }
});

/** The `data:` payloads of a CRLF-framed capture. */
function payloads(sse: Buffer): string[] {
  const events = sse.toString('utf8').split('\r\n\r\n');
  assert.equal(events.pop(), '', 'captures end with a blank line');
  return events.map((event) => {
    assert.ok(event.startsWith('data: '));
    return event.slice('data: '.length);
  });
}

/** The text parts of the payloads, in order: what the tap must collect for estimation. */
function expectedText(data: readonly string[]): string {
  let text = '';
  for (const payload of data) {
    const chunk = JSON.parse(payload) as { candidates: { content: { parts: { text?: string }[] } }[] };
    for (const candidate of chunk.candidates)
      for (const part of candidate.content.parts) text += part.text ?? '';
  }
  return text;
}

/** The same chunks as the default (non-SSE) framing: a JSON array, compact or pretty-printed. */
function asJsonArray(data: readonly string[], pretty: boolean): Buffer {
  const elements = pretty ? data.map((d) => JSON.stringify(JSON.parse(d), null, 2)) : data;
  return Buffer.from(`[${elements.join(',\r\n')}]`, 'utf8');
}

/** Replays `chunks` through a fresh tap of `subPath`; the bytes must come back unchanged. */
function replay(subPath: string, chunks: readonly Buffer[]): { output: Buffer; result: StreamResult } {
  const tap = geminiAdapter.createStreamTap(route(subPath), { stripUsageChunk: false });
  const out: Buffer[] = [];
  for (const chunk of chunks) {
    const forwarded = tap.push(chunk);
    // Pass-through costs nothing: the very Buffer comes back.
    assert.equal(forwarded, chunk);
    out.push(forwarded);
  }
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

function assertWhole(
  c: StreamCase,
  bytes: Buffer,
  subPath: string,
  chunks: readonly Buffer[],
  text: string,
): void {
  const { output, result } = replay(subPath, chunks);
  assert.ok(output.equals(bytes), 'bytes forwarded unchanged');
  assert.deepEqual(result.usage, c.usage);
  assert.equal(result.responseModel, 'gemini-2.5-flash');
  assert.equal(result.completed, true);
  assert.equal(result.errored, false);
  assert.equal(result.generatedText, text);
}

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    const sse = readCapture(c.file);
    const data = payloads(sse);
    const text = expectedText(data);
    const framings = [
      { name: 'SSE', path: SSE_PATH, bytes: sse },
      { name: 'JSON array', path: ARRAY_PATH, bytes: asJsonArray(data, false) },
      { name: 'pretty JSON array', path: ARRAY_PATH, bytes: asJsonArray(data, true) },
    ];
    for (const framing of framings) {
      test(`${c.file} as ${framing.name}: whole, byte by byte, mid CRLF, mid UTF-8, ${SEEDS} random splits`, () => {
        const { bytes, path } = framing;
        assertWhole(c, bytes, path, [bytes], text);
        assertWhole(c, bytes, path, splitAt(bytes, Array.from(bytes.keys())), text);
        assertWhole(c, bytes, path, splitAt(bytes, crlfMidpoints(bytes)), text);
        assertWhole(c, bytes, path, splitAt(bytes, utf8Midpoints(bytes)), text);
        for (let seed = 1; seed <= SEEDS; seed += 1) {
          assertWhole(c, bytes, path, splitRandomly(bytes, createRandom(seed)), text);
        }
      });
    }

    test(`${c.file}: a stream cut short keeps the usage seen so far and is not complete`, () => {
      const firstEnd = sse.indexOf('\r\n\r\n') + 4;
      for (const cut of [firstEnd, firstEnd + 40, sse.length - 3]) {
        const { result } = replay(SSE_PATH, [sse.subarray(0, cut)]);
        assert.equal(result.completed, cut === sse.length - 3, `cut at ${cut}`);
        // A cut inside the CRLF CRLF of the last event still reads that event (its data line is whole).
        assert.deepEqual(result.usage, cut === sse.length - 3 ? c.usage : c.firstUsage);
      }
      const array = asJsonArray(data, true);
      const secondStart = array.indexOf(',\r\n') + 3;
      for (const cut of [secondStart, secondStart + 40, array.length - 1]) {
        const { result } = replay(ARRAY_PATH, [array.subarray(0, cut)]);
        // Without its closing `]` the array is not complete, even after the finishReason chunk.
        assert.equal(result.completed, false, `cut at ${cut}`);
        assert.equal(result.errored, false);
        assert.deepEqual(result.usage, cut === array.length - 1 ? c.usage : c.firstUsage);
      }
    });
  }
});

describe('malformed and failing streams', () => {
  const data = payloads(readCapture('gemini-stream.sse'));
  const [first = '', second = '', last = ''] = data;
  const error =
    '{"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}';

  test('an error object mid-stream: errored, the usage seen before it kept', () => {
    for (const [path, bytes] of [
      [SSE_PATH, Buffer.from(`data: ${first}\r\n\r\ndata: ${error}\r\n\r\n`)],
      [ARRAY_PATH, Buffer.from(`[${first},\r\n${error}]`)],
    ] as const) {
      const { result } = replay(path, splitRandomly(bytes, createRandom(7)));
      assert.equal(result.errored, true);
      assert.equal(result.completed, false);
      assert.deepEqual(result.usage, {
        promptTokens: 18,
        completionTokens: 66,
        totalTokens: 84,
        reasoningTokens: 35,
      });
    }
  });

  test('an error answered instead of the array (a lone object) is read', () => {
    const { result } = replay(ARRAY_PATH, [Buffer.from(`${error}\n`)]);
    assert.equal(result.errored, true);
    assert.deepEqual(result.usage, {});
  });

  test('a malformed chunk is skipped, later chunks still count', () => {
    for (const [path, bytes] of [
      [
        SSE_PATH,
        Buffer.from(`data: ${first}\r\n\r\ndata: {"candidates": [tru]}\r\n\r\ndata: ${last}\r\n\r\n`),
      ],
      [ARRAY_PATH, Buffer.from(`[${first},\r\n{"candidates": [tru]},\r\n${last}]`)],
    ] as const) {
      const { result } = replay(path, [bytes]);
      assert.equal(result.completed, true);
      assert.deepEqual(result.usage, {
        promptTokens: 18,
        completionTokens: 115,
        totalTokens: 133,
        reasoningTokens: 35,
      });
    }
  });

  test('usageMetadata without counts does not wipe earlier counts; missing fields keep theirs', () => {
    const noCounts = JSON.stringify({
      candidates: [{ content: { parts: [{ text: 'x' }] } }],
      usageMetadata: {},
    });
    const promptOnly = JSON.stringify({ usageMetadata: { promptTokenCount: 18, totalTokenCount: 90 } });
    const bytes = Buffer.from(`[${second},\r\n${noCounts},\r\n${promptOnly}]`);
    const { result } = replay(ARRAY_PATH, [bytes]);
    // candidates 79 and thoughts 35 from the second chunk; total from the latest snapshot.
    assert.deepEqual(result.usage, {
      promptTokens: 18,
      completionTokens: 114,
      totalTokens: 90,
      reasoningTokens: 35,
    });
    assert.equal(result.completed, false, 'no finishReason');
  });

  test('a blocked prompt (promptFeedback.blockReason, no candidates) is a complete answer', () => {
    const blocked =
      '{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7, "totalTokenCount": 7}}';
    const { result } = replay(SSE_PATH, [Buffer.from(`data: ${blocked}\r\n\r\n`)]);
    assert.equal(result.completed, true);
    assert.deepEqual(result.usage, { promptTokens: 7, totalTokens: 7 });
  });

  test('garbage is forwarded and yields nothing', () => {
    for (const path of [SSE_PATH, ARRAY_PATH]) {
      const { output, result } = replay(path, [Buffer.from('<html>502 Bad Gateway</html>')]);
      assert.equal(output.toString(), '<html>502 Bad Gateway</html>');
      assert.deepEqual(result.usage, {});
      assert.equal(result.completed, false);
    }
  });
});
