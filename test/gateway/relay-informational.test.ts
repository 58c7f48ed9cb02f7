import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_CONTINUE_HEAD_BYTES, MAX_CONTINUES_REMOVED } from '../../src/gateway/continue-filter.js';
import { MAX_INFORMATIONAL_ANSWERS } from '../../src/gateway/upstream-relay.js';
import { httpAnswer, httpChunk, httpHead, type RogueStep } from '../helpers/rogue-backend.js';
import {
  assertLastReported,
  callGateway,
  lastRow as lastRowOf,
  startRelayHarness,
  type RelayHarness,
} from './relay-harness.js';
import type { LedgerRow } from '../helpers/ledger-rows.js';
import { ANTHROPIC, CHAT, GEMINI, PROVIDERS, RESPONSES, type ProviderCase } from './rogue-answers.js';

// Class 3 of issue #7: informational (1xx) answers before the final one.

let h: RelayHarness;

before(async () => {
  h = await startRelayHarness();
});

after(async () => {
  await h.close();
});

const HINTS = 'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n';

const lastRow = (): LedgerRow | undefined => lastRowOf(h);
const assertReported = (provider: ProviderCase, label: string): void =>
  assertLastReported(h, provider, label);

test('103 Early Hints then a JSON answer: the hint is passed on, the answer relayed and metered', async () => {
  for (const provider of [CHAT, GEMINI]) {
    h.rogue.script(() => [
      { write: HINTS },
      { pause: 20 },
      { write: httpAnswer(200, { 'content-type': 'application/json' }, provider.json) },
    ]);
    const view = await callGateway(h, provider.path, { body: provider.body });
    assert.equal(view.status, 200, provider.name);
    assert.deepEqual(
      view.informational.map((i) => [i.status, i.headers.link]),
      [[103, '</style.css>; rel=preload; as=style']],
    );
    assert.equal(view.body.toString(), provider.json);
    const row = lastRow();
    assert.equal(row?.status, 200);
    assert.equal(row?.source, 'reported');
    assert.equal(row?.prompt_tokens, provider.prompt);
    assert.equal(row?.completion_tokens, provider.completion);
  }
});

test('103 then an event stream: relayed and metered as usual', async () => {
  for (const provider of [ANTHROPIC, RESPONSES]) {
    h.rogue.script(() => [
      { write: HINTS },
      { write: httpAnswer(200, { 'content-type': 'text/event-stream' }, provider.sse) },
    ]);
    const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
    assert.equal(view.status, 200, provider.name);
    assert.equal(view.informational.length, 1);
    assert.equal(view.body.toString(), provider.sse);
    const row = lastRow();
    assert.equal(row?.source, 'reported');
    assert.equal(row?.completion_tokens, provider.completion);
  }
});

test('several 1xx in a row (102, 103 without a link, 103, an unknown 1xx): the final answer is what counts', async () => {
  h.rogue.script(() => [
    {
      write:
        'HTTP/1.1 102 Processing\r\n\r\n' +
        'HTTP/1.1 103 Early Hints\r\nx-other: 1\r\n\r\n' +
        HINTS +
        'HTTP/1.1 199 Whatever\r\nx-odd: yes\r\n\r\n',
    },
    { pause: 20 },
    { write: httpAnswer(200, { 'content-type': 'text/event-stream' }, CHAT.sse) },
  ]);
  const view = await callGateway(h, CHAT.streamPath, { body: CHAT.streamBody });
  assert.equal(view.status, 200);
  // Only the hint with a Link header is passed on; 102 and 199 are dropped.
  assert.deepEqual(
    view.informational.map((i) => i.status),
    [103],
  );
  assert.equal(view.body.toString(), CHAT.sse);
  assert.equal(lastRow()?.completion_tokens, CHAT.completion);
  assert.equal(lastRow()?.source, 'reported');
});

test('a 1xx and then the connection cut: 502, recorded 502 with the estimated prompt', async () => {
  for (const informational of [HINTS, 'HTTP/1.1 102 Processing\r\n\r\n']) {
    h.rogue.script(() => [{ write: informational }, { pause: 20 }, { destroy: true }]);
    const view = await callGateway(h, CHAT.path, { body: CHAT.body });
    assert.equal(view.status, 502);
    assert.equal(
      (JSON.parse(view.body.toString()) as { error: { code: string } }).error.code,
      'TM_UPSTREAM_UNAVAILABLE',
    );
    const row = lastRow();
    assert.equal(row?.status, 502);
    assert.equal(row?.source, 'partial');
    assert.ok(Number(row?.prompt_tokens) > 0);
  }
});

test('101 Switching Protocols on a POST is never relayed: 502', async () => {
  for (const head of [
    'HTTP/1.1 101 Switching Protocols\r\n\r\n',
    'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n',
  ]) {
    h.rogue.script(() => [{ write: head }, { write: httpAnswer(200, {}, CHAT.json) }]);
    const view = await callGateway(h, CHAT.path, { body: CHAT.body });
    assert.equal(view.status, 502);
    assert.equal(view.informational.length, 0);
    assert.equal(lastRow()?.status, 502);
  }
});

