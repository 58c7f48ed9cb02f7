import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent } from 'undici';
import { startSimulator, type Simulator } from '../../src/simulator/index.js';
import { startGatewayProcess, type GatewayProcess } from '../helpers/gateway-process.js';
import { readLedgerRows } from '../helpers/ledger-rows.js';

const KEY = 'team-a-key-123';

/**
 * A `tokenmeter serve` process with a file ledger, killed with SIGKILL under concurrent load:
 * after the restart, every call whose answer reached its client is in the ledger exactly once,
 * and no call is in it twice. Each call carries its own `user`, which its record keeps.
 */
describe('a tokenmeter serve process killed with SIGKILL under load', () => {
  let sim: Simulator;
  before(async () => (sim = await startSimulator({ completionTokens: 3 })));
  after(() => sim.close());

  const config = (): Record<string, unknown> => ({
    apis: [{ id: 'openai', path: '/openai/v1', type: 'openai', backend: 'sim' }],
    products: [{ id: 'std', apis: ['openai'] }],
    subscriptions: [{ id: 'team-a', key: KEY, product: 'std' }],
    backends: [{ id: 'sim', type: 'openai', url: `${sim.url}/v1`, apiKey: 'sk-backend' }],
  });

  /** One call; true when its whole answer arrived with status 200. */
  async function call(
    gw: GatewayProcess,
    dispatcher: Agent,
    user: string,
    stream: boolean,
  ): Promise<boolean> {
    try {
      const res = await fetch(`${gw.url}/openai/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': KEY },
        body: JSON.stringify({
          model: 'gpt-4o-mini',
          stream,
          user,
          messages: [{ role: 'user', content: 'hi' }],
        }),
        // @ts-expect-error undici's dispatcher option of the global fetch
        dispatcher,
      });
      const body = await res.text();
      return res.status === 200 && (stream ? body.includes('[DONE]') : body.includes('"usage"'));
    } catch {
      return false;
    }
  }

  it('every call answered before the kill is recorded exactly once after the restart', async () => {
    const gw = await startGatewayProcess(config());
    const dispatcher = new Agent({ connections: 16 });
    const completed: string[] = [];
    let next = 0;
    let killed = false;
    const clients = Array.from({ length: 16 }, async () => {
      while (!killed) {
        const id = `call-${next++}`;
        if (await call(gw, dispatcher, id, next % 3 === 0)) completed.push(id);
      }
    });
    // Kill once enough calls went through that many are in flight in every state.
    while (completed.length < 300) await new Promise((r) => setTimeout(r, 5));
    await gw.kill('SIGKILL');
    killed = true;
    await Promise.all(clients);
    await dispatcher.close();
    assert.ok(completed.length >= 300);

    const restarted = await startGatewayProcess(config(), { dir: gw.dir });
    await restarted.stop();
    const users = readLedgerRows(gw.ledgerPath).map((r) => String(r['user']));
    const seen = new Map<string, number>();
    for (const user of users) seen.set(user, (seen.get(user) ?? 0) + 1);
    const twice = [...seen].filter(([, count]) => count > 1);
    assert.deepEqual(twice, [], 'no call is recorded twice');
    const missing = completed.filter((id) => !seen.has(id));
    assert.deepEqual(missing, [], 'every answered call is recorded');
  });
});
