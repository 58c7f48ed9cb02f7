import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { httpChunk, httpHead, type RogueStep } from '../helpers/rogue-backend.js';
import { callGateway, eventually, startRelayHarness, type RelayHarness } from './relay-harness.js';
import { ANTHROPIC, CHAT, GEMINI, PROVIDERS, RESPONSES } from './rogue-answers.js';

// Class 13 of issue #7: an upstream failing after its headers, a client gone before them; and
// the commit at a stream's documented end.

let h: RelayHarness;

before(async () => {
  h = await startRelayHarness();
});

after(async () => {
  await h.close();
});

const JSON_HEAD = httpHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
const SSE_HEAD = httpHead(200, { 'content-type': 'text/event-stream', 'transfer-encoding': 'chunked' });

function errorCode(body: Buffer): string | undefined {
  return (JSON.parse(body.toString()) as { error?: { code?: string } }).error?.code;
}

describe('an upstream that fails before any byte reached the client: 502, recorded 502 with the estimated prompt', () => {
  const variants: [string, Buffer, Buffer | undefined][] = [
    ['JSON headers then a cut', JSON_HEAD, undefined],
    ['SSE headers then a cut', SSE_HEAD, undefined],
    ['JSON headers and half a JSON in one read, then a cut', JSON_HEAD, httpChunk(CHAT.json.slice(0, 60))],
  ];
  for (const [name, head, part] of variants) {
    for (const provider of [CHAT, ANTHROPIC, GEMINI]) {
      test(`${name} (${provider.name})`, async () => {
        h.rogue.script(() => [
          { write: part === undefined ? head : Buffer.concat([head, part]) },
          { pause: 20 },
          { destroy: true },
        ]);
        const before = h.rows().length;
        const view = await callGateway(h, provider.path, { body: provider.body });
        assert.equal(view.status, 502);
        assert.equal(errorCode(view.body), 'TM_UPSTREAM_UNAVAILABLE');
        const rows = h.rows();
        assert.equal(rows.length, before + 1);
        const row = rows.at(-1);
        assert.equal(row?.status, 502);
        assert.equal(row?.source, 'partial');
        assert.ok(Number(row?.prompt_tokens) > 0, 'the backend had the prompt');
      });
    }
  }
});

test('a stream the gateway strips, cut in its first event: nothing was sent, so 502', async () => {
  // The client did not ask for usage: the tap holds each event until it is complete.
  h.rogue.script(() => [
    { write: Buffer.concat([SSE_HEAD, httpChunk(CHAT.sse.slice(0, 40))]) },
    { pause: 20 },
    { destroy: true },
  ]);
  const view = await callGateway(h, CHAT.path, { body: { ...(CHAT.body as object), stream: true } });
  assert.equal(view.status, 502);
  assert.equal(errorCode(view.body), 'TM_UPSTREAM_UNAVAILABLE');
  const row = h.rows().at(-1);
  assert.equal(row?.status, 502);
  assert.equal(row?.source, 'partial');
  assert.ok(Number(row?.prompt_tokens) > 0);
});

describe('an upstream that fails after bytes reached the client: the client sees the cut, the record is partial', () => {
  test('headers and half a JSON in two reads, then a cut', async () => {
    h.rogue.script(() => [
      { write: Buffer.concat([JSON_HEAD, httpChunk(CHAT.json.slice(0, 40))]) },
      { pause: 30 },
      { write: httpChunk(CHAT.json.slice(40, 80)) },
      { pause: 30 },
      { destroy: true },
    ]);
    const view = await callGateway(h, CHAT.path, { body: CHAT.body });
    assert.equal(view.status, 200);
    assert.ok(view.error !== undefined, 'the client sees the cut');
    assert.equal(view.body.toString(), CHAT.json.slice(0, 40));
    const row = h.rows().at(-1);
    assert.equal(row?.status, 200);
    assert.equal(row?.source, 'partial');
    assert.ok(Number(row?.prompt_tokens) > 0);
  });

  for (const provider of PROVIDERS) {
    test(`headers and some SSE events, then a cut (${provider.name})`, async () => {
      // Two complete events, then the connection dies mid-stream.
      const events = provider.sse.split('\n\n');
      const sent = `${events.slice(0, 2).join('\n\n')}\n\n`;
      h.rogue.script(() => [
        { write: Buffer.concat([SSE_HEAD, httpChunk(sent)]) },
        { pause: 30 },
        { destroy: true },
      ]);
      const view = await callGateway(h, provider.streamPath, { body: provider.streamBody });
      assert.equal(view.status, 200);
      assert.ok(view.error !== undefined, 'the client sees the cut');
      assert.equal(view.body.toString(), sent);
      const row = h.rows().at(-1);
      assert.equal(row?.status, 200);
      assert.equal(row?.source, 'partial');
      assert.ok(Number(row?.prompt_tokens) > 0);
      assert.ok(Number(row?.completion_tokens) > 0, 'what was generated is billed');
    });
  }
});

