// Property tests of the include_usage splice: for any JSON object body, the upstream body is the
// client's bytes with exactly one member inserted or one value replaced, and JSON.parse reads it
// as the client's body with stream_options.include_usage === true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { spliceMember } from '../../src/providers/json-splice.js';

const PATH = ['stream_options', 'include_usage'] as const;

function spliceUsage(raw: string): string | undefined {
  return spliceMember(Buffer.from(raw), PATH, 'true', JSON.parse(raw))?.toString('utf8');
}

/** What JSON.parse must read from the spliced body: the client's body, include_usage set. */
function expectedParse(raw: string): unknown {
  const body = JSON.parse(raw) as Record<string, unknown>;
  const options = body['stream_options'];
  const kept =
    typeof options === 'object' && options !== null && !Array.isArray(options)
      ? (options as Record<string, unknown>)
      : {};
  body['stream_options'] = { ...kept, include_usage: true };
  return body;
}

const ws = fc.constantFrom('', '', ' ', '\n', '\t', ' \r\n  ');

/** Value texts a re-serialiser would change: the splice must keep them byte for byte. */
const TRICKY_VALUES = [
  '123456789012345678901234567890',
  '1.0',
  '-0.0',
  '1E-7',
  '1e400',
  '"\\u00e9\\"}{]["',
  '"\\\\"',
  '"😀\\ud83d\\ude00"',
  '[1.50, {"a" : 2.0}]',
  // Deep enough to matter, shallow enough for assert.deepStrictEqual (which recurses).
  `{"deep":${'['.repeat(400)}${']'.repeat(400)}}`,
  '{"a":1,"a":2}',
  'null',
  'true',
];

const anyValueText = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc.constantFrom(...TRICKY_VALUES),
);

/** Key texts that JSON.parse reads as the keys the splice looks for, spelt in several ways. */
const streamOptionsKey = fc.constantFrom(
  '"stream_options"',
  '"stream\\u005foptions"',
  '"\\u0073tream_options"',
);
const includeUsageKey = fc.constantFrom('"include_usage"', '"include\\u005Fusage"');
const otherKey = fc.oneof(
  fc.constantFrom('"model"', '"stream"', '"messages"', '"stream_options_x"', '"Stream_options"', '"seed"'),
  fc.string({ maxLength: 6 }).map((k) => JSON.stringify(k)),
);

interface Member {
  key: string;
  value: string;
}

/** An object's text built from members, with the offsets of every value. */
function buildObject(
  members: readonly Member[],
  spaces: readonly string[],
  at: number,
): { text: string; open: number; values: { start: number; end: number }[] } {
  const space = (i: number): string => spaces[i % spaces.length] ?? '';
  let text = `{${space(0)}`;
  const values: { start: number; end: number }[] = [];
  members.forEach((member, i) => {
    if (i > 0) text += `${space(i + 1)},${space(i + 2)}`;
    text += `${member.key}${space(i + 3)}:${space(i + 4)}`;
    values.push({ start: at + Buffer.byteLength(text), end: at + Buffer.byteLength(text + member.value) });
    text += member.value;
  });
  text += `${space(members.length + 5)}}`;
  return { text, open: at, values };
}

const isStreamOptions = (key: string): boolean => JSON.parse(key) === 'stream_options';
const isIncludeUsage = (key: string): boolean => JSON.parse(key) === 'include_usage';

/** A stream_options value: an object (with or without include_usage members) or any other value. */
const streamOptionsValue = fc.oneof(
  fc.record({
    kind: fc.constant('object' as const),
    members: fc.array(fc.record({ key: fc.oneof(includeUsageKey, otherKey), value: anyValueText }), {
      maxLength: 4,
    }),
    spaces: fc.array(ws, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    kind: fc.constant('other' as const),
    value: anyValueText.filter((v) => !v.startsWith('{')),
  }),
);

const body = fc.record({
  lead: ws,
  members: fc.array(
    fc.oneof(
      { weight: 3, arbitrary: fc.record({ key: otherKey, value: anyValueText.map((v) => ({ text: v })) }) },
      { weight: 1, arbitrary: fc.record({ key: streamOptionsKey, value: streamOptionsValue }) },
    ),
    { maxLength: 6 },
  ),
  spaces: fc.array(ws, { minLength: 1, maxLength: 5 }),
  trail: ws,
});

test('the splice changes one span and JSON.parse reads the body with include_usage true', () => {
  fc.assert(
    fc.property(body, (b) => {
      // Render each stream_options value, keeping the offsets of its members' values.
      const rendered = b.members.map((m) => {
        if ('text' in m.value) return { key: m.key, text: m.value.text, inner: undefined };
        if (m.value.kind === 'other') return { key: m.key, text: m.value.value, inner: undefined };
        const inner = buildObject(m.value.members, m.value.spaces, 0);
        return { key: m.key, text: inner.text, inner: { ...inner, members: m.value.members } };
      });
      const outer = buildObject(
        rendered.map((r) => ({ key: r.key, value: r.text })),
        b.spaces,
        Buffer.byteLength(b.lead),
      );
      const raw = `${b.lead}${outer.text}${b.trail}`;
      const bytes = Buffer.from(raw);
      const out = spliceUsage(raw);
      assert.ok(out !== undefined);

      // The exact expected bytes, from the offsets this test built (not from the scanner).
      const replace = (start: number, end: number, text: string): string =>
        Buffer.concat([bytes.subarray(0, start), Buffer.from(text), bytes.subarray(end)]).toString();
      let expected: string;
      const last = rendered.map((r) => isStreamOptions(r.key)).lastIndexOf(true);
      if (last === -1) {
        expected = replace(
          outer.open + 1,
          outer.open + 1,
          `"stream_options":{"include_usage":true}${rendered.length > 0 ? ',' : ''}`,
        );
      } else {
        const span = outer.values[last];
        const inner = rendered[last]?.inner;
        assert.ok(span !== undefined);
        if (inner === undefined) {
          expected = replace(span.start, span.end, '{"include_usage":true}');
        } else {
          const lastUsage = inner.members.map((m) => isIncludeUsage(m.key)).lastIndexOf(true);
          const usageSpan = inner.values[lastUsage];
          expected =
            usageSpan === undefined
              ? replace(
                  span.start + 1,
                  span.start + 1,
                  `"include_usage":true${inner.members.length > 0 ? ',' : ''}`,
                )
              : replace(span.start + usageSpan.start, span.start + usageSpan.end, 'true');
        }
      }
      assert.equal(out, expected);
      assert.deepStrictEqual(JSON.parse(out), expectedParse(raw));
    }),
    { numRuns: 400 },
  );
});

test('arbitrary JSON objects from fast-check: parse reads include_usage true, the rest equal', () => {
  fc.assert(
    fc.property(
      fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 }),
      fc.option(fc.jsonValue({ maxDepth: 2 })),
      fc.integer({ min: 0, max: 3 }),
      (object, streamOptions, indent) => {
        const value: Record<string, unknown> = { ...object };
        if (streamOptions !== null) value['stream_options'] = streamOptions;
        const raw = JSON.stringify(value, null, indent);
        const out = spliceUsage(raw);
        assert.ok(out !== undefined);
        assert.deepStrictEqual(JSON.parse(out), expectedParse(raw));
        // Between the common prefix and suffix, the new bytes are (part of) one inserted text.
        let prefix = 0;
        while (prefix < raw.length && raw[prefix] === out[prefix]) prefix += 1;
        let suffix = 0;
        while (
          suffix < raw.length - prefix &&
          suffix < out.length - prefix &&
          raw[raw.length - 1 - suffix] === out[out.length - 1 - suffix]
        )
          suffix += 1;
        const inserted = out.slice(prefix, out.length - suffix);
        const texts = ['"stream_options":{"include_usage":true},', '"include_usage":true,', 'true'];
        // (Rotations too: the common prefix may have taken the inserted text's first quote.)
        assert.ok(
          texts.some((t) => (t + t).includes(inserted)),
          inserted,
        );
      },
    ),
    { numRuns: 300 },
  );
});

