import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelCommand,
  InvokeModelWithResponseStreamCommand,
  type ConverseStreamOutput,
} from '@aws-sdk/client-bedrock-runtime';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { CUT_AFTER_STEPS } from '../../src/simulator/failures.js';
import { countMessagesTokens, countTextTokens } from '../../src/simulator/text.js';
import {
  bearerClient,
  chunkEvent,
  decodeFrame,
  decodeStream,
  postRaw,
  postUntilCut,
  splitFrames,
  type DecodedFrame,
} from './bedrock-helpers.js';

const COMPLETION = 6;
const NOVA = 'amazon.nova-micro-v1:0';
const CLAUDE = 'us.anthropic.claude-3-5-sonnet-20240620-v1:0';
const CLAUDE_ARN = `arn:aws:bedrock:us-east-1:123456789012:inference-profile/${CLAUDE}`;
const converseBody = {
  system: [{ text: 'You are terse.' }],
  messages: [{ role: 'user', content: [{ text: 'What is the capital of France?' }] }],
};
/** The prompt count text.ts's formula gives, computed here from the same rule. */
const CONVERSE_PROMPT = countMessagesTokens([
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'What is the capital of France?' },
]);
const claudeBody = {
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 100,
  messages: [{ role: 'user', content: 'Name a colour.' }],
};
const CLAUDE_PROMPT = countMessagesTokens([{ role: 'user', content: 'Name a colour.' }]);

const path = (modelId: string, operation: string): string =>
  `/model/${encodeURIComponent(modelId)}/${operation}`;

/** Header names and values every event frame of a real ConverseStream carries (the recording). */
function assertEventHeaders(frame: DecodedFrame, eventType: string): void {
  assert.deepEqual(frame.headerNames, [':event-type', ':content-type', ':message-type']);
  assert.deepEqual(frame.headers, {
    ':event-type': eventType,
    ':content-type': 'application/json',
    ':message-type': 'event',
  });
  assert.equal(typeof frame.payload.p, 'string', 'padding member');
  const keys = Object.keys(frame.payload);
  assert.deepEqual(keys, [...keys].sort(), 'members in alphabetical order');
}