describe('a client gone before the backend answered', () => {
  for (const provider of [CHAT, RESPONSES, ANTHROPIC, GEMINI]) {
    test(`is recorded 499, partial, with the estimated prompt (${provider.name})`, async () => {
      h.rogue.script(() => [{ pause: 2000 }, { destroy: true }]);
      const before = h.rows().length;
      const requests = h.rogue.requests.length;
      await callGateway(h, provider.path, {
        body: provider.body,
        abortWhen: () => h.rogue.requests.length > requests,
      });
      const row = await eventually(() => h.rows()[before]);
      assert.equal(row.status, 499);
      assert.equal(row.source, 'partial');
      assert.ok(Number(row.prompt_tokens) > 0);
      assert.equal(row.completion_tokens, null);
      assert.equal(h.rows().length, before + 1);
    });
  }
});

test('a backend that does not send its headers in time: 504, recorded 504 with the estimated prompt', async () => {
  const slow = await startRelayHarness({ upstreamTimeoutMs: 200 });
  try {
    slow.rogue.script(() => [{ pause: 1500 }, { destroy: true }]);
    const view = await callGateway(slow, CHAT.path, { body: CHAT.body });
    assert.equal(view.status, 504);
    assert.equal(errorCode(view.body), 'TM_UPSTREAM_TIMEOUT');
    const row = slow.rows().at(-1);
    assert.equal(row?.status, 504);
    assert.equal(row?.source, 'partial');
    assert.ok(Number(row?.prompt_tokens) > 0);
  } finally {
    await slow.close();
  }
});

describe('the documented end of a stream commits the record', () => {
  const ends: [string, typeof CHAT, string][] = [
    [
      'data: [DONE]',
      CHAT,
      'data: {"choices":[],"usage":{"prompt_tokens":999,"completion_tokens":999,"total_tokens":1998}}\n\n',
    ],
    [
      'response.completed',
      RESPONSES,
      'event: response.completed\ndata: {"type":"response.completed","response":{"usage":{"input_tokens":999,"output_tokens":999}}}\n\n',
    ],
    [
      'message_stop',
      ANTHROPIC,
      'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":999}}\n\n',
    ],
  ];
  for (const [end, provider, extra] of ends) {
    test(`${end}: the final event reaches the client after the record, what follows is forwarded unbilled (${provider.name})`, async () => {
      h.rogue.script(() => [
        { write: Buffer.concat([SSE_HEAD, httpChunk(provider.sse)]) },
        // The backend goes on after the end, slowly: the client must not wait for it.
        { pause: 150 },
        { write: httpChunk(extra) },
        { pause: 20 },
        { write: httpChunk(extra) },
        { write: httpChunk('') },
        { end: true },
      ]);
      const before = h.rows().length;
      let rowsWhenFinalArrived = -1;
      let extraWhenFinalArrived = true;
      const view = await callGateway(h, provider.streamPath, {
        body: provider.streamBody,
        onChunk: (_chunk, soFar) => {
          if (rowsWhenFinalArrived === -1 && soFar.toString().includes(end)) {
            rowsWhenFinalArrived = h.rows().length;
            extraWhenFinalArrived = soFar.toString().includes('999');
          }
        },
      });
      assert.equal(view.status, 200);
      assert.equal(
        rowsWhenFinalArrived,
        before + 1,
        'the record is in the ledger when the final event arrives',
      );
      assert.equal(extraWhenFinalArrived, false, 'the final event did not wait for the upstream to end');
      assert.equal(view.body.toString(), provider.sse + extra + extra);
      const rows = h.rows();
      assert.equal(rows.length, before + 1);
      assert.equal(rows.at(-1)?.source, 'reported');
      assert.equal(rows.at(-1)?.prompt_tokens, provider.prompt);
      assert.equal(rows.at(-1)?.completion_tokens, provider.completion);
    });
  }

  test('a backend that never stops after [DONE] is relayed as it comes, not held', async () => {
    const extra = `: keep-alive ${'x'.repeat(1000)}\n\n`;
    const steps: RogueStep[] = [{ write: Buffer.concat([SSE_HEAD, httpChunk(CHAT.sse)]) }];
    for (let i = 0; i < 200; i++) steps.push({ write: httpChunk(extra) });
    h.rogue.script(() => [...steps, { write: httpChunk('') }, { end: true }]);
    const view = await callGateway(h, CHAT.streamPath, { body: CHAT.streamBody });
    assert.equal(view.status, 200);
    assert.equal(view.body.length, CHAT.sse.length + 200 * extra.length);
    assert.equal(h.rows().at(-1)?.completion_tokens, CHAT.completion);
  });
});
