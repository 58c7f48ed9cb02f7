import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { sniffAnswerKind } from '../../src/gateway/answer-sniffer.js';
import { readAnswerCoding } from '../../src/gateway/content-decoding.js';
import { httpAnswer, httpChunk, httpHead, type RogueStep } from '../helpers/rogue-backend.js';
import {
  assertLastReported,
  callGateway,
  lastRow as lastRowOf,
  startRelayHarness,
  type RelayHarness,
} from './relay-harness.js';
import type { LedgerRow } from '../helpers/ledger-rows.js';
import { CHAT, GEMINI, PROVIDERS, type ProviderCase } from './rogue-answers.js';

// Class 7 of issue #7: compressed or mislabelled answers, and answers without readable usage.

let h: RelayHarness;

before(async () => {
  h = await startRelayHarness();
});

after(async () => {
  await h.close();
});

const ENCODERS: Record<string, (text: string) => Buffer> = {
  gzip: (text) => gzipSync(text),
  'x-gzip': (text) => gzipSync(text),
  deflate: (text) => deflateSync(text),
  'deflate (raw)': (text) => deflateRawSync(text),
  br: (text) => brotliCompressSync(text),
};

/** The header value of an encoder's name. */
const codingOf = (name: string): string => name.split(' ')[0] ?? name;

/** A chunked answer whose body is written in small pieces, so decoding is incremental. */
function chunkedAnswer(headers: Record<string, string>, body: Buffer, pieces = 5): RogueStep[] {
  const steps: RogueStep[] = [{ write: httpHead(200, { ...headers, 'transfer-encoding': 'chunked' }) }];
  const size = Math.ceil(body.length / pieces);
  for (let at = 0; at < body.length; at += size) {
    steps.push({ write: httpChunk(body.subarray(at, at + size)) }, { pause: 5 });
  }
  steps.push({ write: httpChunk('') });
  return steps;
}

const lastRow = (): LedgerRow | undefined => lastRowOf(h);
const assertReported = (provider: ProviderCase, label: string): void =>
  assertLastReported(h, provider, label);

