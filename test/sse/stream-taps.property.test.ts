// Fuzz (issue #7, "Done means"): every stream tap against random streams of its format: random
// event sizes (some over a small maxEventBytes), random split points (inside UTF-8 characters
// and CRLF pairs among them), LF / CR / CRLF line endings, comments and keep-alives, and junk
// after the documented end with a bigger usage. The tap never throws, forwards every byte but
// exactly the usage chunk the gateway injected, and reports the usage the stream carried before
// its end: never more than the backend reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { RouteMatch, StreamResult, StreamTap, StreamTapOptions } from '../../src/providers/types.js';
import type { TokenUsage } from '../../src/usage.js';
import { openAiAdapter } from '../../src/providers/openai/index.js';
import { anthropicAdapter } from '../../src/providers/anthropic/index.js';
import { geminiAdapter } from '../../src/providers/gemini/index.js';
import { crlfMidpoints, splitAt, utf8Midpoints } from './chunking.js';

const MAX = 256;
const RUNS = 200;

/** One piece of a generated stream; `injected` marks the usage chunk the gateway must strip. */
interface Piece {
  text: string;
  injected?: boolean;
}

interface Case {
  pieces: Piece[];
  usage: TokenUsage;
  /** An event over MAX came before the end. */
  tooLarge: boolean;
  /** The stream has a documented end the tap must see. */
  ends: boolean;
}

const eol = fc.constantFrom('\n', '\r', '\r\n');
const count = fc.integer({ min: 0, max: 1_000_000 });
/** Short text of any characters (JSON-escaped where it goes). */
const smallText = fc.string({ unit: 'binary', maxLength: 12 });
/** Text whose event is over MAX: two-byte and four-byte characters, so splits fall inside them. */
const bigText = fc
  .tuple(fc.integer({ min: MAX, max: 3 * MAX }), fc.constantFrom('é', '😀', 'x'))
  .map(([n, c]) => c.repeat(n / c.length));
const text = fc.oneof({ weight: 4, arbitrary: smallText }, { weight: 1, arbitrary: bigText });

/** One SSE event of `lines` (an optional comment line first), ended with a blank line. */
const event = (lines: string[], e: string, comment = false): string =>
  (comment ? `: keep-alive${e}` : '') + lines.map((l) => l + e).join('') + e;

/** Keep-alives between events: comment-only events, in any line ending. */
const keepAlive = fc
  .tuple(fc.constantFrom(':', ': ping', ':keep-alive'), eol)
  .map(([c, e]) => ({ text: `${c}${e}${e}` }));

const isBig = (t: string): boolean => Buffer.byteLength(t) >= MAX;

/** Pieces with keep-alives inserted at random places. */
function withKeepAlives(pieces: Piece[], alives: { at: number; piece: Piece }[]): Piece[] {
  const out = [...pieces];
  for (const { at, piece } of alives) out.splice(at % (out.length + 1), 0, piece);
  return out;
}
const keepAlives = fc.array(fc.record({ at: fc.nat(), piece: keepAlive }), { maxLength: 3 });

function run(tap: StreamTap, input: Buffer, points: number[]): { output: Buffer; result: StreamResult } {
  const out = splitAt(input, points).map((chunk) => tap.push(chunk));
  out.push(tap.flush());
  return { output: Buffer.concat(out), result: tap.result() };
}

/** Random split points, some inside UTF-8 characters and CRLF pairs. */
const splits = fc.record({
  any: fc.array(fc.nat(), { maxLength: 16 }),
  utf8: fc.array(fc.nat(), { maxLength: 4 }),
  crlf: fc.array(fc.nat(), { maxLength: 4 }),
});
function points(input: Buffer, s: { any: number[]; utf8: number[]; crlf: number[] }): number[] {
  const pick = (from: number[], at: number[]): number[] =>
    from.length === 0 ? [] : at.map((i) => from[i % from.length]!);
  return [
    ...s.any.map((p) => p % (input.length + 1)),
    ...pick(utf8Midpoints(input), s.utf8),
    ...pick(crlfMidpoints(input), s.crlf),
  ];
}

