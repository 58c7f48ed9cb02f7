import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { describeStartupFailure, startOrExplain } from '../../src/cli/startup-failure.js';
import { CliInputError } from '../../src/cli/cli-error.js';
import { configSchema } from '../../src/config/schema.js';
import { isTokenmeterError } from '../../src/errors.js';
import { startGateway } from '../../src/gateway/server.js';

const target = { host: '0.0.0.0', port: 80 };
const listenError = (code: string): Error =>
  Object.assign(new Error(`listen ${code}`), { code, syscall: 'listen' });

describe('start-up failures are one line', () => {
  it('names the listen errors a user can fix', () => {
    assert.match(
      describeStartupFailure(listenError('EACCES'), target),
      /^cannot listen on 0\.0\.0\.0:80: permission denied/,
    );
    assert.match(describeStartupFailure(listenError('EADDRINUSE'), target), /already in use/);
    assert.match(
      describeStartupFailure(listenError('EADDRNOTAVAIL'), { host: '::2', port: 1 }),
      /^cannot listen on \[::2\]:1: the address is not available/,
    );
  });

  it('an EACCES that is not from listening is not called a port problem; multi-line messages keep their first line', () => {
    const fsError = Object.assign(new Error("EACCES: permission denied, mkdir '/x'"), {
      code: 'EACCES',
      syscall: 'mkdir',
    });
    assert.equal(
      describeStartupFailure(fsError, target),
      "cannot start: EACCES: permission denied, mkdir '/x'",
    );
    assert.equal(describeStartupFailure(new Error('first\nsecond'), target), 'cannot start: first');
  });

  it('startOrExplain turns any failure into a CliInputError (exit 2)', async () => {
    await assert.rejects(
      startOrExplain(() => Promise.reject(listenError('EADDRINUSE')), target),
      (err: unknown) => err instanceof CliInputError && err.exitCode === 2 && !err.message.includes('\n'),
    );
  });

  it('a ledger the gateway cannot open is TM_LEDGER_UNAVAILABLE naming it, and nothing is left listening', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tm-startup-'));
    try {
      const config = configSchema.parse({
        gateway: { port: 0 },
        backends: [{ id: 'b', type: 'openai', url: 'http://127.0.0.1:9/v1' }],
        apis: [{ id: 'a', path: '/a', type: 'openai', backend: 'b' }],
      });
      const err: unknown = await startGateway(config, {
        port: 0,
        ledgerUrl: `sqlite:${dir}`,
        logger: pino({ level: 'silent' }),
      }).then(
        () => assert.fail('expected the start to fail'),
        (e: unknown) => e,
      );
      assert.ok(isTokenmeterError(err) && err.code === 'TM_LEDGER_UNAVAILABLE', String(err));
      assert.match(
        describeStartupFailure(err, target),
        new RegExp(`^cannot open the ledger sqlite:${dir}: `),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
