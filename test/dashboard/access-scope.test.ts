import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ADMIN_KEY, errorOf, getJson, startFixture, TEAM_A_KEY, type Fixture } from './api-fixture.js';

const RANGE = 'since=2026-01-01&until=2026-02-01';

describe('a subscription key sees only its own subscription, whatever it asks', () => {
  let fx: Fixture;
  let cookie: string;
  before(async () => {
    fx = await startFixture();
    const res = await fetch(`${fx.url}/dashboard/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `key=${TEAM_A_KEY}`,
    });
    cookie = (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  });
  after(() => fx.close());

  /** The same request with the team's Bearer key and with its session cookie: both must agree. */
  async function asTeam(path: string): Promise<{ status: number; body: unknown }> {
    const bearer = await getJson(`${fx.url}${path}`, TEAM_A_KEY);
    const session = await getJson(`${fx.url}${path}`, undefined, { cookie });
    assert.deepEqual(session.body, bearer.body, path);
    assert.equal(session.status, bearer.status, path);
    return bearer;
  }
  const asAdmin = async (path: string): Promise<unknown> =>
    (await getJson(`${fx.url}${path}`, ADMIN_KEY)).body;

  it('usage: every grouping and filter equals the admin view of team-a alone', async () => {
    const queries = [
      '',
      'by=model',
      'by=',
      'by=subscription,model',
      'by=Subscription%20ID',
      'by=team',
      'by=custom.subscription',
      'by=model&interval=1d',
      'by=model&where=priced:true',
      'by=model&where=priced:false',
      'by=model&where=stream:true',
      'by=subscription&where=team:ads',
    ];
    for (const q of queries) {
      const team = await asTeam(`/api/usage?${RANGE}&${q}`);
      assert.equal(team.status, 200, q);
      const admin = await asAdmin(`/api/usage?${RANGE}&${q}&where=subscription:team-a`);
      assert.deepEqual(team.body, admin, q);
      assert.ok(Array.isArray(team.body) && team.body.length > 0, `${q}: compared something`);
    }
    // The default range (30 days) too.
    assert.deepEqual(
      (await asTeam('/api/usage')).body,
      await asAdmin('/api/usage?where=subscription:team-a'),
    );
  });

  it('usage: filters naming other subscriptions never widen the answer', async () => {
    const ownOnly = await asAdmin(`/api/usage?${RANGE}&by=subscription,model&where=subscription:team-a`);
    const cases: [string, unknown][] = [
      ['where=subscription:team-b', []],
      ['where=Subscription%20ID:team-b', []],
      ['where=subscription%20id:team-c', []],
      ['where=SUBSCRIPTION:team-b', []],
      ['where=subscription:', []],
      ['where=subscription:team-b&where=subscription:team-a', ownOnly],
      ['where=subscription:team-a&where=Subscription%20ID:team-b', ownOnly],
      ['where=subscription:team-a', ownOnly],
      ['where=custom.subscription:team-b', []],
      // Only team-b has a record without a team.
      ['where=team:', []],
      // team-c's record carries custom.subscription = team-a: still team-c's, not shown.
      ['where=custom.subscription:team-a', []],
      ['where=priced:true&where=priced:false', ownOnly],
    ];
    for (const [q, expected] of cases) {
      const team = await asTeam(`/api/usage?${RANGE}&by=subscription,model&${q}`);
      assert.equal(team.status, 200, q);
      assert.deepEqual(team.body, expected, q);
    }
  });

  it('usage: any mix of groupings and filters equals the admin view narrowed to team-a (property)', async () => {
    const subscriptionNames = ['subscription', 'Subscription ID', 'SUBSCRIPTION'];
    const condition = fc.oneof(
      fc.record({
        dim: fc.constantFrom(...subscriptionNames),
        value: fc.constantFrom('team-a', 'team-b', 'team-c', ''),
      }),
      fc.record({
        dim: fc.constantFrom('model', 'team', 'custom.subscription', 'stream', 'priced'),
        value: fc.constantFrom('gpt-4o', 'ads', 'search', 'team-a', 'true', 'false', ''),
      }),
    );
    const byDims = fc.subarray(['subscription', 'model', 'team', 'stream', 'custom.subscription'], {
      maxLength: 3,
    });
    await fc.assert(
      fc.asyncProperty(byDims, fc.array(condition, { maxLength: 5 }), async (by, where) => {
        // Values that do not parse for stream / priced are refused for both keys alike.
        const valid = where.filter(
          (w) => !['stream', 'priced'].includes(w.dim) || w.value === 'true' || w.value === 'false',
        );
        const q = (conds: { dim: string; value: string }[]): string =>
          [
            `by=${by.join(',')}`,
            RANGE,
            ...conds.map((w) => `where=${encodeURIComponent(`${w.dim}:${w.value}`)}`),
          ].join('&');
        const team = await asTeam(`/api/usage?${q(valid)}`);
        assert.equal(team.status, 200);
        const subs = valid.filter((w) => subscriptionNames.includes(w.dim));
        const others = valid.filter((w) => !subscriptionNames.includes(w.dim));
        const expected =
          subs.length > 0 && !subs.some((w) => w.value === 'team-a')
            ? []
            : await asAdmin(`/api/usage?${q([...others, { dim: 'subscription', value: 'team-a' }])}`);
        assert.deepEqual(team.body, expected);
      }),
      { numRuns: 40 },
    );
  });

  it('dimensions: values come from its own records only', async () => {
    const subs = await asTeam(`/api/dimensions?name=subscription&${RANGE}`);
    assert.deepEqual(subs.body, { name: 'subscription', values: ['team-a'], truncated: false });
    const alias = await asTeam(`/api/dimensions?name=Subscription%20ID&${RANGE}&where=subscription:team-b`);
    assert.deepEqual(alias.body, { name: 'subscription', values: [], truncated: false });
    const models = await asTeam(`/api/dimensions?name=model&${RANGE}`);
    assert.deepEqual(models.body, { name: 'model', values: ['gpt-4o', 'gpt-4o-mini'], truncated: false });
    const teams = await asTeam(`/api/dimensions?name=team&${RANGE}`);
    // team-c's "secret-project" and team-b's absent team are not team-a's.
    assert.deepEqual(teams.body, { name: 'team', values: ['ads', 'search'], truncated: false });
    const other = await asTeam(`/api/dimensions?name=model&${RANGE}&where=subscription:team-c`);
    assert.deepEqual(other.body, { name: 'model', values: [], truncated: false });
  });

  it('report: its own row of the whole report; other groupings are refused', async () => {
    const all = (await asAdmin('/api/report?month=2026-01')) as { subscription: string }[];
    assert.equal(all.length, 3);
    const team = await asTeam('/api/report?month=2026-01');
    assert.deepEqual(
      team.body,
      all.filter((r) => r.subscription === 'team-a'),
    );
    for (const by of ['model', 'owner', 'costCenter', 'team', 'custom.subscription']) {
      const refused = await asTeam(`/api/report?month=2026-01&by=${by}`);
      assert.equal(refused.status, 403, by);
      assert.deepEqual(errorOf(refused.body), { code: 'TM_FORBIDDEN', param: 'by' }, by);
    }
    const alias = await asTeam('/api/report?month=2026-01&by=Subscription%20ID');
    assert.deepEqual(alias.body, team.body);
  });

  it('session: names the subscription, never another', async () => {
    assert.deepEqual((await asTeam('/api/session')).body, {
      role: 'subscription',
      subscription: 'team-a',
      currency: 'USD',
    });
  });
});
