// The controller's count of who wants which Secret or ConfigMap, and what it
// tells the store (src/controller/interest.ts).

import { describe, it } from '@jest/globals';
import assert from 'node:assert/strict';
import { InterestCount } from '../../../src/controller/interest.ts';

describe('InterestCount', () => {
  it('tells a key once when first wanted and once when wanted by no one, whatever the holds in between', () => {
    const c = new InterestCount();
    c.hold(['a/s', 'a/t']);
    c.hold(['a/s']);
    assert.deepEqual(c.take(), { add: ['a/s', 'a/t'], remove: [] });
    assert.deepEqual(c.take(), { add: [], remove: [] }, 'told already');
    c.release(['a/s']);
    assert.deepEqual(c.take(), { add: [], remove: [] }, 'a/s is still held once');
    assert.equal(c.has('a/s'), true);
    c.release(['a/s', 'a/t']);
    assert.deepEqual(c.take(), { add: [], remove: ['a/s', 'a/t'] });
    assert.equal(c.size, 0);
  });

  it('tells nothing of a key wanted and given up (or the reverse) between two takes; ignores a release of a key not held', () => {
    const c = new InterestCount();
    c.hold(['a/s']);
    c.release(['a/s']);
    c.release(['a/never']);
    assert.deepEqual(c.take(), { add: [], remove: [] });
    c.hold(['a/s']);
    c.take();
    c.release(['a/s']);
    c.hold(['a/s']);
    assert.deepEqual(c.take(), { add: [], remove: [] }, 'the store holds it still: nothing to say');
    assert.equal(c.has('a/s'), true);
  });
});