test('the cases one by one', () => {
  const cases: [string, string][] = [
    ['{}', '{"stream_options":{"include_usage":true}}'],
    [' { \n } ', ' {"stream_options":{"include_usage":true} \n } '],
    ['{"stream":true}', '{"stream_options":{"include_usage":true},"stream":true}'],
    ['{"stream_options":{}}', '{"stream_options":{"include_usage":true}}'],
    ['{"stream_options": { } }', '{"stream_options": {"include_usage":true } }'],
    ['{"stream_options":{"include_usage":false}}', '{"stream_options":{"include_usage":true}}'],
    [
      '{"stream_options":{"include_usage": false, "other": 1}}',
      '{"stream_options":{"include_usage": true, "other": 1}}',
    ],
    [
      '{"stream_options":{"other": 1.0}, "seed": 12345678901234567890}',
      '{"stream_options":{"include_usage":true,"other": 1.0}, "seed": 12345678901234567890}',
    ],
    ['{"stream_options":null,"a":1.0}', '{"stream_options":{"include_usage":true},"a":1.0}'],
    ['{"stream_options":"yes"}', '{"stream_options":{"include_usage":true}}'],
    ['{"stream_options":[1,{"include_usage":true}]}', '{"stream_options":{"include_usage":true}}'],
    // Duplicates: the last one is JSON.parse's, so the last one is set; the first stays as sent.
    [
      '{"stream_options":{"include_usage":false},"stream_options":{"x":1}}',
      '{"stream_options":{"include_usage":false},"stream_options":{"include_usage":true,"x":1}}',
    ],
    [
      '{"stream_options":{"include_usage":false,"include_usage":null}}',
      '{"stream_options":{"include_usage":false,"include_usage":true}}',
    ],
    // Escaped keys are the same keys to JSON.parse, and to the splice.
    [
      '{"stream\\u005foptions":{"include\\u005fusage":0}}',
      '{"stream\\u005foptions":{"include\\u005fusage":true}}',
    ],
    // Keys that only look alike are other keys.
    ['{"stream_options ":null}', '{"stream_options":{"include_usage":true},"stream_options ":null}'],
    [
      '{"a":"\\"stream_options\\":null","b":["stream_options",{"stream_options":1}]}',
      '{"stream_options":{"include_usage":true},"a":"\\"stream_options\\":null","b":["stream_options",{"stream_options":1}]}',
    ],
  ];
  for (const [raw, expected] of cases) {
    assert.equal(spliceUsage(raw), expected, raw);
    assert.deepStrictEqual(JSON.parse(expected), expectedParse(raw), raw);
  }
});

test('bodies nested 100 000 levels deep are spliced without recursion', () => {
  const depth = 100_000;
  const deep = `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
  const raw = `{"messages":[{"role":"user","content":${deep}}],"stream_options":{"include_usage":false}}`;
  const out = spliceUsage(raw);
  assert.equal(out, raw.replace('"include_usage":false', '"include_usage":true'));
  const rawWithout = `{"messages":${deep}}`;
  assert.equal(spliceUsage(rawWithout), `{"stream_options":{"include_usage":true},"messages":${deep}}`);
});

test('not an object: undefined, never an exception', () => {
  for (const raw of ['[]', '"x"', '1']) {
    assert.equal(spliceMember(Buffer.from(raw), PATH, 'true', JSON.parse(raw)), undefined, raw);
  }
});
