// Path parameter variants shared by the unit and gateway tests of TM_BAD_PATH (issue #7, class 9).

/** Values that must be refused wherever a path parameter stands. */
export const BAD_SEGMENTS = [
  '..',
  '.',
  '%2e%2e',
  '%2E%2E',
  '.%2e',
  '%2e',
  '%2e%2e%2f%2e%2e%2fadmin',
  '%2E%2E%2F%2E%2E%2Fadmin',
  '..%2f..%2fadmin',
  '..%2Fadmin',
  '%2fadmin',
  'a%2fb',
  '..%5cadmin',
  'a%5Cb',
  'a%00b',
  '%00',
  'a%0d%0ab',
  'a%7fb',
  'a%c2%85b',
  'bad%ZZ',
  '%',
  '%e2%82',
];

/** Values that look odd but are plain segments: accepted, decoded once. */
export const GOOD_SEGMENTS: [string, string][] = [
  ['gpt-4o', 'gpt-4o'],
  ['my%20gpt-4o', 'my gpt-4o'],
  // Double encoding decodes once to a literal, which a backend decoding once reads the same way.
  ['%252e%252e', '%2e%2e'],
  ['%252e%252e%252fadmin', '%2e%2e%2fadmin'],
  ['...', '...'],
  ['a..b', 'a..b'],
  ['.hidden', '.hidden'],
  // Unicode look-alikes of "." and "/" are plain text to every backend.
  ['%EF%BC%8E%EF%BC%8E', '．．'],
  ['%E2%80%A4%E2%80%A4', '\u2024\u2024'],
  ['a%E2%88%95b', 'a∕b'],
  ['caf%C3%A9', 'café'],
];
