// What reaches the backend (issue #7, classes 4, 8 and 9), checked on the wire: a real gateway
// in process, a rogue backend that records every request byte for byte.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { configSchema } from '../../src/config/schema.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';
import { BAD_SEGMENTS, GOOD_SEGMENTS } from '../helpers/path-variants.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-client.js';
import {
  httpAnswer,
  startRogueBackend,
  type RogueBackend,
  type RogueRequest,
} from '../helpers/rogue-backend.js';

const KEY = 'team-a-key-123';
const AUTH = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

const SSE_WITH_USAGE = [
  'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}',
  'data: {"id":"c1","object":"chat.completion.chunk","model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":1,"total_tokens":8}}',
  'data: [DONE]',
]
  .map((event) => `${event}\n\n`)
  .join('');

/** Chat streams get an SSE answer with usage; everything else the rogue's default JSON answer. */
function answerFor(request: RogueRequest): Buffer {
  const streamed = /"stream"\s*:\s*true/.test(request.body.toString());
  if (streamed && /completions/.test(request.path))
    return httpAnswer(200, { 'content-type': 'text/event-stream' }, SSE_WITH_USAGE);
  return httpAnswer(
    200,
    {
      'content-type': 'application/json',
      'x-request-id': 'req-1',
      'x-ratelimit-remaining-tokens': '99',
      'set-cookie': '__cf_bm=backend-session; path=/; domain=api.example',
      'openai-organization': 'org-gateway-account',
      'openai-project': 'proj-gateway',
      'anthropic-organization-id': 'gateway-org-uuid',
      'alt-svc': 'h3=":443"; ma=86400',
      connection: 'keep-alive, x-hop-by-name',
      'x-hop-by-name': 'secret',
    },
    JSON.stringify({
      id: 'chatcmpl-rogue',
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
    }),
  );
}

let rogue: RogueBackend;
let gw: Gateway;
let dir: string;
let ledgerPath: string;

before(async () => {
  rogue = await startRogueBackend();
  rogue.script((request) => [{ write: answerFor(request) }]);
  dir = mkdtempSync(join(tmpdir(), 'tm-reach-'));
  ledgerPath = join(dir, 'ledger.db');
  const backend = (id: string, type: string, url: string, extra: object = {}): object => ({
    id,
    type,
    url,
    apiKey: `backend-secret-${id}`,
    ...extra,
  });
  gw = await startGateway(
    configSchema.parse({
      backends: [
        backend('oai', 'openai', `${rogue.url}/v1`),
        backend('oai-adjusted', 'openai', `${rogue.url}/v1`, {
          // Authorization and Connection can never be forwarded: naming them has no effect.
          forwardHeaders: ['OpenAI-Organization', 'X-Forwarded-For', 'Authorization', 'Connection'],
          dropHeaders: ['X-Team', 'x-stainless-os'],
        }),
        backend('az', 'azure-openai', rogue.url),
        backend('ant', 'anthropic', rogue.url),
        backend('gem', 'gemini', rogue.url),
      ],
      apis: [
        { id: 'openai', path: '/openai/v1', type: 'openai', backend: 'oai' },
        { id: 'adjusted', path: '/adjusted/v1', type: 'openai', backend: 'oai-adjusted' },
        { id: 'azure', path: '/azure', type: 'azure-openai', backend: 'az' },
        { id: 'anthropic', path: '/anthropic', type: 'anthropic', backend: 'ant' },
        { id: 'gemini', path: '/gemini', type: 'gemini', backend: 'gem' },
      ],
      products: [{ id: 'std', apis: ['openai', 'adjusted', 'azure', 'anthropic', 'gemini'] }],
      subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    }),
    { port: 0, ledgerUrl: `sqlite:${ledgerPath}`, logger: pino({ level: 'silent' }) },
  );
});

after(async () => {
  await gw.close();
  await rogue.close();
  rmSync(dir, { recursive: true, force: true });
});