describe('simulator: Bedrock Runtime', () => {
  let sim: Simulator;
  before(async () => {
    sim = await startSimulator({ completionTokens: COMPLETION });
  });
  after(() => sim.close());
  beforeEach(() => sim.resetStats());

  it('Converse through the AWS SDK: the recorded shape, deterministic usage, stats equal to it', async () => {
    const client = bearerClient(sim.url, 'any');
    const out = await client.send(new ConverseCommand({ modelId: NOVA, ...converseBody } as never));
    const text = out.output?.message?.content?.[0]?.text ?? '';
    assert.equal(out.output?.message?.role, 'assistant');
    assert.equal(out.stopReason, 'end_turn');
    assert.deepEqual(out.usage, {
      inputTokens: CONVERSE_PROMPT,
      outputTokens: COMPLETION,
      totalTokens: CONVERSE_PROMPT + COMPLETION,
    });
    assert.equal(countTextTokens(text), COMPLETION, 'the text is as many tokens as reported');
    assert.ok((out.metrics?.latencyMs ?? 0) >= 1);
    const stats = sim.stats();
    assert.deepEqual([stats.requests, stats.errors], [1, 0]);
    assert.equal(stats.promptTokens, CONVERSE_PROMPT);
    assert.equal(stats.completionTokens, COMPLETION);
    assert.equal(stats.lastRequest?.path, path(NOVA, 'converse'));

    // inferenceConfig.maxTokens caps the answer: stopReason max_tokens.
    const capped = await client.send(
      new ConverseCommand({ modelId: NOVA, ...converseBody, inferenceConfig: { maxTokens: 2 } } as never),
    );
    assert.equal(capped.stopReason, 'max_tokens');
    assert.equal(capped.usage?.outputTokens, 2);
  });

  it('ConverseStream: the recorded frames (headers, padding, event order) and the same usage via the SDK', async () => {
    const raw = await postRaw(`${sim.url}${path(NOVA, 'converse-stream')}`, converseBody);
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['content-type'], 'application/vnd.amazon.eventstream');
    assert.match(String(raw.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
    const frames = decodeStream(raw.bytes);
    const types = frames.map((f) => f.headers[':event-type'] ?? '');
    assert.deepEqual(types, [
      'messageStart',
      ...Array<string>(COMPLETION).fill('contentBlockDelta'),
      'contentBlockStop',
      'messageStop',
      'metadata',
    ]);
    frames.forEach((f, i) => assertEventHeaders(f, types[i] ?? ''));
    const metadata = frames.at(-1)?.payload;
    assert.deepEqual(metadata?.usage, {
      inputTokens: CONVERSE_PROMPT,
      outputTokens: COMPLETION,
      totalTokens: CONVERSE_PROMPT + COMPLETION,
    });
    assert.deepEqual(frames.at(-2)?.payload.stopReason, 'end_turn');

    // Deterministic: the same request gives the same bytes.
    const again = await postRaw(`${sim.url}${path(NOVA, 'converse-stream')}`, converseBody);
    assert.ok(again.bytes.equals(raw.bytes));

    const client = bearerClient(sim.url, 'any');
    const out = await client.send(new ConverseStreamCommand({ modelId: NOVA, ...converseBody } as never));
    const events: ConverseStreamOutput[] = [];
    for await (const event of out.stream ?? []) events.push(event);
    const text = events.map((e) => e.contentBlockDelta?.delta?.text ?? '').join('');
    assert.equal(countTextTokens(text), COMPLETION);
    assert.deepEqual(events.at(-1)?.metadata?.usage, metadata?.usage);
    const stats = sim.stats();
    assert.deepEqual([stats.requests, stats.errors, stats.completionTokens], [3, 0, 3 * COMPLETION]);
  });

  it('model ids: inference profiles and ARNs arrive URL-encoded and are read decoded', async () => {
    const client = bearerClient(sim.url, 'any');
    const out = await client.send(new ConverseCommand({ modelId: CLAUDE_ARN, ...converseBody } as never));
    assert.equal(out.usage?.outputTokens, COMPLETION);
    assert.equal(sim.stats().lastRequest?.path, path(CLAUDE_ARN, 'converse'));
    assert.match(sim.stats().lastRequest?.path ?? '', /inference-profile%2Fus\.anthropic/);

    // An ARN names the Claude model: InvokeModel answers with its name.
    const invoked = await client.send(
      new InvokeModelCommand({ modelId: CLAUDE_ARN, body: JSON.stringify(claudeBody) }),
    );
    const body = JSON.parse(Buffer.from(invoked.body).toString('utf8')) as Record<string, unknown>;
    assert.equal(body.model, 'claude-3-5-sonnet-20240620');
  });

  it("InvokeModel (Claude): the Messages body, and Bedrock's count headers agree with it", async () => {
    const raw = await postRaw(`${sim.url}${path(CLAUDE, 'invoke')}`, claudeBody);
    assert.equal(raw.status, 200);
    const body = JSON.parse(raw.bytes.toString('utf8')) as Record<string, unknown>;
    assert.equal(body.type, 'message');
    assert.match(String(body.id), /^msg_bdrk_/);
    assert.deepEqual(body.usage, { input_tokens: CLAUDE_PROMPT, output_tokens: COMPLETION });
    assert.equal(raw.headers['x-amzn-bedrock-input-token-count'], String(CLAUDE_PROMPT));
    assert.equal(raw.headers['x-amzn-bedrock-output-token-count'], String(COMPLETION));
    assert.match(String(raw.headers['x-amzn-bedrock-invocation-latency']), /^\d+$/);

    const client = bearerClient(sim.url, 'any');
    const out = await client.send(
      new InvokeModelCommand({ modelId: CLAUDE, body: JSON.stringify(claudeBody) }),
    );
    const viaSdk = JSON.parse(Buffer.from(out.body).toString('utf8')) as Record<string, unknown>;
    assert.match(String(viaSdk.id), /^msg_bdrk_/);
    assert.deepEqual({ ...viaSdk, id: body.id }, body, 'the same answer but its id');
    assert.equal(sim.stats().promptTokens, 2 * CLAUDE_PROMPT);
  });

  it("billed counts apart from the body's (x-simulator-billed-input-delta): headers, metrics and stats bill them", async () => {
    const delta = { 'x-simulator-billed-input-delta': '5' };
    const raw = await postRaw(`${sim.url}${path(CLAUDE, 'invoke')}`, claudeBody, delta);
    const body = JSON.parse(raw.bytes.toString('utf8')) as { usage: Record<string, number> };
    assert.equal(body.usage.input_tokens, CLAUDE_PROMPT, "the model's own count");
    assert.equal(raw.headers['x-amzn-bedrock-input-token-count'], String(CLAUDE_PROMPT + 5));
    const stream = await postRaw(
      `${sim.url}${path(CLAUDE, 'invoke-with-response-stream')}`,
      claudeBody,
      delta,
    );
    const events = decodeStream(stream.bytes).map(chunkEvent);
    const start = events[0]?.message as { usage: Record<string, number> };
    assert.equal(start.usage.input_tokens, CLAUDE_PROMPT);
    const metrics = events.at(-1)?.['amazon-bedrock-invocationMetrics'] as Record<string, number>;
    assert.equal(metrics.inputTokenCount, CLAUDE_PROMPT + 5);
    assert.equal(sim.stats().promptTokens, 2 * (CLAUDE_PROMPT + 5), 'the stats add what is billed');
    const bad = await postRaw(`${sim.url}${path(CLAUDE, 'invoke')}`, claudeBody, {
      'x-simulator-billed-input-delta': '-1',
    });
    assert.equal(bad.status, 400);
  });

  it('InvokeModelWithResponseStream (Claude): chunk frames of base64 model events, metrics on the last', async () => {
    const raw = await postRaw(`${sim.url}${path(CLAUDE, 'invoke-with-response-stream')}`, claudeBody);
    assert.equal(raw.status, 200);
    assert.equal(raw.headers['content-type'], 'application/vnd.amazon.eventstream');
    assert.equal(raw.headers['x-amzn-bedrock-content-type'], 'application/json');
    const frames = decodeStream(raw.bytes);
    frames.forEach((f) => assertEventHeaders(f, 'chunk'));
    const events = frames.map(chunkEvent);
    assert.deepEqual(
      events.map((e) => e.type),
      [
        'message_start',
        'content_block_start',
        ...Array<string>(COMPLETION).fill('content_block_delta'),
        'content_block_stop',
        'message_delta',
        'message_stop',
      ],
    );
    assert.deepEqual((events[0]?.message as Record<string, unknown>).usage, {
      input_tokens: CLAUDE_PROMPT,
      output_tokens: 1,
    });
    assert.deepEqual(events.at(-2)?.usage, { output_tokens: COMPLETION });
    const metrics = events.at(-1)?.['amazon-bedrock-invocationMetrics'] as Record<string, number>;
    assert.equal(metrics.inputTokenCount, CLAUDE_PROMPT);
    assert.equal(metrics.outputTokenCount, COMPLETION);
    assert.ok(metrics.invocationLatency !== undefined && metrics.firstByteLatency !== undefined);

    const client = bearerClient(sim.url, 'any');
    const out = await client.send(
      new InvokeModelWithResponseStreamCommand({ modelId: CLAUDE, body: JSON.stringify(claudeBody) }),
    );
    const read: Record<string, unknown>[] = [];
    for await (const event of out.body ?? []) {
      read.push(
        JSON.parse(Buffer.from(event.chunk?.bytes ?? new Uint8Array()).toString('utf8')) as Record<
          string,
          unknown
        >,
      );
    }
    assert.equal(read.length, events.length);
    assert.deepEqual(
      read.slice(1),
      events.slice(1),
      'the same events; the first one differs by its message id',
    );
  });

  it('Llama: its own body and stream (running generation count, metrics on the last event)', async () => {
    const model = 'meta.llama3-8b-instruct-v1:0';
    const prompt = { prompt: 'Say something short.', max_gen_len: 4 };
    const raw = await postRaw(`${sim.url}${path(model, 'invoke')}`, prompt);
    const body = JSON.parse(raw.bytes.toString('utf8')) as Record<string, unknown>;
    const input = countTextTokens('Say something short.');
    assert.deepEqual(
      [body.prompt_token_count, body.generation_token_count, body.stop_reason],
      [input, 4, 'length'],
    );
    assert.equal(raw.headers['x-amzn-bedrock-output-token-count'], '4');
    const stream = await postRaw(`${sim.url}${path(model, 'invoke-with-response-stream')}`, prompt);
    const events = decodeStream(stream.bytes).map(chunkEvent);
    assert.deepEqual(
      events.map((e) => e.generation_token_count),
      [1, 2, 3, 4, 4],
    );
    assert.equal(events[0]?.prompt_token_count, input);
    assert.deepEqual(events.at(-1)?.['amazon-bedrock-invocationMetrics'], {
      inputTokenCount: input,
      outputTokenCount: 4,
      invocationLatency: 1,
      firstByteLatency: 1,
    });
  });

  it('bad requests: Bedrock errors ({message} and x-amzn-errortype), no tokens counted', async () => {
    const cases: {
      path: string;
      body: unknown;
      status: number;
      type: string;
      headers?: Record<string, string>;
    }[] = [
      { path: path(NOVA, 'converse'), body: '{"messages": [', status: 400, type: 'ValidationException' },
      { path: path(NOVA, 'converse'), body: '[]', status: 400, type: 'ValidationException' },
      {
        path: path(NOVA, 'converse-stream'),
        body: { messages: [] },
        status: 400,
        type: 'ValidationException',
      },
      {
        path: path(CLAUDE, 'invoke'),
        body: { max_tokens: 5, messages: [{ role: 'user', content: 'x' }] },
        status: 400,
        type: 'ValidationException',
      },
      {
        path: path(CLAUDE, 'invoke'),
        body: { anthropic_version: 'bedrock-2023-05-31', messages: [{ role: 'user', content: 'x' }] },
        status: 400,
        type: 'ValidationException',
      },
      {
        path: path('cohere.command-r-v1:0', 'invoke'),
        body: { message: 'x' },
        status: 400,
        type: 'ValidationException',
      },
      {
        path: path(NOVA, 'converse'),
        body: converseBody,
        status: 400,
        type: 'ValidationException',
        headers: { 'x-simulator-fail': 'no-such-mode' },
      },
      {
        path: path(NOVA, 'converse'),
        body: converseBody,
        status: 400,
        type: 'ValidationException',
        headers: { 'x-simulator-fail': 'crc-corrupt' },
      },
    ];
    for (const c of cases) {
      const res = await postRaw(`${sim.url}${c.path}`, c.body, c.headers);
      assert.equal(res.status, c.status, c.path);
      assert.equal(res.headers['content-type'], 'application/json');
      assert.equal(String(res.headers['x-amzn-errortype']).split(':')[0], c.type);
      const body = JSON.parse(res.bytes.toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['message']);
      assert.ok(String(body.message).length > 0);
    }
    const get = await fetch(`${sim.url}${path(NOVA, 'converse')}`);
    assert.equal(get.status, 404);
    assert.equal(get.headers.get('x-amzn-errortype')?.split(':')[0], 'UnknownOperationException');

    // The SDK reads the error type from x-amzn-errortype.
    await assert.rejects(
      bearerClient(sim.url, 'k').send(new ConverseCommand({ modelId: NOVA, messages: [] })),
      (err: Error) => err.name === 'ValidationException',
    );
    const stats = sim.stats();
    assert.equal(stats.errors, cases.length + 2);
    assert.deepEqual([stats.promptTokens, stats.completionTokens], [0, 0]);
  });

  it('failure modes of streams: the frames each one sends, and what the SDK makes of them', async () => {
    const url = `${sim.url}${path(NOVA, 'converse-stream')}`;
    const fail = (mode: string) => postRaw(url, converseBody, { 'x-simulator-fail': mode });
    const intact = splitFrames((await postRaw(url, converseBody)).bytes).frames;
    sim.resetStats();

    // crc-corrupt: the frame after CUT_AFTER_STEPS deltas fails its message CRC, the rest is intact.
    const corrupt = splitFrames((await fail('crc-corrupt')).bytes);
    assert.equal(corrupt.frames.length, intact.length);
    assert.equal(corrupt.rest.length, 0);
    const bad = 1 + CUT_AFTER_STEPS;
    assert.throws(() => decodeFrame(corrupt.frames[bad] ?? new Uint8Array()), /checksum/);
    corrupt.frames.forEach((f, i) => {
      if (i !== bad) assert.deepEqual(decodeFrame(f), decodeFrame(intact[i] ?? new Uint8Array()));
    });

    // truncated-frame: whole frames, then half of the next, then the connection ends.
    const truncated = await postUntilCut(url, converseBody, { 'x-simulator-fail': 'truncated-frame' });
    assert.deepEqual([truncated.status, truncated.complete], [200, false]);
    const split = splitFrames(truncated.bytes);
    assert.equal(split.frames.length, bad);
    assert.ok(split.rest.length > 0, 'half a frame');
    split.frames.forEach((f, i) => assert.ok(Buffer.from(f).equals(intact[i] ?? new Uint8Array())));
    // cut-stream: whole frames only, then the connection ends.
    const cut = await postUntilCut(url, converseBody, { 'x-simulator-fail': 'cut-stream' });
    assert.deepEqual(
      [cut.complete, splitFrames(cut.bytes).frames.length, splitFrames(cut.bytes).rest.length],
      [false, bad, 0],
    );

    // Exceptions: CUT_AFTER_STEPS deltas, then one exception frame, then the end.
    for (const [mode, exception] of [
      ['throttling-exception', 'throttlingException'],
      ['model-stream-error', 'modelStreamErrorException'],
      ['stream-error', 'internalServerException'],
    ] as const) {
      const frames = splitFrames((await fail(mode)).bytes).frames;
      assert.equal(frames.length, bad + 1, mode);
      const last = decodeFrame(frames.at(-1) ?? new Uint8Array());
      assert.deepEqual(last.headerNames, [':exception-type', ':content-type', ':message-type']);
      assert.equal(typeof last.payload.message, 'string');
      assert.deepEqual(last.headers, {
        ':exception-type': exception,
        ':content-type': 'application/json',
        ':message-type': 'exception',
      });
    }

    // invalid-json: a frame with intact CRCs whose payload is not JSON, then the whole stream.
    const invalid = splitFrames((await fail('invalid-json')).bytes).frames;
    assert.equal(invalid.length, intact.length + 1);
    assert.throws(() => decodeFrame(invalid[1] ?? new Uint8Array()), SyntaxError);

    // What the SDK makes of each: an error, the error type named when it is an exception event.
    const expected: Record<string, RegExp> = {
      'crc-corrupt': /checksum/,
      'truncated-frame': /./,
      'cut-stream': /./,
      'invalid-json': /JSON/,
      'throttling-exception': /^ThrottlingException/,
      'model-stream-error': /^ModelStreamErrorException/,
      'stream-error': /^InternalServerException/,
    };
    for (const [mode, pattern] of Object.entries(expected)) {
      const client = bearerClient(sim.url, 'k', mode);
      await assert.rejects(
        async () => {
          const out = await client.send(
            new ConverseStreamCommand({ modelId: NOVA, ...converseBody } as never),
          );
          for await (const event of out.stream ?? []) void event;
        },
        (err: Error) => pattern.test(`${err.name}: ${err.message}`),
      );
    }
    const stats = sim.stats();
    assert.deepEqual([stats.promptTokens, stats.completionTokens], [0, 0], 'failed answers add no tokens');
    assert.equal(stats.errors, stats.requests);
  });

  it('failure modes of JSON operations: HTTP errors in Bedrock shape, cut and malformed bodies', async () => {
    const url = `${sim.url}${path(CLAUDE, 'invoke')}`;
    const expect = [
      ['500', 500, 'InternalServerException'],
      ['429', 429, 'ThrottlingException'],
      ['stream-error', 500, 'InternalServerException'],
      ['throttling-exception', 429, 'ThrottlingException'],
      ['model-stream-error', 424, 'ModelErrorException'],
      ['truncated-frame', 400, 'ValidationException'],
    ] as const;
    for (const [mode, status, type] of expect) {
      const res = await postRaw(url, claudeBody, { 'x-simulator-fail': mode });
      assert.equal(res.status, status, mode);
      assert.equal(String(res.headers['x-amzn-errortype']).split(':')[0], type);
    }
    const invalid = await postRaw(url, claudeBody, { 'x-simulator-fail': 'invalid-json' });
    assert.equal(invalid.status, 200);
    assert.throws(() => JSON.parse(invalid.bytes.toString('utf8')) as unknown, SyntaxError);
    await assert.rejects(postRaw(url, claudeBody, { 'x-simulator-fail': 'cut-stream' }));
    assert.deepEqual([sim.stats().promptTokens, sim.stats().errors], [0, expect.length + 2]);
  });

  it('pacing: a paced stream comes in several writes and the same bytes as an unpaced one', async () => {
    const paced = await startSimulator({ completionTokens: COMPLETION, tokensPerSecond: 200 });
    try {
      const res = await fetch(`${paced.url}${path(NOVA, 'converse-stream')}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(converseBody),
      });
      const reads: Uint8Array[] = [];
      for await (const chunk of res.body ?? []) reads.push(chunk as Uint8Array);
      assert.ok(reads.length > 1, 'more than one read');
      const bytes = Buffer.concat(reads);
      const frames = decodeStream(bytes);
      const unpaced = decodeStream(
        (await postRaw(`${sim.url}${path(NOVA, 'converse-stream')}`, converseBody)).bytes,
      );
      // Only the reported latency differs: 6 tokens at 200/s = 30 ms.
      assert.deepEqual(frames.slice(0, -1), unpaced.slice(0, -1));
      assert.deepEqual(frames.at(-1)?.payload.metrics, { latencyMs: 30 });
    } finally {
      await paced.close();
    }
  });
});