describe('compressed answers are decoded for the meter and relayed as sent', () => {
  for (const provider of PROVIDERS) {
    for (const name of ['gzip', 'x-gzip', 'deflate (raw)', 'br']) {
      test(`${name} JSON (${provider.name})`, async () => {
        const encoded = ENCODERS[name]?.(provider.json) ?? Buffer.alloc(0);
        h.rogue.script(() =>
          chunkedAnswer({ 'content-type': 'application/json', 'content-encoding': codingOf(name) }, encoded),
        );
        const view = await callGateway(h, provider.path, { body: provider.body });
        assert.equal(view.status, 200);
        assert.equal(view.headers['content-encoding'], codingOf(name));
        assert.deepEqual(view.body, encoded, 'the client gets the bytes as the backend sent them');
        assertReported(provider, name);
      });
    }
    for (const name of ['deflate', 'deflate (raw)', 'gzip']) {
      test(`${name} SSE the client asked usage for (${provider.name})`, async () => {
        const encoded = ENCODERS[name]?.(provider.sse) ?? Buffer.alloc(0);
        h.rogue.script(() =>
          chunkedAnswer(
            { 'content-type': 'text/event-stream', 'content-encoding': codingOf(name) },
            encoded,
            8,
          ),
        );
        const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
        assert.equal(view.status, 200);
        assert.deepEqual(view.body, encoded);
        assertReported(provider, name);
      });
    }
  }

  for (const name of ['br', 'gzip', 'deflate']) {
    test(`${name} SSE whose usage chunk the gateway strips: the client gets the decoded, stripped stream`, async () => {
      h.rogue.script(() =>
        chunkedAnswer(
          { 'content-type': 'text/event-stream', 'content-encoding': name },
          ENCODERS[name]?.(CHAT.sse) ?? Buffer.alloc(0),
          6,
        ),
      );
      // The client asks for a stream without usage: the gateway asks for it, and removes it.
      const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
      assert.equal(view.status, 200);
      assert.equal(view.headers['content-encoding'], undefined);
      const text = view.body.toString();
      assert.ok(!text.includes('"usage":{'), 'the injected usage chunk is removed');
      assert.ok(text.includes('Hello') && text.endsWith('data: [DONE]\n\n'));
      assert.equal(text, CHAT.sse.replace(/data: \{[^\n]*"choices":\[\][^\n]*\n\n/, ''));
      assertReported(CHAT, name);
      assert.deepEqual(h.rogue.requests.at(-1)?.headers['accept-encoding'], 'identity');
    });
  }
});

describe('answers whose usage cannot be read are estimated, flagged, counted and logged', () => {
  async function unreadableCount(): Promise<number> {
    const text = await (await fetch(`${h.gw.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('tokenmeter_usage_unreadable_total{backend="rogue-openai"}'));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  }

  function assertUnreadable(label: string, completionKnown: boolean): void {
    const row = lastRow();
    assert.equal(row?.status, 200, label);
    assert.equal(row?.source, 'estimated', label);
    assert.equal(row?.flags, 'usage_unreadable', label);
    assert.ok(Number(row?.prompt_tokens) > 0, label);
    if (!completionKnown) assert.equal(row?.completion_tokens, null, label);
    const warning = h.warnings.at(-1);
    assert.equal(warning?.msg, 'usage unreadable in a successful answer: tokens estimated', label);
    assert.match(String(warning?.backend), /^rogue-/, label);
  }

  test('gzip with a corrupt body (JSON): relayed as sent, estimated and flagged', async () => {
    const good = gzipSync(CHAT.json);
    const corrupt = Buffer.concat([good.subarray(0, 10), Buffer.alloc(40, 0xff), good.subarray(50)]);
    const counted = await unreadableCount();
    h.rogue.script(() =>
      chunkedAnswer({ 'content-type': 'application/json', 'content-encoding': 'gzip' }, corrupt),
    );
    const view = await callGateway(h, CHAT.path, { body: CHAT.body });
    assert.equal(view.status, 200);
    assert.deepEqual(view.body, corrupt);
    assertUnreadable('corrupt gzip', false);
    assert.match(String(h.warnings.at(-1)?.reason), /could not be decoded/);
    assert.equal(await unreadableCount(), counted + 1);
  });

  test('gzip with a corrupt body on a stream the gateway strips: 502 when nothing was sent', async () => {
    const corrupt = Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(60, 0x55)]);
    h.rogue.script(() =>
      chunkedAnswer({ 'content-type': 'text/event-stream', 'content-encoding': 'gzip' }, corrupt),
    );
    const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
    assert.equal(view.status, 502);
    const row = lastRow();
    assert.equal(row?.status, 502);
    assert.equal(row?.source, 'partial');
    assert.equal(row?.flags, 'usage_unreadable');
  });

  for (const coding of ['zstd', 'compress', 'gzip, br']) {
    test(`content-encoding ${coding}: relayed as sent, estimated and flagged`, async () => {
      const body = Buffer.from('(not decodable by the gateway)');
      h.rogue.script(() => [
        { write: httpAnswer(200, { 'content-type': 'application/json', 'content-encoding': coding }, body) },
      ]);
      const view = await callGateway(h, CHAT.path, { body: CHAT.body });
      assert.equal(view.status, 200);
      assert.deepEqual(view.body, body);
      assertUnreadable(coding, false);
    });
  }

  test('an unknown coding on a stream whose usage chunk must be removed is not relayed: 502', async () => {
    h.rogue.script(() => [
      { write: httpAnswer(200, { 'content-type': 'text/event-stream', 'content-encoding': 'zstd' }, 'xxxx') },
    ]);
    const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
    assert.equal(view.status, 502);
    assert.equal(
      (JSON.parse(view.body.toString()) as { error: { code: string } }).error.code,
      'TM_UPSTREAM_UNAVAILABLE',
    );
    const row = lastRow();
    assert.equal(row?.status, 502);
    assert.equal(row?.flags, 'usage_unreadable');
  });

  for (const provider of PROVIDERS) {
    test(`a JSON answer with no usage at all (${provider.name})`, async () => {
      h.rogue.script(() => [
        { write: httpAnswer(200, { 'content-type': 'application/json' }, provider.jsonWithoutUsage) },
      ]);
      const view = await callGateway(h, provider.path, { body: provider.body });
      assert.equal(view.body.toString(), provider.jsonWithoutUsage);
      // Adapters that read the answer's text estimate the completion too.
      assertUnreadable(provider.name, true);
    });
  }

  test('a body that is not JSON', async () => {
    h.rogue.script(() => [{ write: httpAnswer(200, { 'content-type': 'text/html' }, '<html>oops</html>') }]);
    const view = await callGateway(h, CHAT.path, { body: CHAT.body });
    assert.equal(view.body.toString(), '<html>oops</html>');
    assertUnreadable('html', false);
    assert.equal(h.warnings.at(-1)?.reason, 'not JSON');
  });
});

describe('mislabelled answers are read as what they are', () => {
  for (const provider of PROVIDERS) {
    for (const label of ['application/json', 'text/plain', '']) {
      test(`SSE labelled "${label}" (${provider.name})`, async () => {
        // Leading blank lines and a split first field name: the sniffer waits for enough bytes.
        const body = `\n\n${provider.sse}`;
        h.rogue.script(() => [
          {
            write: httpHead(200, {
              ...(label !== '' ? { 'content-type': label } : {}),
              'transfer-encoding': 'chunked',
            }),
          },
          { write: httpChunk(body.slice(0, 4)) },
          { pause: 10 },
          { write: httpChunk(body.slice(4)) },
          { write: httpChunk('') },
        ]);
        const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
        assert.equal(view.status, 200);
        assert.equal(view.body.toString(), body);
        assertReported(provider, label);
      });
    }
    test(`SSE labelled application/json after 2 KiB of blank lines, split mid field name (${provider.name})`, async () => {
      // Past the first bytes the sniffer looks at each chunk with only the few bytes before it:
      // a field name split across chunks far into the answer must still be recognised.
      const body = `${'\r\n'.repeat(1024)}${provider.sse}`;
      const cut = 2048 + 2;
      h.rogue.script(() => [
        {
          write: httpHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' }),
        },
        { write: httpChunk(body.slice(0, 300)) },
        { pause: 10 },
        { write: httpChunk(body.slice(300, cut)) },
        { pause: 10 },
        { write: httpChunk(body.slice(cut)) },
        { write: httpChunk('') },
      ]);
      const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
      assert.equal(view.status, 200);
      assert.equal(view.body.toString(), body);
      assertReported(provider, 'sse after blank lines');
    });
    test(`JSON labelled text/event-stream (${provider.name})`, async () => {
      h.rogue.script(() => [
        { write: httpAnswer(200, { 'content-type': 'text/event-stream' }, provider.json) },
      ]);
      const view = await callGateway(h, provider.path, { body: provider.body });
      assert.equal(view.body.toString(), provider.json);
      assertReported(provider, 'json as sse');
    });
  }

  test('gzip SSE labelled application/json, stripped: sniffed after decoding', async () => {
    h.rogue.script(() =>
      chunkedAnswer(
        { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        gzipSync(CHAT.sse),
        4,
      ),
    );
    const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
    assert.equal(view.status, 200);
    assert.ok(!view.body.toString().includes('"usage":{'));
    assertReported(CHAT, 'gzip sse as json');
  });
});

test('the sniffer: JSON, SSE, undecided and other first bytes', () => {
  const cases: [string, string | undefined][] = [
    ['{"a":1}', 'json'],
    ['  \r\n[1]', 'json'],
    ['\ufeff{"a":1}', 'json'],
    ['data: x', 'sse'],
    [': comment', 'sse'],
    ['event: e', 'sse'],
    ['id: 1', 'sse'],
    ['retry: 5', 'sse'],
    ['', undefined],
    ['\n\n', undefined],
    ['da', undefined],
    ['\ufeff', undefined],
    ['dat!', 'other'],
    ['<html>', 'other'],
    ['HTTP', 'other'],
  ];
  for (const [text, kind] of cases)
    assert.equal(sniffAnswerKind(Buffer.from(text)), kind, JSON.stringify(text));
  assert.equal(sniffAnswerKind(Buffer.from([0xef, 0xbb])), undefined);
  assert.equal(sniffAnswerKind(Buffer.from([0xef, 0x41])), 'other');
});

test('content-encoding values', () => {
  const cases: [string | undefined, unknown][] = [
    [undefined, { coding: 'identity' }],
    ['identity', { coding: 'identity' }],
    ['GZIP', { coding: 'gzip' }],
    ['x-gzip', { coding: 'gzip' }],
    [' deflate ', { coding: 'deflate' }],
    ['br', { coding: 'br' }],
    ['identity, br', { coding: 'br' }],
    ['zstd', { unknown: 'zstd' }],
    ['gzip, br', { unknown: 'gzip, br' }],
  ];
  for (const [header, expected] of cases)
    assert.deepEqual(
      readAnswerCoding(header === undefined ? {} : { 'content-encoding': header }),
      expected,
      header,
    );
});

test("Gemini's streamed JSON array: gzip, and labelled as an event stream", async () => {
  const path = '/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent';
  const events = GEMINI.sse
    .split('\n\n')
    .filter((e) => e !== '')
    .map((e) => e.slice('data: '.length));
  const array = `[${events.join(',\r\n')}]`;
  const variants: [string, Record<string, string>, Buffer][] = [
    ['gzip', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, gzipSync(array)],
    ['labelled SSE', { 'content-type': 'text/event-stream' }, Buffer.from(array)],
  ];
  for (const [name, headers, body] of variants) {
    h.rogue.script(() => chunkedAnswer(headers, body, 3));
    const view = await callGateway(h, path, { body: GEMINI.streamBody });
    assert.equal(view.status, 200, name);
    assert.deepEqual(view.body, body, name);
    assertReported(GEMINI, name);
  }
});
