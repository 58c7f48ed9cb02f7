// How a stream with an event over gateway.maxEventBytes is metered (streamOutcomeUsage).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { streamOutcomeUsage } from '../../src/gateway/call-meter.js';
import type { StreamResult } from '../../src/providers/types.js';

const prompt = (): string => 'How many tokens is this prompt?';
const usage = { promptTokens: 3, completionTokens: 4, totalTokens: 7 };
const result = (over: Partial<StreamResult>): StreamResult => ({
  usage: {},
  generatedText: 'Hello there',
  completed: true,
  errored: false,
  ...over,
});

test('usage read after the oversized event: the provider counts stand, the record is flagged', () => {
  const out = streamOutcomeUsage(
    result({ usage, eventTooLarge: true, usageAfterTooLarge: true }),
    200,
    false,
    prompt,
  );
  assert.deepEqual(out, { usage, source: 'reported', flags: ['event_too_large'] });
  const cut = streamOutcomeUsage(
    result({ usage, eventTooLarge: true, usageAfterTooLarge: true, completed: false }),
    200,
    false,
    prompt,
  );
  assert.deepEqual(cut, { usage, source: 'partial', flags: ['event_too_large'] });
});

test('no usage read after the oversized event: estimated from what was read, flagged', () => {
  for (const over of [
    { eventTooLarge: true }, // no usage at all
    { usage, eventTooLarge: true, usageAfterTooLarge: false }, // a snapshot from before it
  ]) {
    const out = streamOutcomeUsage(result(over), 200, false, prompt);
    assert.equal(out.source, 'estimated');
    assert.deepEqual(out.flags, ['event_too_large']);
    assert.notDeepEqual(out.usage, usage);
    assert.ok((out.usage.completionTokens ?? 0) > 0);
  }
  const cut = streamOutcomeUsage(result({ eventTooLarge: true, completed: false }), 200, true, prompt);
  assert.equal(cut.source, 'partial');
  assert.deepEqual(cut.flags, ['event_too_large']);
});

test('an error answer or error event with an oversized event bills nothing but keeps the flag', () => {
  assert.deepEqual(streamOutcomeUsage(result({ eventTooLarge: true }), 500, false, prompt), {
    usage: {},
    source: 'reported',
    flags: ['event_too_large'],
  });
  assert.deepEqual(streamOutcomeUsage(result({ eventTooLarge: true, errored: true }), 200, false, prompt), {
    usage: {},
    source: 'reported',
    flags: ['event_too_large'],
  });
});

test('without an oversized event: no flag', () => {
  assert.deepEqual(streamOutcomeUsage(result({ usage }), 200, false, prompt).flags, []);
});
