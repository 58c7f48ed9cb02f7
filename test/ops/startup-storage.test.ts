import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { describeStartupFailure } from '../../src/cli/startup-failure.js';
import { configSchema } from '../../src/config/schema.js';
import { MIN_FREE_BYTES } from '../../src/config/ledger-location.js';
import { startGateway } from '../../src/gateway/server.js';
import { CLI } from '../helpers/paths.js';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI; a serve that wrongly starts is killed after 20 s (code null). */
function runCli(args: string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd, timeout: 20_000, env: { ...process.env, TOKENMETER_LOG_LEVEL: 'warn' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : null;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function configText(ledgerPath: string, ledger = `sqlite:${ledgerPath}`): string {
  return [
    'gateway: { host: 127.0.0.1, port: 0 }',
    'backends:',
    '  - { id: primary, type: openai, url: "http://127.0.0.1:9/v1" }',
    'apis:',
    '  - { id: openai, path: /openai/v1, type: openai, backend: primary }',
    `ledger: ${ledger}`,
    '',
  ].join('\n');
}

/** config check and serve both refuse, exit 2, one line matching `expected`, no stack. */
async function expectRefused(
  dir: string,
  ledgerPath: string,
  expected: RegExp,
  ledger?: string,
  cwd: string = dir,
): Promise<void> {
  writeFileSync(join(dir, 'tm.yaml'), configText(ledgerPath, ledger));
  for (const command of [['config', 'check'], ['serve']]) {
    const run = await runCli([...command, '--config', join(dir, 'tm.yaml')], cwd);
    const what = `${command.join(' ')} ${ledgerPath}: ${run.stderr}`;
    assert.equal(run.code, 2, what);
    assert.equal(run.stdout, '', what);
    assert.equal(run.stderr.trimEnd().split('\n').length, 1, what);
    assert.match(run.stderr, expected, what);
    assert.doesNotMatch(run.stderr, /\n\s+at /, what);
  }
}

function mount(args: string[]): boolean {
  return spawnSync('mount', args, { stdio: 'ignore' }).status === 0;
}

// A real full disk needs a small file system of our own: tmpfs, mounted as root. A container
// without CAP_SYS_ADMIN cannot mount; there these tests are skipped (the reason says so).
const probeDir = mkdtempSync(join(tmpdir(), 'tm-mount-probe-'));
const canMount = mount(['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probeDir]);
if (canMount) spawnSync('umount', [probeDir]);
rmSync(probeDir, { recursive: true, force: true });
const skip = canMount ? false : 'cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)';

describe('start-up on a full disk: a clear "disk full", exit 2', { skip }, () => {
  const root = mkdtempSync(join(tmpdir(), 'tm-full-'));
  const disk = join(root, 'disk');
  before(() => {
    mkdirSync(disk);
    assert.ok(mount(['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', disk]), 'mount tmpfs');
  });
  after(() => {
    spawnSync('umount', [disk]);
    rmSync(root, { recursive: true, force: true });
  });

  function fill(): void {
    // dd stops at ENOSPC: the file system is then full to the last block.
    spawnSync('dd', ['if=/dev/zero', `of=${join(disk, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
  }

  it('with room, config check passes and leaves nothing behind (the control case)', async () => {
    writeFileSync(join(root, 'tm.yaml'), configText(join(disk, 'ledger.db')));
    const run = await runCli(['config', 'check', '--config', 'tm.yaml'], root);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(readdirSync(disk), []);
  });

  it('a full disk: config check and serve refuse with "disk full", naming the directory; no ledger file is made', async () => {
    fill();
    try {
      await expectRefused(
        root,
        join(disk, 'ledger.db'),
        /ledger: .*disk full: 0 bytes free on the file system of .*disk/,
      );
      await expectRefused(root, join(disk, 'sub', 'ledger.db'), /ledger: .*cannot be created: disk full/);
      assert.deepEqual(readdirSync(disk), ['filler']);
    } finally {
      rmSync(join(disk, 'filler'));
    }
  });

  it(`less than ${MIN_FREE_BYTES} bytes free is refused as disk full too`, async () => {
    fill();
    // Free 512 KiB again: a ledger could be created, and would fail soon after.
    spawnSync('truncate', ['-s', `-${512 * 1024}`, join(disk, 'filler')]);
    try {
      await expectRefused(root, join(disk, 'ledger.db'), /disk full: \d+ KiB free .*at least 1\.0 MiB/);
    } finally {
      rmSync(join(disk, 'filler'));
    }
  });

  it('when SQLite itself finds the disk full at open, the start-up error says "disk full"', async () => {
    // startGateway without the CLI's checks: the open itself meets ENOSPC (SQLITE_FULL).
    fill();
    try {
      const config = configSchema.parse({
        backends: [{ id: 'b', type: 'openai', url: 'http://127.0.0.1:9/v1' }],
        apis: [{ id: 'a', path: '/a', type: 'openai', backend: 'b' }],
        ledger: `sqlite:${join(disk, 'ledger.db')}`,
      });
      const err = await startGateway(config, { port: 0, logger: pino({ level: 'silent' }) }).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.notEqual(err, undefined, 'the gateway started on a full disk');
      assert.match(
        describeStartupFailure(err, { host: '127.0.0.1', port: 0 }),
        /^cannot open the ledger sqlite:.*ledger\.db: .*\(disk full: free space on the ledger's file system/,
      );
    } finally {
      rmSync(join(disk, 'filler'));
      for (const name of readdirSync(disk)) rmSync(join(disk, name), { force: true });
    }
  });

  it('a PostgreSQL ledger whose outbox is on the full disk is refused the same way', async () => {
    fill();
    try {
      // The outbox is the only local storage of a PostgreSQL ledger (nothing connects at check).
      const pg = 'postgres://tm:${PGPASSWORD:-x}@127.0.0.1:9/tm';
      await expectRefused(
        root,
        '',
        /ledger\.outbox: the outbox .*disk\/outbox cannot be created: disk full: 0 bytes free/,
        `{ url: "${pg}", outbox: ${join(disk, 'outbox')} }`,
      );
      // The default outbox (./tokenmeter-outbox) in a working directory on the full disk.
      await expectRefused(
        root,
        '',
        /ledger: the outbox .*disk\/tokenmeter-outbox cannot be created: disk full/,
        pg,
        disk,
      );
    } finally {
      rmSync(join(disk, 'filler'));
      for (const name of readdirSync(disk)) rmSync(join(disk, name), { recursive: true, force: true });
    }
  });

  it('a read-only file system is refused as not writable', async () => {
    const ro = join(root, 'ro');
    mkdirSync(ro);
    assert.ok(mount(['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]), 'mount read-only tmpfs');
    try {
      await expectRefused(root, join(ro, 'ledger.db'), /ledger: .*cannot be created: .*ro is not writable/);
    } finally {
      spawnSync('umount', [ro]);
    }
  });
});

describe('start-up with an unwritable ledger path: one line, exit 2', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-unwritable-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('a parent that is a regular file', async () => {
    writeFileSync(join(dir, 'a-file'), 'not a directory');
    await expectRefused(
      dir,
      join(dir, 'a-file', 'ledger.db'),
      /cannot be created: .*a-file is not a directory/,
    );
  });

  it('a path under /proc (root may "access" it, nobody can create a file there)', async () => {
    await expectRefused(
      dir,
      '/proc/tokenmeter-ledger.db',
      /cannot be created: cannot write in \/proc: files cannot be created there/,
    );
    assert.equal(existsSync('/proc/tokenmeter-ledger.db'), false);
  });

  it('a PostgreSQL outbox below a regular file, or under /proc', async () => {
    writeFileSync(join(dir, 'b-file'), 'not a directory');
    const pg = 'postgres://tm:pw@127.0.0.1:9/tm';
    await expectRefused(
      dir,
      '',
      /ledger\.outbox: the outbox .*b-file\/outbox cannot be created: .*b-file is not a directory/,
      `{ url: "${pg}", outbox: ./b-file/outbox }`,
    );
    await expectRefused(
      dir,
      '',
      /ledger\.outbox: the outbox \/proc\/tm-outbox cannot be created: cannot write in \/proc/,
      `{ url: "${pg}", outbox: /proc/tm-outbox }`,
    );
  });

  it('a path under /sys', async () => {
    await expectRefused(dir, '/sys/tokenmeter-ledger.db', /cannot be created: .*\/sys/);
  });
});