describe('100 Continue nobody asked for: dropped at the upstream socket, the final answer relayed', () => {
  const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';

  test('100 then a JSON answer, every provider: 200, the body as sent, metered exactly, one record', async () => {
    for (const provider of PROVIDERS) {
      for (const head of [CONTINUE, 'HTTP/1.1 100\r\n\r\n', 'HTTP/1.0 100 Continue\r\nx-a: 1\r\n\r\n']) {
        const rowsBefore = h.rows().length;
        h.rogue.script(() => [
          { write: head },
          { write: httpAnswer(200, { 'content-type': 'application/json' }, provider.json) },
        ]);
        const view = await callGateway(h, provider.path, { body: provider.body });
        const label = `${provider.name} after ${JSON.stringify(head)}`;
        assert.equal(view.status, 200, label);
        assert.equal(view.informational.length, 0, label);
        assert.equal(view.body.toString(), provider.json, label);
        assert.equal(h.rows().length, rowsBefore + 1, label);
        assertReported(provider, label);
      }
    }
  });

  test('100 then an event stream, every provider: relayed as sent and metered exactly', async () => {
    for (const provider of PROVIDERS) {
      h.rogue.script(() => [
        { write: CONTINUE },
        { pause: 10 },
        { write: httpAnswer(200, { 'content-type': 'text/event-stream' }, provider.sse) },
      ]);
      const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
      assert.equal(view.status, 200, provider.name);
      assert.equal(view.body.toString(), provider.sse, provider.name);
      assertReported(provider, provider.name);
    }
  });

  test('100 then a chunked stream whose injected usage chunk the gateway strips', async () => {
    h.rogue.script(() => [
      {
        write:
          CONTINUE +
          httpHead(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' }).toString(),
      },
      ...CHAT.sse
        .split('\n\n')
        .filter((e) => e !== '')
        .flatMap((event) => [{ write: httpChunk(`${event}\n\n`) }, { pause: 5 }]),
      { write: httpChunk('') },
    ]);
    // The client asks for a stream without usage: the gateway asks for it, and removes it.
    const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
    assert.equal(view.status, 200);
    const text = view.body.toString();
    assert.ok(!text.includes('"usage":{'), 'the injected usage chunk is removed');
    assert.equal(text, CHAT.sse.replace(/data: \{[^\n]*"choices":\[\][^\n]*\n\n/, ''));
    assert.equal(h.rogue.requests.at(-1)?.body.includes('"include_usage":true'), true);
    assertReported(CHAT, 'stripped');
  });

  test('a 100 split across reads, at every kind of boundary', async () => {
    const answer = httpAnswer(200, { 'content-type': 'application/json' }, CHAT.json);
    // Inside "HTTP/1.", inside the status code, before the reason, inside the head's end, and
    // the 100 whole but the answer's head cut after its first bytes.
    for (const at of [3, 10, 12, 17, CONTINUE.length - 3, CONTINUE.length - 1, CONTINUE.length + 4]) {
      const bytes = Buffer.concat([Buffer.from(CONTINUE), answer]);
      h.rogue.script(() => [{ write: bytes.subarray(0, at) }, { pause: 20 }, { write: bytes.subarray(at) }]);
      const view = await callGateway(h, CHAT.path, { body: CHAT.body });
      assert.equal(view.status, 200, `split at ${at}`);
      assert.equal(view.body.toString(), CHAT.json, `split at ${at}`);
      assertReported(CHAT, `split at ${at}`);
    }
  });

  test('100s among other 1xx: the 100s are dropped, 103 passed on, the final answer relayed', async () => {
    const variants: [string, string[], number[]][] = [
      ['100, 103', [CONTINUE, HINTS], [103]],
      ['103, 100', [HINTS, CONTINUE], [103]],
      [
        '100, 100, 102, 100, 103',
        [CONTINUE, CONTINUE, 'HTTP/1.1 102 Processing\r\n\r\n', CONTINUE, HINTS],
        [103],
      ],
    ];
    for (const [name, heads, passedOn] of variants) {
      h.rogue.script(() => [
        ...heads.flatMap((head) => [{ write: head }, { pause: 10 }]),
        { write: httpAnswer(200, { 'content-type': 'text/event-stream' }, GEMINI.sse) },
      ]);
      const view = await callGateway(h, GEMINI.streamPath, { body: GEMINI.streamBody });
      assert.equal(view.status, 200, name);
      assert.deepEqual(
        view.informational.map((i) => i.status),
        passedOn,
        name,
      );
      assert.equal(view.body.toString(), GEMINI.sse, name);
      assertReported(GEMINI, name);
    }
  });

  test('calls in a row on one keep-alive connection, each answer preceded by a 100', async () => {
    h.rogue.script(() => [
      { write: CONTINUE },
      { write: httpAnswer(200, { 'content-type': 'application/json' }, CHAT.json) },
    ]);
    const first = h.rogue.requests.length;
    for (let call = 0; call < 3; call++) {
      const view = await callGateway(h, CHAT.path, { body: CHAT.body });
      assert.equal(view.status, 200);
      assert.equal(view.body.toString(), CHAT.json);
      assertReported(CHAT, `call ${call}`);
    }
    const connections = new Set(h.rogue.requests.slice(first).map((r) => r.connection));
    assert.equal(connections.size, 1, 'the three calls shared one upstream connection');
  });

  test('the text of a 100 head inside a body, at a read boundary, is relayed unchanged', async () => {
    // In a JSON string (escaped, as JSON must), right after the head, in its own read.
    const json = JSON.stringify({
      ...(JSON.parse(CHAT.json) as object),
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: CONTINUE + 'and more' },
          finish_reason: 'stop',
        },
      ],
    });
    const head = httpAnswer(200, { 'content-type': 'application/json' }, json);
    const bodyStart = head.length - Buffer.byteLength(json);
    const stringStart = head.indexOf('HTTP/1.1 100', bodyStart);
    // Raw CRLFs: an SSE stream in which a line "HTTP/1.1 100 Continue" (a field SSE ignores)
    // and an empty line start a read of the body.
    const sse = CHAT.sse.replace('\n\ndata: ', `\n\n${CONTINUE}data: `);
    const sseAnswer = httpAnswer(200, { 'content-type': 'text/event-stream' }, sse);
    const sseAt = sseAnswer.indexOf(CONTINUE);
    const cases: [string, Buffer, number[], string][] = [
      ['JSON, the body alone in its read', head, [bodyStart], json],
      ['JSON, a read starting at the text', head, [stringStart], json],
      ['SSE, a read starting with the raw head', sseAnswer, [sseAt], sse],
      ['SSE, the raw head in its own read', sseAnswer, [sseAt, sseAt + CONTINUE.length], sse],
    ];
    for (const [name, bytes, cuts, body] of cases) {
      const steps: RogueStep[] = [];
      let from = 0;
      for (const cut of cuts) {
        steps.push({ write: bytes.subarray(from, cut) }, { pause: 20 });
        from = cut;
      }
      steps.push({ write: bytes.subarray(from) });
      h.rogue.script(() => steps);
      const view = await callGateway(h, CHAT.path, {
        body: name.startsWith('SSE') ? CHAT.streamBody : CHAT.body,
      });
      assert.equal(view.status, 200, name);
      assert.equal(view.body.toString(), body, name);
      assertReported(CHAT, name);
    }
  });

  test('a 100 head the filter does not recognise exactly is left to undici: 502, as before', async () => {
    for (const head of [
      'HTTP/1.1 100 Continue\n\n',
      `HTTP/1.1 100 Continue\r\nx-pad: ${'a'.repeat(MAX_CONTINUE_HEAD_BYTES)}\r\n\r\n`,
      CONTINUE.repeat(MAX_CONTINUES_REMOVED + 1),
    ]) {
      h.rogue.script(() => [
        { write: head },
        { write: httpAnswer(200, { 'content-type': 'application/json' }, CHAT.json) },
      ]);
      const view = await callGateway(h, CHAT.path, { body: CHAT.body });
      assert.equal(view.status, 502);
      const row = lastRow();
      assert.equal(row?.status, 502);
      assert.equal(row?.source, 'partial');
    }
  });

  test('a 100 and then the connection cut: 502 with the estimated prompt', async () => {
    for (const steps of [
      [{ write: CONTINUE }, { pause: 20 }, { destroy: true }],
      [{ write: CONTINUE.slice(0, 15) }, { pause: 20 }, { end: true }],
    ] satisfies RogueStep[][]) {
      h.rogue.script(() => steps);
      const view = await callGateway(h, CHAT.path, { body: CHAT.body });
      assert.equal(view.status, 502);
      const row = lastRow();
      assert.equal(row?.status, 502);
      assert.equal(row?.source, 'partial');
      assert.ok(Number(row?.prompt_tokens) > 0);
    }
  });
});

test(`more than ${MAX_INFORMATIONAL_ANSWERS} informational answers: the backend is failing, 502`, async () => {
  h.rogue.script(() => [
    { write: 'HTTP/1.1 102 Processing\r\n\r\n'.repeat(MAX_INFORMATIONAL_ANSWERS + 1) },
    { write: httpAnswer(200, { 'content-type': 'application/json' }, CHAT.json) },
  ]);
  const view = await callGateway(h, CHAT.path, { body: CHAT.body });
  assert.equal(view.status, 502);
  assert.equal(lastRow()?.status, 502);
});
