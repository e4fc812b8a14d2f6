import { expect } from 'chai';

import { isSecret, newSecret, sign, verify } from '../../../webhooks/signature';

describe('webhook signatures (Standard Webhooks)', () => {
  const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
  const m = { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}' };

  it("signs as the specification's own example does", () => {
    expect(sign(secret, m)).to.equal('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('verifies its own signature within the tolerance, and among several', () => {
    const signature = sign(secret, m);
    const at = { ...m, timestamp: String(m.timestamp), signature };
    expect(verify(secret, at, { nowS: m.timestamp + 10 })).to.equal(true);
    expect(verify(secret, { ...at, signature: `v1,AAAA ${signature}` }, { nowS: m.timestamp })).to.equal(true);
  });

  it('refuses another body, id, timestamp or secret, an old timestamp and malformed headers', () => {
    const signature = sign(secret, m);
    const at = { ...m, timestamp: String(m.timestamp), signature };
    expect(verify(secret, { ...at, body: '{"test": 1}' }, { nowS: m.timestamp })).to.equal(false);
    expect(verify(secret, { ...at, id: 'msg_other' }, { nowS: m.timestamp })).to.equal(false);
    expect(verify(secret, { ...at, timestamp: String(m.timestamp + 1) }, { nowS: m.timestamp })).to.equal(false);
    expect(verify(newSecret(), at, { nowS: m.timestamp })).to.equal(false);
    expect(verify(secret, at, { nowS: m.timestamp + 301 }), 'a replay 301 s later').to.equal(false);
    expect(verify(secret, { ...at, timestamp: '1e9' }, { nowS: m.timestamp })).to.equal(false);
    expect(verify(secret, { ...at, signature: '' }, { nowS: m.timestamp })).to.equal(false);
  });

  it('makes secrets of 32 random bytes, each different', () => {
    const a = newSecret();
    expect(isSecret(a)).to.equal(true);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).to.have.length(32);
    expect(newSecret()).not.to.equal(a);
    expect(isSecret('whsec_c2hvcnQ=')).to.equal(false);
  });
});
