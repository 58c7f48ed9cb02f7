// A rogue Gemini backend whose function call carries arguments nested 100 000 levels deep and
// no usage: reading the answer's text for estimation must not overflow the stack. The call is
// relayed unchanged, estimated, and recorded once, in every answer format Gemini has.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpAnswer } from '../helpers/rogue-backend.js';
import { callGateway, PATHS, startRelayHarness, type RelayHarness } from './relay-harness.js';

const DEPTH = 100_000;

const DEEP_ARGS: Record<string, string> = {
  objects: `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`,
  arrays: `{"list":${'['.repeat(DEPTH)}"x"${']'.repeat(DEPTH)}}`,
};

/** A candidate with a function call (its `args` given as JSON text), without usage. */
function chunk(argsJson: string, finished: boolean): string {
  const call = `{"functionCall":{"name":"lookup","args":${argsJson}}}`;
  return (
    `{"candidates":[{"content":{"parts":[{"text":"Calling lookup."},${call}],"role":"model"},` +
    `${finished ? '"finishReason":"STOP",' : ''}"index":0}],"modelVersion":"gemini-2.5-flash"}`
  );
}

const BODY = { contents: [{ role: 'user', parts: [{ text: 'Look it up' }] }] };

let h: RelayHarness;

before(async () => {
  h = await startRelayHarness();
});

after(async () => {
  await h.close();
});

/** Compared without printing half a megabyte when they differ. */
function assertRelayed(received: Buffer, sent: string): void {
  assert.ok(
    received.equals(Buffer.from(sent)),
    `relayed unchanged (${received.length} of ${sent.length} bytes)`,
  );
}

/** The one record the call added: estimated, with the prompt counted. */
function assertEstimatedOnce(rowsBefore: number, label: string): Record<string, unknown> {
  const rows = h.rows();
  assert.equal(rows.length, rowsBefore + 1, `${label}: one record`);
  const row = rows.at(-1) ?? {};
  assert.equal(row.status, 200, label);
  assert.equal(row.source, 'estimated', label);
  assert.ok(Number(row.prompt_tokens) > 0, label);
  assert.equal(row.response_model, 'gemini-2.5-flash', `${label}: the answer was read`);
  return row;
}

for (const [shape, args] of Object.entries(DEEP_ARGS)) {
  test(`non-streamed answer with ${shape} nested ${DEPTH} deep: relayed, estimated, one record`, async () => {
    const json = chunk(args, true);
    h.rogue.script(() => [{ write: httpAnswer(200, { 'content-type': 'application/json' }, json) }]);
    const rowsBefore = h.rows().length;
    const view = await callGateway(h, PATHS.gemini, { body: BODY });
    assert.equal(view.status, 200);
    assertRelayed(view.body, json);
    assertEstimatedOnce(rowsBefore, 'JSON');
  });

  test(`SSE stream with ${shape} nested ${DEPTH} deep: relayed, estimated from its text, one record`, async () => {
    const sse = `data: ${chunk(args, false)}\r\n\r\ndata: ${chunk('{"b":2}', true)}\r\n\r\n`;
    h.rogue.script(() => [{ write: httpAnswer(200, { 'content-type': 'text/event-stream' }, sse) }]);
    const rowsBefore = h.rows().length;
    const view = await callGateway(h, PATHS.geminiSse, { body: BODY });
    assert.equal(view.status, 200);
    assertRelayed(view.body, sse);
    const row = assertEstimatedOnce(rowsBefore, 'SSE');
    // The generated text (the deep arguments included) is estimated, not left unknown.
    assert.ok(Number(row.completion_tokens) > 1000, `completion ${String(row.completion_tokens)}`);
  });

  test(`streamed JSON array with ${shape} nested ${DEPTH} deep: relayed, estimated, one record`, async () => {
    const array = `[${chunk(args, false)},\r\n${chunk('{"b":2}', true)}]`;
    h.rogue.script(() => [{ write: httpAnswer(200, { 'content-type': 'application/json' }, array) }]);
    const rowsBefore = h.rows().length;
    const view = await callGateway(h, PATHS.gemini.replace(':generateContent', ':streamGenerateContent'), {
      body: BODY,
    });
    assert.equal(view.status, 200);
    assertRelayed(view.body, array);
    const row = assertEstimatedOnce(rowsBefore, 'JSON array');
    assert.ok(Number(row.completion_tokens) > 1000, `completion ${String(row.completion_tokens)}`);
  });
}