async function post(
  path: string,
  body: string,
  headers: Record<string, string | string[]> = AUTH,
): Promise<{ answer: RawAnswer; forwarded: RogueRequest | undefined }> {
  const before = rogue.requests.length;
  const answer = await rawRequest(gw.url, { path, headers, body });
  return { answer, forwarded: rogue.requests.length > before ? rogue.requests.at(-1) : undefined };
}

function errorCode(answer: RawAnswer): string | undefined {
  return (JSON.parse(answer.body.toString()) as { error?: { code?: string } }).error?.code;
}

describe('class 4: the body goes upstream as sent, but for the spliced include_usage member', () => {
  const BIG = '"seed":123456789012345678901234567890,"temperature":1.0,"top_p":1E0';
  const MESSAGES = '"messages":[{"role":"user","content":"h\\u00e9llo \\"q\\" }{"}]';
  const INSERTED = '"stream_options":{"include_usage":true},';
  const cases: [string, string, string][] = [
    ['no stream_options', `{"model":"m","stream":true,${BIG},${MESSAGES}}`, ''],
    [
      'include_usage false and other keys',
      `{"model":"m","stream":true,"stream_options":{"include_usage": false, "other": 1.50},${BIG},${MESSAGES}}`,
      'false->true',
    ],
    [
      'stream_options null',
      `{"model":"m", "stream":true, "stream_options" : null ,${BIG},${MESSAGES}}`,
      'null',
    ],
    [
      'duplicate stream_options: the last is the one set',
      `{"model":"m","stream":true,"stream_options":{"include_usage":true},${BIG},"stream_options":{},${MESSAGES}}`,
      'last{}',
    ],
    ['escaped key', `{"model":"m","stream":true,"stream\\u005foptions":{},${BIG},${MESSAGES}}`, 'escaped{}'],
  ];
  const expectedUpstream = (raw: string, kind: string): string => {
    switch (kind) {
      case '':
        return `{${INSERTED}${raw.slice(1)}`;
      case 'false->true':
        return raw.replace('"include_usage": false', '"include_usage": true');
      case 'null':
        return raw.replace('"stream_options" : null', '"stream_options" : {"include_usage":true}');
      case 'last{}':
        return raw.replace('"stream_options":{},', '"stream_options":{"include_usage":true},');
      default:
        return raw.replace('"stream\\u005foptions":{}', '"stream\\u005foptions":{"include_usage":true}');
    }
  };

  for (const path of [
    '/openai/v1/chat/completions',
    '/openai/v1/completions',
    '/azure/openai/deployments/d1/chat/completions?api-version=2024-10-21',
  ]) {
    for (const [name, raw, kind] of cases) {
      test(`${path}: ${name}`, async () => {
        const { answer, forwarded } = await post(path, raw);
        assert.equal(answer.status, 200);
        assert.equal(forwarded?.body.toString(), expectedUpstream(raw, kind));
        // The usage chunk the gateway asked for is stripped; the reported counts are billed.
        assert.ok(!answer.body.toString().includes('"usage"'));
        const row = readLedgerRows(ledgerPath).at(-1);
        assert.equal(row?.prompt_tokens, 7);
        assert.equal(row?.source, 'reported');
      });
    }
  }

  test('a client that asked for usage itself: the very bytes, and the usage chunk reaches it', async () => {
    const raw = `{"model":"m","stream":true,"stream_options":{"include_usage":true},${BIG}}`;
    const { answer, forwarded } = await post('/openai/v1/chat/completions', raw);
    assert.equal(forwarded?.body.toString(), raw);
    assert.ok(answer.body.toString().includes('"usage"'));
  });

  for (const depth of [5_000, 100_000]) {
    const deep = `${'['.repeat(depth)}"x"${']'.repeat(depth)}`;
    test(`a body nested ${depth} levels deep: forwarded, never a 500`, async () => {
      const bodies: [string, string, string][] = [
        [
          '/openai/v1/chat/completions',
          `{"model":"m","stream":true,"messages":[{"role":"user","content":${deep}}]}`,
          'insert',
        ],
        [
          '/openai/v1/chat/completions',
          `{"model":"m","messages":[{"role":"user","content":${deep}}],"stream":true,"stream_options":{}}`,
          'splice',
        ],
        ['/openai/v1/responses', `{"model":"m","input":${deep}}`, 'same'],
        ['/openai/v1/embeddings', `{"model":"m","input":${deep}}`, 'same'],
        [
          '/anthropic/v1/messages',
          `{"model":"c","max_tokens":5,"messages":[{"role":"user","content":${deep}}]}`,
          'same',
        ],
        ['/gemini/v1beta/models/g:generateContent', `{"contents":[{"parts":${deep}}]}`, 'same'],
      ];
      for (const [path, raw, kind] of bodies) {
        const { answer, forwarded } = await post(path, raw);
        assert.equal(answer.status, 200, path);
        const expected =
          kind === 'insert'
            ? `{${INSERTED}${raw.slice(1)}`
            : kind === 'splice'
              ? raw.replace('"stream_options":{}', '"stream_options":{"include_usage":true}')
              : raw;
        assert.ok(forwarded?.body.equals(Buffer.from(expected)), path);
      }
      // Malformed, and deep: a 400, nothing forwarded.
      const { answer, forwarded } = await post(
        '/openai/v1/chat/completions',
        `{"messages":${deep.slice(1)}}`,
      );
      assert.equal(answer.status, 400);
      assert.equal(errorCode(answer), 'TM_BAD_JSON');
      assert.equal(forwarded, undefined);
    });
  }
});

