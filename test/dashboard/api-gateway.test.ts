import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { parseConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config-error.js';
import { startGateway, type Gateway } from '../../src/gateway/server.js';
import {
  ADMIN_KEY,
  configYaml,
  errorOf,
  getJson,
  startFixture,
  TEAM_A_KEY,
  type Fixture,
} from './api-fixture.js';

describe('the gateway serves the dashboard and the query API', () => {
  let fx: Fixture;
  let gw: Gateway;
  before(async () => {
    fx = await startFixture();
    gw = await startGateway(fx.config, { port: 0, logger: pino({ level: 'silent' }) });
  });
  after(async () => {
    await gw.close();
    await fx.close();
  });

  it('answers /api/* as tokenmeter dashboard does, for the same keys', async () => {
    for (const path of [
      '/api/usage?by=model&since=2026-01-01',
      '/api/dimensions?name=model&since=2026-01-01',
      '/api/report?month=2026-01',
    ]) {
      for (const key of [ADMIN_KEY, TEAM_A_KEY]) {
        const fromGateway = await getJson(`${gw.url}${path}`, key);
        assert.equal(fromGateway.status, 200, path);
        assert.deepEqual(fromGateway.body, (await getJson(`${fx.url}${path}`, key)).body, path);
      }
    }
    const none = await getJson(`${gw.url}/api/usage`, undefined);
    assert.equal(none.status, 401);
    assert.equal(errorOf(none.body).code, 'TM_UNAUTHORIZED');
    assert.equal((await fetch(`${gw.url}/dashboard/assets/uPlot.min.css`)).status, 200);
  });

  it('refuses a configuration whose API path would fall under /api', () => {
    const text = configYaml(fx.ledgerPath).replace('path: /openai/v1', 'path: /api/openai');
    assert.throws(
      () => parseConfig(text, 'tm.yaml', {}),
      (err: unknown) =>
        err instanceof ConfigError && err.issues.some((i) => /\/api is reserved/.test(i.message)),
    );
    // /apis is another path, not under /api.
    assert.doesNotThrow(() =>
      parseConfig(configYaml(fx.ledgerPath).replace('path: /openai/v1', 'path: /apis'), 'tm.yaml', {}),
    );
  });
});
