import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MAX_INFORMATIONAL_ANSWERS } from '../../src/gateway/upstream-relay.js';
import { httpAnswer } from '../helpers/rogue-backend.js';
import { callGateway, startRelayHarness, type RelayHarness } from './relay-harness.js';
import { ANTHROPIC, CHAT, GEMINI, RESPONSES } from './rogue-answers.js';

// Class 3 of issue #7: informational (1xx) answers before the final one.

let h: RelayHarness;

before(async () => {
  h = await startRelayHarness();
});

after(async () => {
  await h.close();
});

const HINTS = 'HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload; as=style\r\n\r\n';

function lastRow(): Record<string, unknown> | undefined {
  return h.rows().at(-1);
}

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

test('100 Continue nobody asked for: undici closes the connection, the call is a 502 with the estimated prompt', async () => {
  // undici 7 refuses an unsolicited 100 (client-h1.js onHeadersComplete); the answer after it
  // never reaches the gateway.
  h.rogue.script(() => [
    { write: 'HTTP/1.1 100 Continue\r\n\r\n' },
    { write: httpAnswer(200, { 'content-type': 'application/json' }, CHAT.json) },
  ]);
  const view = await callGateway(h, CHAT.path, { body: CHAT.body });
  assert.equal(view.status, 502);
  assert.equal(view.informational.length, 0);
  const row = lastRow();
  assert.equal(row?.status, 502);
  assert.equal(row?.source, 'partial');
  assert.ok(Number(row?.prompt_tokens) > 0);
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