function check(c: Case, tap: StreamTap, s: { any: number[]; utf8: number[]; crlf: number[] }): void {
  const input = Buffer.from(c.pieces.map((p) => p.text).join(''));
  const expected = Buffer.from(c.pieces.flatMap((p) => (p.injected === true ? [] : [p.text])).join(''));
  const { output, result } = run(tap, input, points(input, s));
  assert.ok(output.equals(expected), 'every byte forwarded but exactly the injected usage chunk');
  assert.deepEqual(result.usage, c.usage);
  assert.equal(result.eventTooLarge === true, c.tooLarge);
  assert.equal(tap.isComplete?.() === true, c.ends);
}

function route(adapter: typeof openAiAdapter, subPath: string): RouteMatch {
  const match = adapter.matchRoute('POST', subPath);
  assert.ok(match);
  return match;
}
const tapOptions = (stripUsageChunk: boolean): StreamTapOptions => ({ stripUsageChunk, maxEventBytes: MAX });

// --- OpenAI chat / completions ---------------------------------------------------------------

const chatUsage = fc.record({ p: count, c: count });
const chatCase = fc
  .record({
    strip: fc.boolean(),
    completions: fc.boolean(),
    before: fc.array(fc.tuple(text, eol, fc.boolean()), { maxLength: 5 }),
    usageAt: fc.nat(),
    usage: chatUsage,
    usageEol: eol,
    doneEol: eol,
    after: fc.array(
      fc.oneof(
        fc.tuple(text, eol).map(([t, e]) => ({ kind: 'text' as const, t, e })),
        fc.tuple(chatUsage, eol).map(([u, e]) => ({ kind: 'usage' as const, u, e })),
        eol.map((e) => ({ kind: 'done' as const, e })),
      ),
      { maxLength: 4 },
    ),
    alives: keepAlives,
  })
  .map((r): { c: Case; strip: boolean; completions: boolean } => {
    const chunk = (t: string): string =>
      JSON.stringify(
        r.completions
          ? { object: 'text_completion', choices: [{ index: 0, text: t }] }
          : { object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: t } }] },
      );
    const usageChunk = (u: { p: number; c: number }): string =>
      JSON.stringify({
        choices: [],
        usage: { prompt_tokens: u.p, completion_tokens: u.c, total_tokens: u.p + u.c },
      });
    const before: Piece[] = r.before.map(([t, e, comment]) => ({
      text: event([`data: ${chunk(t)}`], e, comment),
    }));
    const at = r.usageAt % (before.length + 1);
    before.splice(at, 0, { text: event([`data: ${usageChunk(r.usage)}`], r.usageEol), injected: r.strip });
    const after: Piece[] = r.after.map((a) =>
      a.kind === 'text'
        ? { text: event([`data: ${chunk(a.t)}`], a.e) }
        : a.kind === 'usage'
          ? { text: event([`data: ${usageChunk(a.u)}`], a.e) }
          : { text: event(['data: [DONE]'], a.e) },
    );
    const pieces = [
      ...withKeepAlives(before, r.alives),
      { text: event(['data: [DONE]'], r.doneEol) },
      ...after,
    ];
    return {
      strip: r.strip,
      completions: r.completions,
      c: {
        pieces,
        usage: { promptTokens: r.usage.p, completionTokens: r.usage.c, totalTokens: r.usage.p + r.usage.c },
        tooLarge: r.before.some(([t]) => isBig(t)),
        ends: true,
      },
    };
  });

test('property: chat and completions taps', () => {
  const chat = route(openAiAdapter, '/chat/completions');
  const completions = route(openAiAdapter, '/completions');
  fc.assert(
    fc.property(chatCase, splits, ({ c, strip, completions: legacy }, s) => {
      check(c, openAiAdapter.createStreamTap(legacy ? completions : chat, tapOptions(strip)), s);
    }),
    { numRuns: RUNS },
  );
});

// --- OpenAI Responses --------------------------------------------------------------------------

