import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { normaliseFingerprint, parseDuration } from '../../../src/api/index.ts';

const HEX = '0123456789abcdef'.repeat(4);

test('normaliseFingerprint yields sha256: + 64 lowercase hex', () => {
  assert.equal(normaliseFingerprint(`sha256:${HEX}`), `sha256:${HEX}`);
  assert.equal(normaliseFingerprint(`SHA256:${HEX.toUpperCase()}`), `sha256:${HEX}`);
  const colons = HEX.toUpperCase().match(/../g)!.join(':');
  assert.equal(normaliseFingerprint(`sha256:${colons}`), `sha256:${HEX}`);
  assert.match(normaliseFingerprint(`Sha256:${colons}`), /^sha256:[0-9a-f]{64}$/);
});

test('normaliseFingerprint rejects other digests and bad lengths', () => {
  for (const bad of [HEX, `sha1:${HEX.slice(0, 40)}`, `sha256:${HEX.slice(2)}`, `sha256:${HEX}00`, `sha256:${HEX.slice(1)}g`, `sha256:${HEX}:`]) {
    assert.throws(() => normaliseFingerprint(bad), /invalid fingerprint/, bad);
  }
});

test('parseDuration returns seconds', () => {
  assert.equal(parseDuration('60s'), 60);
  assert.equal(parseDuration('8h'), 28800);
  assert.equal(parseDuration('1h30m'), 5400);
  assert.equal(parseDuration('2m5s'), 125);
  assert.equal(parseDuration('1500ms'), 1.5);
  assert.equal(parseDuration('0s'), 0);
});

test('parseDuration throws on bad input', () => {
  for (const bad of ['', '8', 'h', '1d', '-5s', '1.5h', '5 m', ' 5m', '5m ', 'PT5M']) {
    assert.throws(() => parseDuration(bad), /invalid duration/, JSON.stringify(bad));
  }
  assert.throws(() => parseDuration(undefined as unknown as string), /invalid duration/);
});
