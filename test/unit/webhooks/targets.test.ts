import { expect } from 'chai';

import { checkAddress, checkTarget, checkTargetUrl, type TargetPolicy } from '../../../webhooks/targets';
import { refusal } from '../../rejection';

const codeOf = (fn: () => unknown): string => refusal(fn).code;

describe('webhook targets (where the API may send)', () => {
  const strict: TargetPolicy = { allowPrivate: false, self: { hosts: ['ota.example', 'localhost'], ports: [8080] } };
  const onPrem: TargetPolicy = { ...strict, allowPrivate: true };

  it('takes http and https URLs to public addresses', () => {
    expect(checkTargetUrl('https://hooks.example.com/ota?x=1', strict).host).to.equal('hooks.example.com');
    expect(checkTargetUrl('http://203.0.113.9:9000/in', strict).port).to.equal('9000');
  });

  it('refuses other schemes, credentials, long or broken URLs with WEBHOOK_URL_REFUSED', () => {
    for (const url of [
      'file:///etc/passwd',
      'ftp://hooks.example.com/',
      'gopher://hooks.example.com/',
      'javascript:alert(1)',
      'https://user:pass@hooks.example.com/',
      `https://hooks.example.com/${'a'.repeat(2048)}`,
      'not a url',
    ])
      expect(
        codeOf(() => checkTargetUrl(url, onPrem)),
        url,
      ).to.equal('WEBHOOK_URL_REFUSED');
  });

  it('refuses the API itself, by name or by a local address on its port, even where private ones are allowed', () => {
    for (const url of [
      'https://ota.example:8080/v1/admin/events',
      'https://localhost:8080/',
      'https://127.0.0.1:8080/',
      'https://[::1]:8080/',
      'https://0.0.0.0:8080/',
    ])
      expect(
        codeOf(() => checkTargetUrl(url, onPrem)),
        url,
      ).to.equal('WEBHOOK_URL_REFUSED');
    expect(checkTargetUrl('https://127.0.0.1:9000/', onPrem).port).to.equal('9000');
  });

  it('refuses link-local always, loopback and private ranges unless allowed', () => {
    for (const ip of ['169.254.169.254', 'fe80::1', '::ffff:169.254.169.254'])
      expect(
        codeOf(() => checkAddress(ip, 80, onPrem)),
        ip,
      ).to.equal('WEBHOOK_URL_REFUSED');
    for (const ip of [
      '127.0.0.1',
      '10.1.2.3',
      '172.20.0.1',
      '192.168.1.1',
      '100.64.0.1',
      '::1',
      'fd00::1',
      '::ffff:10.0.0.1',
    ]) {
      expect(
        codeOf(() => checkAddress(ip, 80, strict)),
        ip,
      ).to.equal('WEBHOOK_URL_REFUSED');
      expect(() => checkAddress(ip, 80, onPrem), ip).not.to.throw();
    }
    expect(() => checkAddress('8.8.8.8', 80, strict)).not.to.throw();
  });

  it('resolves a name and refuses it when any address it has is refused', async () => {
    const err = await checkTarget('http://localhost:9000/', strict).catch((e: unknown) => e);
    expect((err as { code?: string }).code).to.equal('WEBHOOK_URL_REFUSED');
    expect((await checkTarget('http://localhost:9000/', onPrem)).hostname).to.equal('localhost');
  });
});
