// The ollama adapter's rules and its bad inputs: routes, request facts, counts (absent ≠ 0,
// durations are not tokens, absurd counts), and the NDJSON tap (malformed lines, oversized
// lines, error lines, the end marker, CRLF, any split point).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult, StreamTapOptions } from '../../src/providers/types.js';
import { createLineSplitter, ollamaAdapter } from '../../src/providers/ollama/index.js';
import { invalidUsageFields } from '../../src/usage.js';
import { MAX_GENERATED_TEXT_CHARS } from '../../src/providers/generated-text.js';
import { MAX_EVENT_LOG_BYTES } from '../../src/sse/event-log.js';
import { splitAt } from '../sse/chunking.js';

function route(subPath: string): RouteMatch {
  const match = ollamaAdapter.matchRoute('POST', subPath);
  assert.ok(match, `no route for ${subPath}`);
  return match;
}

const CHAT = '/api/chat';
const piece = (content: string): string =>
  `${JSON.stringify({ model: 'llama3', message: { role: 'assistant', content }, done: false })}\n`;
const final = (extra: Record<string, unknown> = {}): string =>
  `${JSON.stringify({ model: 'llama3', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', total_duration: 123456789, prompt_eval_count: 12, prompt_eval_duration: 5000, eval_count: 3, eval_duration: 9000, ...extra })}\n`;

function replay(
  text: string | Buffer,
  options: Partial<StreamTapOptions> = {},
  points: number[] = [],
): StreamResult {
  const tap = ollamaAdapter.createStreamTap(route(CHAT), { stripUsageChunk: false, ...options });
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  for (const part of splitAt(bytes, points)) assert.equal(tap.push(part), part);
  tap.flush();
  return tap.result();
}

describe('routes and requests', () => {
  test('the four generating routes, POST only; model management routes are not routes of this API', () => {
    assert.deepEqual(
      ['/api/chat', '/api/generate', '/api/embed', '/api/embeddings'].map((p) => route(p).operation),
      ['chat', 'generate', 'embed', 'embeddings'],
    );
    assert.equal(route('/api/chat?x=1').upstreamPath, '/api/chat?x=1');
    for (const path of ['/api/tags', '/api/pull', '/api/show', '/v1/chat/completions', '/api/chat/x'])
      assert.equal(ollamaAdapter.matchRoute('POST', path), undefined, path);
    assert.equal(ollamaAdapter.matchRoute('GET', '/api/chat'), undefined);
  });

  test('stream is the default for chat and generate; only `stream: false` turns it off; embed never streams', () => {
    const facts = (path: string, body: unknown): [boolean, string | undefined] => {
      const info = ollamaAdapter.inspectRequest(route(path), body);
      return [info.stream, info.model];
    };
    assert.deepEqual(facts(CHAT, { model: 'llama3' }), [true, 'llama3']);
    assert.deepEqual(facts(CHAT, { model: 'llama3', stream: null }), [true, 'llama3']);
    assert.deepEqual(facts(CHAT, { model: 'llama3', stream: false }), [false, 'llama3']);
    assert.deepEqual(facts('/api/generate', { model: 'm', stream: 'false' }), [true, 'm']);
    assert.deepEqual(facts('/api/embed', { model: 'e', stream: true }), [false, 'e']);
    assert.deepEqual(facts(CHAT, { model: 42 }), [true, undefined]);
    assert.deepEqual(facts(CHAT, 'not an object'), [true, undefined]);
  });

  test('prompt text for estimation', () => {
    assert.equal(
      ollamaAdapter.promptText(route(CHAT), {
        messages: [
          { role: 'system', content: 'Be terse.' },
          { role: 'user', content: 'Hi', images: ['AAAA'] },
        ],
      }),
      'Be terse.\nHi',
    );
    assert.equal(
      ollamaAdapter.promptText(route('/api/generate'), { system: 'S', prompt: 'P', suffix: 'X' }),
      'S\nP\nX',
    );
    assert.equal(ollamaAdapter.promptText(route('/api/embed'), { input: ['a', 'b', 3] }), 'a\nb');
    assert.equal(ollamaAdapter.promptText(route('/api/embed'), { input: 'one' }), 'one');
    assert.equal(ollamaAdapter.promptText(route('/api/embeddings'), { prompt: 'legacy' }), 'legacy');
    assert.equal(ollamaAdapter.promptText(route(CHAT), { messages: 'nope' }), '');
  });

  test('only an NDJSON answer of chat or generate is a stream', () => {
    const streamed = (path: string, type: string): boolean | undefined =>
      ollamaAdapter.isStreamedResponse?.(route(path), type);
    assert.equal(streamed(CHAT, 'application/x-ndjson'), true);
    assert.equal(streamed('/api/generate', 'application/x-ndjson; charset=utf-8'), true);
    assert.equal(streamed(CHAT, 'application/json; charset=utf-8'), false);
    assert.equal(streamed('/api/embed', 'application/x-ndjson'), false);
  });

  test('backend credential: Bearer', () => {
    assert.deepEqual(ollamaAdapter.backendAuth('k'), { header: 'authorization', value: 'Bearer k' });
  });
});