const responsesCase = fc
  .record({
    deltas: fc.array(fc.tuple(text, eol, fc.boolean()), { maxLength: 5 }),
    terminal: fc.constantFrom('response.completed', 'response.incomplete', 'response.failed'),
    usage: chatUsage,
    e: eol,
    after: fc.array(fc.tuple(chatUsage, eol, fc.boolean()), { maxLength: 3 }),
    alives: keepAlives,
  })
  .map(({ deltas, terminal, usage, e, after, alives }): Case => {
    const terminalEvent = (type: string, u: { p: number; c: number }, end: string): string =>
      event(
        [
          `event: ${type}`,
          `data: ${JSON.stringify({ type, response: { status: 'x', usage: { input_tokens: u.p, output_tokens: u.c, total_tokens: u.p + u.c } } })}`,
        ],
        end,
      );
    const delta = (t: string, end: string, comment: boolean): string =>
      event(
        [
          'event: response.output_text.delta',
          `data: ${JSON.stringify({ type: 'response.output_text.delta', delta: t })}`,
        ],
        end,
        comment,
      );
    const before: Piece[] = [
      {
        text: event(
          [
            'event: response.created',
            `data: ${JSON.stringify({ type: 'response.created', response: { usage: null } })}`,
          ],
          e,
        ),
      },
      ...deltas.map(([t, end, comment]) => ({ text: delta(t, end, comment) })),
    ];
    const late: Piece[] = after.map(([u, end, isDelta]) => ({
      text: isDelta ? delta('more', end, false) : terminalEvent('response.completed', u, end),
    }));
    return {
      pieces: [...withKeepAlives(before, alives), { text: terminalEvent(terminal, usage, e) }, ...late],
      usage: { promptTokens: usage.p, completionTokens: usage.c, totalTokens: usage.p + usage.c },
      tooLarge: deltas.some(([t]) => isBig(t)),
      ends: true,
    };
  });

test('property: responses tap', () => {
  const responses = route(openAiAdapter, '/responses');
  fc.assert(
    fc.property(responsesCase, splits, fc.boolean(), (c, s, strip) => {
      check(c, openAiAdapter.createStreamTap(responses, tapOptions(strip)), s);
    }),
    { numRuns: RUNS },
  );
});

// --- Anthropic Messages ------------------------------------------------------------------------

const anthropicCase = fc
  .record({
    input: count,
    output: count,
    deltas: fc.array(fc.tuple(text, eol, fc.boolean()), { maxLength: 5 }),
    e: eol,
    after: fc.array(fc.tuple(count, eol), { maxLength: 3 }),
    alives: keepAlives,
  })
  .map(({ input, output, deltas, e, after, alives }): Case => {
    const named = (type: string, payload: Record<string, unknown>, end: string, comment = false): string =>
      event([`event: ${type}`, `data: ${JSON.stringify({ type, ...payload })}`], end, comment);
    const before: Piece[] = [
      {
        text: named(
          'message_start',
          { message: { model: 'claude', usage: { input_tokens: input, output_tokens: 1 } } },
          e,
        ),
      },
      { text: named('ping', {}, e) },
      ...deltas.map(([t, end, comment]) => ({
        text: named(
          'content_block_delta',
          { index: 0, delta: { type: 'text_delta', text: t } },
          end,
          comment,
        ),
      })),
      { text: named('message_delta', { delta: {}, usage: { output_tokens: output } }, e) },
    ];
    const late: Piece[] = after.flatMap(([o, end]) => [
      {
        text: named(
          'message_delta',
          { delta: {}, usage: { output_tokens: o + output + 1, input_tokens: input + 1 } },
          end,
        ),
      },
      { text: named('message_stop', {}, end) },
    ]);
    return {
      pieces: [...withKeepAlives(before, alives), { text: named('message_stop', {}, e) }, ...late],
      usage: { promptTokens: input, completionTokens: output, totalTokens: input + output },
      tooLarge: deltas.some(([t]) => isBig(t)),
      ends: true,
    };
  });

