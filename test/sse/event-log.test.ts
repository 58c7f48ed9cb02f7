import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createEventLog } from '../../src/sse/event-log.js';
import { createGeneratedText } from '../../src/providers/generated-text.js';
import { createChatStreamTap } from '../../src/providers/openai/chat-stream.js';
import { createAnthropicStreamTap } from '../../src/providers/anthropic/stream.js';

const event = (data: string): Buffer => Buffer.from(`data: ${data}\n\n`);

/** A log whose events are `{"t": text, "m": model}` and that counts how often it reads. */
function countingLog(maxLogBytes: number, maxTextChars = 1_000_000) {
  let reads = 0;
  const log = createEventLog(
    (e) => {
      reads += 1;
      const parsed = JSON.parse(e.data) as { t?: string; m?: string };
      return { text: parsed.t, model: parsed.m };
    },
    { maxLogBytes, maxTextChars },
  );
  return { log, reads: () => reads };
}

test('events stay unread while the log has room; text and model are read on demand, in order', () => {
  const { log, reads } = countingLog(1024);
  log.append(event('{"t":"a"}'));
  log.append(event('{"t":"b","m":"gpt-x"}'));
  log.append(event('{"t":"c","m":"gpt-y"}'));
  assert.equal(reads(), 0);
  assert.equal(log.text(), 'abc');
  assert.equal(log.model(), 'gpt-x');
});

test('a full log is read once and let go: text order and first model survive folding', () => {
  const { log, reads } = countingLog(64);
  const texts: string[] = [];
  for (let i = 0; i < 50; i += 1) {
    texts.push(`t${i}`);
    log.append(event(JSON.stringify({ t: `t${i}`, m: i === 3 ? 'first' : i > 3 ? 'later' : undefined })));
  }
  // Folding read the events as the log filled, not all 50 at the end (and never one twice).
  assert.ok(reads() > 0 && reads() <= 50);
  assert.equal(log.text(), texts.join(''));
  assert.equal(log.model(), 'first');
});

test('an event larger than the log is read at once, in order', () => {
  const { log } = countingLog(32);
  log.append(event('{"t":"a"}'));
  log.append(event(JSON.stringify({ t: 'B'.repeat(100) })));
  log.append(event('{"t":"c"}'));
  assert.equal(log.text(), `a${'B'.repeat(100)}c`);
});

test('text beyond the bound is dropped: an estimate counts the text kept', () => {
  const { log } = countingLog(40, 10);
  for (let i = 0; i < 20; i += 1) log.append(event('{"t":"xyz"}'));
  assert.equal(log.text(), 'xyzxyzxyzx');
});

test('generated text keeps at most its maximum', () => {
  const text = createGeneratedText(5);
  text.add('abc');
  assert.equal(text.full, false);
  text.add('defg');
  assert.equal(text.text(), 'abcde');
  assert.equal(text.truncated, true);
  assert.equal(text.full, true);
  text.add('more');
  assert.equal(text.text(), 'abcde');
});

test('chat and anthropic taps estimate from every delta of a long stream, order kept', () => {
  // 60 000 events (~5.5 MB of chat chunks): more than the 4 MiB log, folded on the way.
  const words = Array.from({ length: 60_000 }, (_, i) => `w${i} `);
  const chat = createChatStreamTap({ stripUsageChunk: false });
  const anthropic = createAnthropicStreamTap({ stripUsageChunk: false });
  for (const word of words) {
    chat.push(event(JSON.stringify({ model: 'gpt-4o', choices: [{ index: 0, delta: { content: word } }] })));
    anthropic.push(
      Buffer.from(
        `event: content_block_delta\ndata: ${JSON.stringify({ type: 'content_block_delta', delta: { type: 'text_delta', text: word } })}\n\n`,
      ),
    );
  }
  chat.push(event('[DONE]'));
  assert.equal(chat.result().generatedText, words.join(''));
  assert.equal(chat.result().responseModel, 'gpt-4o');
  assert.equal(anthropic.result().generatedText, words.join(''));
});