describe('class 8: which client headers reach the backend', () => {
  const hostile: Record<string, string | string[]> = {
    ...AUTH,
    'OpenAI-Organization': 'org-someone-else',
    'OpenAI-Project': 'proj-someone-else',
    Cookie: 'session=client-cookie',
    Connection: 'keep-alive, X-Nominated, x-OTHER-nominated',
    'X-Nominated': 'hop',
    'X-Other-Nominated': 'hop',
    'X-Goog-User-Project': 'their-project',
    Forwarded: 'for=203.0.113.9',
    'X-Forwarded-For': '203.0.113.9',
    'X-Forwarded-Host': 'evil.example',
    'X-Real-IP': '203.0.113.9',
    'True-Client-IP': '203.0.113.9',
    'X-HTTP-Method-Override': 'DELETE',
    'X-Original-URL': '/admin',
    'Proxy-Authorization': 'Basic cHJveHk6c2VjcmV0',
    // The same key in every credential header (the first one present is the one read).
    'X-Api-Key': KEY,
    'Api-Key': KEY,
    'Ocp-Apim-Subscription-Key': KEY,
    'X-Goog-Api-Key': KEY,
    TE: 'trailers',
    'X-Team': 'team-a',
    'OpenAI-Beta': 'assistants=v2',
    'x-stainless-os': 'Linux',
    'X-Repeated': ['one', 'two'],
  };
  const body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';
  const DROPPED = [
    'openai-organization',
    'openai-project',
    'cookie',
    'x-nominated',
    'x-other-nominated',
    'x-goog-user-project',
    'forwarded',
    'x-forwarded-for',
    'x-forwarded-host',
    'x-real-ip',
    'true-client-ip',
    'x-http-method-override',
    'x-original-url',
    'proxy-authorization',
    'x-api-key',
    'api-key',
    'ocp-apim-subscription-key',
    'x-goog-api-key',
    'te',
  ];

  test('default policy: account selection, cookies, nominated, proxy and credential headers dropped', async () => {
    const { answer, forwarded } = await post('/openai/v1/chat/completions', body, hostile);
    assert.equal(answer.status, 200);
    assert.ok(forwarded);
    for (const name of DROPPED) assert.equal(forwarded.headers[name], undefined, name);
    assert.equal(forwarded.headers.authorization, 'Bearer backend-secret-oai');
    assert.equal(forwarded.headers['x-team'], 'team-a');
    assert.equal(forwarded.headers['openai-beta'], 'assistants=v2');
    assert.equal(forwarded.headers['x-stainless-os'], 'Linux');
    assert.equal(forwarded.headers['x-repeated'], 'one, two');
    assert.equal(forwarded.headers['content-type'], 'application/json');
    assert.equal(forwarded.headers['accept-encoding'], 'identity');
    assert.ok(!(forwarded.headers.connection ?? '').toLowerCase().includes('nominated'));
    // No raw header line carries a value the client sent in a dropped header.
    const raw = forwarded.rawHeaders.join('\n');
    for (const secret of ['someone-else', 'client-cookie', '203.0.113.9', 'cHJveHk6c2VjcmV0', KEY, 'hop'])
      assert.ok(!raw.includes(secret), secret);
  });

  test('backends[].forwardHeaders / dropHeaders adjust it, names in any case', async () => {
    const { forwarded } = await post('/adjusted/v1/chat/completions', body, hostile);
    assert.ok(forwarded);
    assert.equal(forwarded.headers['openai-organization'], 'org-someone-else');
    assert.equal(forwarded.headers['x-forwarded-for'], '203.0.113.9');
    assert.equal(forwarded.headers['x-team'], undefined);
    assert.equal(forwarded.headers['x-stainless-os'], undefined);
    assert.equal(forwarded.headers['openai-project'], undefined);
    assert.equal(forwarded.headers.authorization, 'Bearer backend-secret-oai-adjusted');
    assert.equal(forwarded.headers['x-nominated'], undefined);
  });

  test('every provider: the gateway key replaces every client credential', async () => {
    const calls: [string, string, string, string][] = [
      ['/azure/openai/deployments/d/chat/completions?api-version=1', body, 'api-key', 'backend-secret-az'],
      [
        '/anthropic/v1/messages',
        '{"model":"c","max_tokens":5,"messages":[]}',
        'x-api-key',
        'backend-secret-ant',
      ],
      ['/gemini/v1beta/models/g:generateContent', '{"contents":[]}', 'x-goog-api-key', 'backend-secret-gem'],
    ];
    for (const [path, payload, header, value] of calls) {
      const { forwarded } = await post(path, payload, hostile);
      assert.ok(forwarded, path);
      assert.equal(forwarded.headers[header], value, path);
      for (const name of DROPPED.filter((n) => n !== header))
        assert.equal(forwarded.headers[name], undefined, `${path} ${name}`);
    }
  });

  test('response side: cookies, account ids, alt-svc and nominated headers do not reach the client', async () => {
    const { answer } = await post('/openai/v1/chat/completions', body);
    assert.equal(answer.status, 200);
    for (const name of [
      'set-cookie',
      'openai-organization',
      'openai-project',
      'anthropic-organization-id',
      'alt-svc',
      'x-hop-by-name',
    ])
      assert.equal(answer.headers[name], undefined, name);
    assert.equal(answer.headers['x-request-id'], 'req-1');
    assert.equal(answer.headers['x-ratelimit-remaining-tokens'], '99');
  });
});