test('property: anthropic tap', () => {
  const messages = route(anthropicAdapter, '/v1/messages');
  fc.assert(
    fc.property(anthropicCase, splits, (c, s) => {
      check(c, anthropicAdapter.createStreamTap(messages, tapOptions(false)), s);
    }),
    { numRuns: RUNS },
  );
});

// --- Gemini: alt=sse and the streamed JSON array -----------------------------------------------

/** Gemini chunks: text (some over MAX, without usage) and cumulative usage snapshots, the last one final. */
const geminiChunks = fc
  .record({
    prompt: count,
    steps: fc.array(fc.tuple(text, fc.option(count, { nil: undefined })), { maxLength: 5 }),
    final: count,
  })
  .map(({ prompt, steps, final }) => {
    let completion = 0;
    const chunks: { big: boolean; json: unknown }[] = steps.map(([t, grow]) => {
      // Only small chunks carry usage: an oversized one is never read.
      if (grow === undefined || isBig(t))
        return { big: isBig(t), json: { candidates: [{ content: { parts: [{ text: t }] } }] } };
      completion += grow % 1000;
      return {
        big: false,
        json: {
          candidates: [{ content: { parts: [{ text: t }] } }],
          usageMetadata: {
            promptTokenCount: prompt,
            candidatesTokenCount: completion,
            totalTokenCount: prompt + completion,
          },
        },
      };
    });
    const last = completion + final;
    chunks.push({
      big: false,
      json: {
        candidates: [{ content: { parts: [{ text: '.' }] }, finishReason: 'STOP' }],
        usageMetadata: {
          promptTokenCount: prompt,
          candidatesTokenCount: last,
          totalTokenCount: prompt + last,
        },
      },
    });
    return { chunks, usage: { promptTokens: prompt, completionTokens: last, totalTokens: prompt + last } };
  });

test('property: gemini alt=sse tap (no end marker: every event until the upstream closes)', () => {
  const sseRoute = route(geminiAdapter, '/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
  fc.assert(
    fc.property(
      geminiChunks,
      fc.array(eol, { minLength: 6, maxLength: 6 }),
      keepAlives,
      splits,
      ({ chunks, usage }, eols, alives, s) => {
        const pieces = chunks.map((chunk, i) => ({
          text: event([`data: ${JSON.stringify(chunk.json)}`], eols[i % eols.length]!),
        }));
        const c: Case = {
          pieces: withKeepAlives(pieces, alives),
          usage,
          tooLarge: chunks.some((chunk) => chunk.big),
          ends: false,
        };
        check(c, geminiAdapter.createStreamTap(sseRoute, tapOptions(false)), s);
      },
    ),
    { numRuns: RUNS },
  );
});

test('property: gemini JSON array tap (the closing bracket ends it)', () => {
  const arrayRoute = route(geminiAdapter, '/v1beta/models/gemini-2.5-flash:streamGenerateContent');
  const separator = fc.constantFrom(',', ',\r\n', '\r\n,\r\n', ' , ', '\n,\n');
  const junk = fc.constantFrom(
    '',
    '\r\n',
    ',{"usageMetadata":{"promptTokenCount":9999999,"candidatesTokenCount":9999999,"totalTokenCount":19999998}}]',
    '\r\n[{"usageMetadata":{"promptTokenCount":9999999,"candidatesTokenCount":9999999,"totalTokenCount":19999998}}]',
    '{"error":{"code":500}}',
  );
  fc.assert(
    fc.property(
      geminiChunks,
      separator,
      fc.array(junk, { maxLength: 3 }),
      splits,
      ({ chunks, usage }, sep, after, s) => {
        const array = `[${chunks.map((chunk) => JSON.stringify(chunk.json)).join(sep)}]`;
        const c: Case = {
          pieces: [{ text: array }, ...after.map((t) => ({ text: t }))],
          usage,
          tooLarge: chunks.some((chunk) => chunk.big),
          ends: true,
        };
        check(c, geminiAdapter.createStreamTap(arrayRoute, tapOptions(false)), s);
      },
    ),
    { numRuns: RUNS },
  );
});
