import { expect } from 'chai';

import { urlPath } from '../../../common/urlPath';

describe('urlPath', () => {
  it('keeps each value one path segment, whatever it holds', () => {
    const id = '../operators/x?y#z';
    expect(urlPath`/v1/admin/devices/${id}/revoke`).to.equal('/v1/admin/devices/..%2Foperators%2Fx%3Fy%23z/revoke');
    expect(urlPath`/v1/admin/releases/${'beta'}/${'1.2.0+build 7'}`).to.equal(
      '/v1/admin/releases/beta/1.2.0%2Bbuild%207',
    );
  });

  it('writes numbers as decimal text, and leaves a path without values as it is', () => {
    expect(urlPath`/v1/items/${42}`).to.equal('/v1/items/42');
    expect(urlPath`/v1/admin/whoami`).to.equal('/v1/admin/whoami');
  });
});
