import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../src/config/config-error.js';
import { findDefaultConfigPath } from '../../src/config/default-config.js';
import { loadConfig, parseConfig } from '../../src/config/load-config.js';
import { issuesOf, MINIMAL, where, yamlLines } from './helpers.js';

const DESIGN_EXAMPLE = fileURLToPath(new URL('./fixtures/design-example.yaml', import.meta.url));
const DESIGN_ENV = {
  TOKENMETER_ADMIN_KEY: 'admin-secret-1',
  OPENAI_API_KEY: 'sk-test',
  TEAM_A_KEY: 'team-a-secret',
};

describe('loadConfig', () => {
  it('accepts the DESIGN.md example with its variables set', () => {
    const config = loadConfig(DESIGN_EXAMPLE, DESIGN_ENV);
    assert.equal(config.gateway.id, 'gw-eastus-1');
    assert.equal(config.gateway.port, 8080);
    assert.equal(config.admin.key, 'admin-secret-1');
    assert.equal(config.backends[0]?.apiKey, 'sk-test');
    assert.equal(config.subscriptions[0]?.key, 'team-a-secret');
    assert.equal(config.subscriptions[0]?.costCenter, 'CC-1001');
    assert.deepEqual(config.tokenMetrics[0]?.dimensions, [
      'API ID',
      'Subscription ID',
      { name: 'model', value: 'request.model' },
      { name: 'appId', value: 'jwt.claims.appid' },
    ]);
  });

  it('names every unset variable of the DESIGN.md example with its line', () => {
    assert.throws(
      () => loadConfig(DESIGN_EXAMPLE, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.exitCode, 2);
        assert.equal(err.code, 'TM_CONFIG_INVALID');
        assert.deepEqual(where(err.issues), [
          [9, 'admin.key'],
          [14, 'backends[0].apiKey'],
          [25, 'subscriptions[0].key'],
        ]);
        assert.match(
          err.message.split('\n')[0] ?? '',
          /design-example\.yaml:9:8 admin\.key: environment variable TOKENMETER_ADMIN_KEY is not set$/,
        );
        return true;
      },
    );
  });

  it('applies defaults', () => {
    const config = parseConfig(yamlLines(...MINIMAL), 'tm.yaml', {});
    assert.deepEqual(config.gateway, {
      id: 'gateway-1',
      location: 'local',
      host: '127.0.0.1',
      port: 8080,
      trustedProxies: [],
      maxBodyBytes: 10 * 1024 * 1024,
      upstreamTimeoutMs: 300_000,
      maxEventBytes: 64 * 1024 * 1024,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 10_000,
      keyRefreshMs: 1000,
      drainTimeoutMs: 30_000,
    });
    assert.equal(config.ledger, 'sqlite:./tokenmeter.db');
    assert.deepEqual(config.metrics, {});
    assert.deepEqual(config.ledgerPolicy, { whenUnavailable: 'serve' });
    assert.deepEqual(config.backends[0]?.forwardHeaders, []);
    assert.deepEqual(config.admin, {});
    assert.equal(config.backends[0]?.streamUsage, 'inject');
    assert.equal(config.subscriptions[0]?.revoked, false);
    assert.deepEqual(config.subscriptions[0]?.metadata, {});
    assert.deepEqual(config.users, {});
    assert.deepEqual(config.tokenMetrics, []);
  });

  it('takes the long form of ledger: url and whenUnavailable', () => {
    const lines = MINIMAL.filter((l) => !l.startsWith('ledger:'));
    const config = parseConfig(
      yamlLines(...lines, 'ledger:', '  url: sqlite:./x.db', '  whenUnavailable: refuse'),
      'tm.yaml',
      {},
    );
    assert.equal(config.ledger, 'sqlite:./x.db');
    assert.deepEqual(config.ledgerPolicy, { whenUnavailable: 'refuse' });
  });

  it('takes the outbox directory in the long form of ledger', () => {
    const lines = MINIMAL.filter((l) => !l.startsWith('ledger:'));
    const config = parseConfig(
      yamlLines(
        ...lines,
        'ledger:',
        '  url: postgres://tm@db.example/tm',
        '  outbox: /var/lib/tokenmeter/outbox',
      ),
      'tm.yaml',
      {},
    );
    assert.equal(config.ledger, 'postgres://tm@db.example/tm');
    assert.deepEqual(config.ledgerPolicy, { whenUnavailable: 'serve', outbox: '/var/lib/tokenmeter/outbox' });
  });

  it('refuses an empty outbox directory and a bad drainTimeoutMs at their lines', () => {
    const lines = MINIMAL.filter((l) => !l.startsWith('ledger:') && !l.startsWith('gateway:'));
    assert.throws(
      () => parseConfig(yamlLines(...lines, 'ledger:', "  outbox: ''"), 'tm.yaml', {}),
      (err: unknown) => err instanceof ConfigError && /ledger\.outbox/.test(err.message),
    );
    assert.throws(
      () => parseConfig(yamlLines(...lines, 'gateway:', '  drainTimeoutMs: -5'), 'tm.yaml', {}),
      (err: unknown) => err instanceof ConfigError && /gateway\.drainTimeoutMs/.test(err.message),
    );
  });

  it('reports a bad whenUnavailable at its line', () => {
    const lines = MINIMAL.filter((l) => !l.startsWith('ledger:'));
    assert.throws(
      () => parseConfig(yamlLines(...lines, 'ledger:', '  whenUnavailable: maybe'), 'tm.yaml', {}),
      (err: unknown) => err instanceof ConfigError && /ledger\.whenUnavailable/.test(err.message),
    );
  });

  it('reports a missing file in one line', () => {
    const path = join(tmpdir(), 'tokenmeter-does-not-exist.yaml');
    assert.throws(
      () => loadConfig(path, {}),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.message, `${path}: config file not found`);
        return true;
      },
    );
  });
});