describe('class 9: path parameters are plain segments, or 400 and nothing forwarded or billed', () => {
  const templates: [string, (x: string) => string][] = [
    ['azure deployment', (x) => `/azure/openai/deployments/${x}/chat/completions?api-version=1`],
    ['azure deployment (embeddings)', (x) => `/azure/openai/deployments/${x}/embeddings`],
    ['gemini model', (x) => `/gemini/v1beta/models/${x}:generateContent`],
    ['gemini tuned model', (x) => `/gemini/v1beta/tunedModels/${x}:streamGenerateContent?alt=sse`],
    [
      'vertex project',
      (x) =>
        `/gemini/v1/projects/${x}/locations/us-central1/publishers/google/models/gemini-2.5-pro:generateContent`,
    ],
    [
      'vertex location',
      (x) => `/gemini/v1/projects/p/locations/${x}/publishers/google/models/m:generateContent`,
    ],
    [
      'vertex model',
      (x) => `/gemini/v1/projects/p/locations/l/publishers/google/models/${x}:generateContent`,
    ],
  ];
  const bodyFor = (path: string): string =>
    path.startsWith('/azure') ? '{"messages":[{"role":"user","content":"hi"}]}' : '{"contents":[]}';

  for (const [name, template] of templates) {
    test(`${name}: ${BAD_SEGMENTS.length} traversal variants refused`, async () => {
      const rows = await gw.ledger.count();
      const seen = rogue.requests.length;
      for (const bad of BAD_SEGMENTS) {
        const path = template(bad);
        const { answer } = await post(path, bodyFor(path));
        assert.equal(answer.status, 400, path);
        assert.equal(errorCode(answer), 'TM_BAD_PATH', path);
      }
      assert.equal(rogue.requests.length, seen, 'nothing reached the backend');
      assert.equal(await gw.ledger.count(), rows, 'nothing was billed');
    });

    test(`${name}: double-encoded and look-alike values are plain segments, forwarded as sent`, async () => {
      for (const [raw, decoded] of GOOD_SEGMENTS) {
        const path = template(raw);
        const { answer, forwarded } = await post(path, bodyFor(path));
        assert.equal(answer.status, 200, path);
        // The backend gets the path exactly as the client wrote it (below the API's base path).
        assert.equal(forwarded?.path, path.replace(/^\/(azure|gemini)/, ''), path);
        if (name.includes('model') || name.includes('deployment'))
          assert.equal(readLedgerRows(ledgerPath).at(-1)?.model, decoded, path);
      }
    });
  }

  test('the API prefix: dot segments, encoded slashes and backslashes under any API', async () => {
    const rows = await gw.ledger.count();
    const seen = rogue.requests.length;
    for (const path of [
      '/openai/v1/../v1/chat/completions',
      '/openai/v1/./chat/completions',
      '/openai/v1/%2e%2e/v1/chat/completions',
      '/openai/v1/chat%2fcompletions',
      '/openai/v1/chat%2Fcompletions',
      '/openai/v1/chat\\completions',
      '/openai/v1/chat%5ccompletions',
      '/openai/v1/chat/completions%00',
      '/openai/../azure/openai/deployments/d/chat/completions',
      '/anthropic/v1/../v1/messages',
      '/gemini/v1beta/models/../models/g:generateContent',
    ]) {
      const { answer } = await post(path, '{"model":"m","messages":[],"contents":[]}');
      assert.equal(answer.status, 400, path);
      assert.equal(errorCode(answer), 'TM_BAD_PATH', path);
    }
    // Empty segments match no route: 404, nothing forwarded either.
    for (const path of ['/openai/v1//chat/completions', '/azure/openai/deployments//x/chat/completions']) {
      const { answer } = await post(path, '{"model":"m","messages":[]}');
      assert.ok(answer.status === 404 || answer.status === 400, path);
    }
    assert.equal(rogue.requests.length, seen, 'nothing reached the backend');
    assert.equal(await gw.ledger.count(), rows, 'nothing was billed');
  });

  test('the query string is forwarded as sent (it cannot traverse); Gemini billing parameters are not', async () => {
    const { forwarded } = await post(
      '/openai/v1/chat/completions?x=../..%2fadmin&y=%00',
      '{"model":"m","messages":[]}',
    );
    assert.equal(forwarded?.path, '/v1/chat/completions?x=../..%2fadmin&y=%00');
    const gem = await post(
      '/gemini/v1beta/models/g:generateContent?userProject=theirs&%24userProject=x&access_token=t&alt=json',
      '{"contents":[]}',
    );
    assert.equal(gem.forwarded?.path, '/v1beta/models/g:generateContent?alt=json');
  });
});
