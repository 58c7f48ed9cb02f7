import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createCardinalityGuard,
  DEFAULT_MAX_DISTINCT_VALUES,
  OVERFLOW_VALUE,
} from '../../src/dimensions/cardinality-guard.js';

describe('createCardinalityGuard', () => {
  it('keeps the first N distinct values per dimension and folds the rest into __other__', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 2 });
    assert.equal(guard.admit('team', 'a'), 'a');
    assert.equal(guard.admit('team', 'b'), 'b');
    assert.equal(guard.admit('team', 'c'), OVERFLOW_VALUE);
    assert.equal(guard.admit('team', 'a'), 'a', 'a value already admitted stays');
    assert.equal(guard.admit('app', 'c'), 'c', 'limits are per dimension name');
    assert.deepEqual(guard.overflowCounts(), { team: 1 });
  });

  it('applies to a whole record of values', () => {
    const guard = createCardinalityGuard({ maxDistinctValues: 1 });
    assert.deepEqual(guard.admitAll({ team: 'a', app: 'x' }), { team: 'a', app: 'x' });
    assert.deepEqual(guard.admitAll({ team: 'b', app: 'x' }), { team: OVERFLOW_VALUE, app: 'x' });
  });

  it('defaults to 1000 values and keeps no state between guards', () => {
    const guard = createCardinalityGuard();
    for (let i = 0; i < DEFAULT_MAX_DISTINCT_VALUES; i += 1)
      assert.equal(guard.admit('user', `u${i}`), `u${i}`);
    assert.equal(guard.admit('user', 'one-too-many'), OVERFLOW_VALUE);
    assert.equal(createCardinalityGuard().admit('user', 'one-too-many'), 'one-too-many');
  });

  it('rejects a nonsensical limit', () => {
    assert.throws(() => createCardinalityGuard({ maxDistinctValues: -1 }), RangeError);
  });
});