describe('parseConfig interpolation', () => {
  it('turns an interpolated plain scalar into the number the schema expects', () => {
    const text = yamlLines('gateway:', '  port: ${PORT:-8080}', '  maxBodyBytes: ${MAX:-2048}', ...MINIMAL);
    const defaults = parseConfig(text, 'tm.yaml', {});
    assert.equal(defaults.gateway.port, 8080);
    assert.equal(defaults.gateway.maxBodyBytes, 2048);
    const config = parseConfig(text, 'tm.yaml', { PORT: '9191', MAX: '1024' });
    assert.equal(config.gateway.port, 9191);
    assert.equal(config.gateway.maxBodyBytes, 1024);
  });

  it('keeps a digits-only value a string where the schema wants a string', () => {
    const lines: string[] = [...MINIMAL];
    lines[14] = '    key: ${KEY}';
    const config = parseConfig(yamlLines(...lines), 'tm.yaml', { KEY: '1234567890' });
    assert.equal(config.subscriptions[0]?.key, '1234567890');
  });

  it('does not coerce a quoted interpolation, and says so at its line', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: "${PORT:-8080}"', ...MINIMAL));
    assert.deepEqual(where(issues), [[2, 'gateway.port']]);
    assert.match(issues[0]?.message ?? '', /expected number/);
  });

  it('rejects a port that interpolates to a non-number', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: ${PORT}', ...MINIMAL), { PORT: 'http' });
    assert.deepEqual(where(issues), [[2, 'gateway.port']]);
  });

  it('keeps $${ as a literal ${', () => {
    const lines: string[] = [...MINIMAL, '    owner: "$${NOT_A_VAR} ${OWNER:-ops}"'];
    const config = parseConfig(yamlLines(...lines), 'tm.yaml', {});
    assert.equal(config.subscriptions[0]?.owner, '${NOT_A_VAR} ops');
  });

  it('interpolates values only, never keys', () => {
    const issues = issuesOf(yamlLines('gateway:', '  ${KEY}: 1', ...MINIMAL), { KEY: 'port' });
    assert.deepEqual(where(issues), [[2, 'gateway.${KEY}']]);
    assert.match(issues[0]?.message ?? '', /unknown key/);
  });

  it('reports a missing variable once, not again as a schema error', () => {
    const issues = issuesOf(yamlLines('gateway:', '  port: ${PORT}', ...MINIMAL));
    assert.equal(issues.length, 1);
    assert.deepEqual(issues[0], {
      file: 'tm.yaml',
      line: 2,
      column: 9,
      path: 'gateway.port',
      message: 'environment variable PORT is not set',
    });
  });
});

describe('findDefaultConfigPath', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-default-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds ./tokenmeter.yaml only when it exists', () => {
    assert.equal(findDefaultConfigPath(dir), undefined);
    writeFileSync(join(dir, 'tokenmeter.yaml'), yamlLines(...MINIMAL));
    assert.equal(findDefaultConfigPath(dir), join(dir, 'tokenmeter.yaml'));
  });
});