describe('counts of a complete answer', () => {
  const usage = (body: unknown, path = CHAT): unknown => ollamaAdapter.extractUsage(route(path), body).usage;

  test('absent prompt_eval_count stays absent (never 0); durations are never tokens', () => {
    assert.deepEqual(usage({ done: true, eval_count: 5, prompt_eval_duration: 99 }), {
      completionTokens: 5,
      totalTokens: 5,
    });
    assert.deepEqual(usage({ done: true, total_duration: 1e9, load_duration: 5, eval_duration: 7 }), {});
    assert.deepEqual(
      usage({ model: 'all-minilm', embeddings: [[0.1]], prompt_eval_count: 6 }, '/api/embed'),
      {
        promptTokens: 6,
        totalTokens: 6,
      },
    );
  });

  test('an error body yields nothing; a body without counts keeps its text for the estimate', () => {
    assert.deepEqual(ollamaAdapter.extractUsage(route(CHAT), { error: 'model "x" not found' }), {
      usage: {},
    });
    const extracted = ollamaAdapter.extractUsage(route(CHAT), {
      model: 'm',
      message: { content: 'Hello', thinking: 'Hm' },
    });
    assert.deepEqual(extracted.usage, {});
    assert.equal(extracted.generatedText, 'HelloHm');
  });

  test('absurd counts are invalid (screened by the core), never billed as they are', () => {
    for (const bad of [1e20, -1, 1.5, '12', 2 ** 53]) {
      const extracted = ollamaAdapter.extractUsage(route(CHAT), {
        done: true,
        prompt_eval_count: bad,
        eval_count: 3,
      });
      assert.ok(invalidUsageFields(extracted.usage).length > 0, String(bad));
      assert.equal(typeof extracted.generatedText, 'string');
    }
  });
});

