// Every Ollama capture (test/fixtures/captures/ollama, INDEX.md) replayed whole and split at
// random byte boundaries (fast-check), with the counts INDEX.md says a parser must find.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { ollamaAdapter } from '../../src/providers/ollama/index.js';
import { readFamilyCapture } from './family-captures.js';
import { splitAt } from '../sse/chunking.js';

function route(subPath: string): RouteMatch {
  const match = ollamaAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

const JSON_CASES: { file: string; path: string; usage: TokenUsage; model?: string }[] = [
  {
    file: 'ollama-chat-nonstream.json',
    path: '/api/chat',
    usage: { promptTokens: 17, completionTokens: 66, totalTokens: 83 },
    model: 'llama3',
  },
  {
    // The same prompt again: served from Ollama's cache, `prompt_eval_count` left out.
    file: 'ollama-chat-nonstream-cached-prompt.json',
    path: '/api/chat',
    usage: { completionTokens: 79, totalTokens: 79 },
    model: 'llama3',
  },
  {
    file: 'ollama-chat-nonstream-toolcalls.json',
    path: '/api/chat',
    usage: { promptTokens: 44, completionTokens: 113, totalTokens: 157 },
    model: 'llama3.1',
  },
  {
    file: 'ollama-generate-nonstream.json',
    path: '/api/generate',
    usage: { promptTokens: 17, completionTokens: 63, totalTokens: 80 },
    model: 'llama3',
  },
  // The legacy /api/embeddings answers a vector and no count: nothing reported (estimated).
  { file: 'ollama-embeddings-legacy.json', path: '/api/embeddings', usage: {} },
];

const STREAM_CASES: { file: string; path: string; usage: TokenUsage; lines: number }[] = [
  {
    file: 'ollama-chat-stream.ndjson',
    path: '/api/chat',
    usage: { promptTokens: 17, completionTokens: 50, totalTokens: 67 },
    lines: 50,
  },
  {
    file: 'ollama-generate-stream.ndjson',
    path: '/api/generate',
    usage: { promptTokens: 17, completionTokens: 71, totalTokens: 88 },
    lines: 71,
  },
  {
    file: 'ollama-generate-stream-cached-prompt.ndjson',
    path: '/api/generate',
    usage: { completionTokens: 58, totalTokens: 58 },
    lines: 58,
  },
  {
    file: 'ollama-generate-stream-gemma3.ndjson',
    path: '/api/generate',
    usage: { promptTokens: 16, completionTokens: 51, totalTokens: 67 },
    lines: 51,
  },
];

describe('non-streamed captures', () => {
  for (const c of JSON_CASES) {
    test(c.file, () => {
      const body = JSON.parse(readFamilyCapture('ollama', c.file).toString('utf8')) as unknown;
      const extracted = ollamaAdapter.extractUsage(route(c.path), body);
      // deepEqual is strict: a count the capture lacks must be absent, not 0.
      assert.deepEqual(extracted.usage, c.usage);
      assert.equal(extracted.responseModel, c.model);
    });
  }
});

function replay(path: string, pieces: readonly Buffer[]): { result: StreamResult; out: Buffer } {
  const tap = ollamaAdapter.createStreamTap(route(path), { stripUsageChunk: false });
  const out: Buffer[] = [];
  for (const piece of pieces) out.push(tap.push(piece));
  out.push(tap.flush());
  return { result: tap.result(), out: Buffer.concat(out) };
}

describe('streamed captures', () => {
  for (const c of STREAM_CASES) {
    const bytes = readFamilyCapture('ollama', c.file);
    test(`${c.file}: the content type is a stream, the label kept`, () => {
      assert.equal(ollamaAdapter.isStreamedResponse?.(route(c.path), 'application/x-ndjson'), true);
      assert.equal(
        ollamaAdapter.isStreamedResponse?.(route(c.path), 'application/json; charset=utf-8'),
        false,
      );
      assert.equal(bytes.toString('utf8').trimEnd().split('\n').length, c.lines);
    });

    test(`${c.file}: whole`, () => {
      const { result, out } = replay(c.path, [bytes]);
      assert.deepEqual(result.usage, c.usage);
      assert.equal(result.completed, true);
      assert.equal(result.errored, false);
      assert.ok(out.equals(bytes), 'bytes relayed unchanged');
    });

    test(`${c.file}: split anywhere, the same counts and the same bytes`, () => {
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 80 }), (points) => {
          const { result, out } = replay(c.path, splitAt(bytes, points));
          assert.deepEqual(result.usage, c.usage);
          assert.equal(result.completed, true);
          assert.ok(out.equals(bytes));
        }),
        { numRuns: 150 },
      );
    });

    test(`${c.file}: one byte at a time`, () => {
      const pieces = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
      assert.deepEqual(replay(c.path, pieces).result.usage, c.usage);
    });

    test(`${c.file}: cut before the final object, nothing reported and not completed`, () => {
      const text = bytes.toString('utf8');
      const lastLine = text.lastIndexOf('\n', text.length - 2) + 1;
      const cut = Buffer.from(text.slice(0, lastLine + 40));
      const { result } = replay(c.path, [cut]);
      assert.deepEqual(result.usage, {});
      assert.equal(result.completed, false);
      // The text generated so far is there for the estimate.
      assert.ok(result.generatedText.length > 0);
    });
  }
});
