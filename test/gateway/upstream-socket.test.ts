// The upstream pools' sockets, below the relay: unsolicited 100 Continue heads are dropped over
// plain TCP and TLS alike, each byte passes the filter once (also under backpressure, when
// undici gives bytes back with unshift), and a pool without the filter still fails (the reason
// the filter exists: when this test fails, undici learnt to skip such a 100 itself).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Pool } from 'undici';
import { createUpstreamPool } from '../../src/gateway/upstream-socket.js';
import {
  httpAnswer,
  startRogueBackend,
  type RogueBackend,
  type RogueStep,
} from '../helpers/rogue-backend.js';
import { CERT, KEY } from '../helpers/test-tls.js';

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const JSON_BODY = '{"answer":"hello","usage":{"prompt_tokens":3,"completion_tokens":1}}';

// One connection: calls in a row reuse it, so each answer after the first starts on a used socket.
const POOL_OPTIONS = { connections: 1, keepAliveTimeout: 10_000, headersTimeout: 5_000, bodyTimeout: 5_000 };

async function call(pool: Pool): Promise<{ status: number; body: Buffer }> {
  const res = await pool.request({ path: '/v1/x', method: 'POST', body: '{"model":"m"}' });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

for (const scheme of ['http', 'https'] as const) {
  describe(`over ${scheme}`, () => {
    let rogue: RogueBackend;
    let pool: Pool;

    before(async () => {
      rogue = await startRogueBackend(scheme === 'https' ? { tls: { key: KEY, cert: CERT } } : {});
      pool = createUpstreamPool(rogue.url, { ...POOL_OPTIONS, connect: { ca: CERT } });
    });

    after(async () => {
      await pool.close();
      await rogue.close();
    });

    test('100 then the answer, in one read or split at any byte of the 100', async () => {
      const bytes = Buffer.concat([Buffer.from(CONTINUE), httpAnswer(200, {}, JSON_BODY)]);
      for (const at of [0, 1, 9, 12, 13, 20, CONTINUE.length - 2, CONTINUE.length]) {
        const steps: RogueStep[] =
          at === 0
            ? [{ write: bytes }]
            : [{ write: bytes.subarray(0, at) }, { pause: 15 }, { write: bytes.subarray(at) }];
        rogue.script(() => steps);
        const res = await call(pool);
        assert.equal(res.status, 200, `split at ${at}`);
        assert.equal(res.body.toString(), JSON_BODY, `split at ${at}`);
      }
    });

    test('calls in a row on one connection, each answer after a 100; a body starting with a 100 is kept', async () => {
      const first = rogue.requests.length;
      const lookalike = `${CONTINUE}not a head: body bytes`;
      const answer = httpAnswer(200, {}, lookalike);
      const bodyAt = answer.length - lookalike.length;
      rogue.script(() => [
        { write: CONTINUE },
        { pause: 5 },
        { write: answer.subarray(0, bodyAt) },
        { pause: 15 },
        { write: answer.subarray(bodyAt) },
      ]);
      for (let n = 0; n < 3; n++) {
        const res = await call(pool);
        assert.equal(res.status, 200);
        assert.equal(res.body.toString(), lookalike);
      }
      const connections = new Set(rogue.requests.slice(first).map((r) => r.connection));
      assert.equal(connections.size, 1);
    });

    test('a large answer after a 100, read slowly: every byte once, in order', async () => {
      const body = Buffer.alloc(4 * 1024 * 1024);
      for (let i = 0; i < body.length; i++) body[i] = (i * 7919) % 251;
      // A look-alike 100 head every 64 KiB of the body, where reads are likely to start.
      for (let at = 0; at + CONTINUE.length < body.length; at += 64 * 1024)
        body.write(CONTINUE, at, 'latin1');
      rogue.script(() => [{ write: CONTINUE }, { write: httpAnswer(200, {}, body) }]);
      const res = await pool.request({ path: '/v1/big', method: 'POST', body: '{}' });
      assert.equal(res.statusCode, 200);
      const hash = createHash('sha256');
      let length = 0;
      for await (const chunk of res.body) {
        hash.update(chunk as Buffer);
        length += (chunk as Buffer).length;
        // Yield between chunks: the body stream fills, undici pauses its parser and gives the
        // rest of a read back to the socket (unshift), which must not pass the filter again.
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(length, body.length);
      assert.equal(hash.digest('hex'), createHash('sha256').update(body).digest('hex'));
    });
  });
}

test('a pool without the filter: undici closes the connection on the 100 (why the filter exists)', async () => {
  const rogue = await startRogueBackend();
  const pool = new Pool(rogue.url, { ...POOL_OPTIONS, pipelining: 1 });
  try {
    rogue.script(() => [{ write: CONTINUE }, { write: httpAnswer(200, {}, JSON_BODY) }]);
    await assert.rejects(call(pool), { code: 'UND_ERR_SOCKET' });
  } finally {
    await pool.close();
    await rogue.close();
  }
});

test('a connection that fails (nobody listens) is an error of the call, not of the process', async () => {
  // undici's connector calls back with the error and no socket: the filter must not touch it.
  const pool = createUpstreamPool('http://127.0.0.1:9', POOL_OPTIONS);
  try {
    await assert.rejects(call(pool), (err: unknown) => {
      assert.equal((err as { code?: string }).code, 'ECONNREFUSED');
      return true;
    });
  } finally {
    await pool.close();
  }
});