describe('the NDJSON tap', () => {
  const good = piece('Hel') + piece('lo') + final();
  const expected = { promptTokens: 12, completionTokens: 3, totalTokens: 15 };

  test('counts only from the final object; the end is done: true; what follows is not read', () => {
    const result = replay(good + final({ prompt_eval_count: 999, eval_count: 999 }));
    assert.deepEqual(result.usage, expected);
    assert.equal(result.completed, true);
    assert.equal(result.responseModel, 'llama3');
  });

  test('malformed lines are skipped, later lines still read, nothing counted from them', () => {
    const junk = [
      '{"model":"llama3","message":{"content":"unterminated\n',
      '[1,2]\n',
      'null\n',
      '"text"\n',
      '\u0000\u00ff garbage\n',
      '}{\n',
      '\n',
      '   \n',
    ];
    const result = replay(piece('A') + junk.join('') + piece('B') + final());
    assert.deepEqual(result.usage, expected);
    assert.equal(result.completed, true);
    assert.equal(result.errored, false);
    assert.equal(result.generatedText, 'AB');
  });

  test('a malformed final line: not completed, nothing reported (the core estimates, partial)', () => {
    const result = replay(piece('A') + final().slice(0, 40) + '\n');
    assert.deepEqual(result.usage, {});
    assert.equal(result.completed, false);
  });

  test('an {"error"} line marks the stream errored', () => {
    const result = replay(piece('A') + '{"error":"an error was encountered while running the model"}\n');
    assert.equal(result.errored, true);
    assert.equal(result.completed, false);
    assert.deepEqual(result.usage, {});
  });

  test('CRLF line endings and a last line without LF are read', () => {
    assert.deepEqual(replay(good.replaceAll('\n', '\r\n')).usage, expected);
    assert.deepEqual(replay(good.slice(0, -1)).usage, expected);
  });

  test('a line larger than maxEventBytes is forwarded unread; later lines are read', () => {
    const huge = piece('x'.repeat(5000));
    let warned = 0;
    const result = replay(
      piece('A') + huge + piece('B') + final(),
      { maxEventBytes: 1024, onEventTooLarge: () => (warned += 1) },
      [100, 700, 2000, 5100],
    );
    assert.equal(warned, 1);
    assert.equal(result.eventTooLarge, true);
    assert.equal(result.usageAfterTooLarge, true);
    assert.deepEqual(result.usage, expected);
    // The final object itself too large: its counts are not read.
    const lost = replay(piece('A') + final({ pad: 'y'.repeat(5000) }), { maxEventBytes: 1024 });
    assert.equal(lost.eventTooLarge, true);
    assert.deepEqual(lost.usage, {});
    assert.equal(lost.completed, false);
  });

  test('absurd counts in the final object reach the core as invalid', () => {
    const result = replay(piece('A') + final({ eval_count: 1e20 }));
    assert.ok(invalidUsageFields(result.usage).includes('completionTokens'));
  });

  test('thinking is output: in the text for estimation, no reasoning count', () => {
    const thought = `${JSON.stringify({ model: 'qwen3', message: { role: 'assistant', content: '', thinking: 'Hmm' }, done: false })}\n`;
    const result = replay(thought + piece('Yes') + final({ eval_count: 9 }));
    assert.equal(result.generatedText, 'HmmYes');
    assert.equal(result.usage.reasoningTokens, undefined);
    assert.equal(result.usage.completionTokens, 9);
  });

  test('pieces are read in order whether parsed at once ("true" in their text) or later', () => {
    const cut = replay(piece('A') + piece(' true story') + piece('B'));
    assert.equal(cut.generatedText, 'A true storyB');
    assert.equal(cut.responseModel, 'llama3');
    assert.equal(cut.completed, false);
  });

  test('a stream longer than the log of kept pieces keeps its text, bounded', () => {
    const line = piece('y'.repeat(1000));
    const count = Math.ceil((MAX_EVENT_LOG_BYTES * 1.2) / line.length);
    const result = replay(line.repeat(count));
    assert.equal(result.generatedText.length, Math.min(count * 1000, MAX_GENERATED_TEXT_CHARS));
  });

  test('any split point gives the same result (fast-check)', () => {
    const text = Buffer.from(piece('é😀') + '{"bad"\n' + piece('B') + final());
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: text.length - 1 }), { maxLength: 40 }), (points) => {
        const result = replay(text, {}, points);
        assert.deepEqual(result.usage, expected);
        assert.equal(result.generatedText, 'é😀B');
      }),
    );
  });
});

test('the line splitter finds exactly the lines of the whole text, wherever it is split (fast-check)', () => {
  const line = fc.string({ unit: fc.constantFrom('a', '{', '"', '\\', 'é', '😀', '\r', ' '), maxLength: 20 });
  fc.assert(
    fc.property(fc.array(line, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), (lines, cuts) => {
      const text = Buffer.from(lines.map((l) => `${l}\n`).join(''));
      const splitter = createLineSplitter();
      const seen: string[] = [];
      for (const part of splitAt(
        text,
        cuts.map((c) => (text.length > 1 ? 1 + (c % (text.length - 1)) : 0)),
      ))
        splitter.push(part, (l) => seen.push(l?.toString('utf8') ?? '<too large>'));
      assert.equal(splitter.end(), undefined);
      assert.deepEqual(
        seen,
        lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l)),
      );
    }),
  );
});
