/** A valid SPDX 2.3 SBOM (one package with a purl), for the suites that check SPDX documents. */
export const SPDX_SBOM = {
  spdxVersion: 'SPDX-2.3',
  SPDXID: 'SPDXRef-DOCUMENT',
  name: 'image',
  dataLicense: 'CC0-1.0',
  documentNamespace: 'https://example.com/spdx/image-1',
  creationInfo: { created: '2026-12-07T10:00:00Z', creators: ['Tool: test'] },
  packages: [
    {
      SPDXID: 'SPDXRef-openssl',
      name: 'openssl',
      versionInfo: '1.1.1w',
      downloadLocation: 'NOASSERTION',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: 'pkg:deb/debian/openssl@1.1.1w',
        },
      ],
    },
  ],
};
