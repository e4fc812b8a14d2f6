import { generateKeyPairSync } from 'node:crypto';

import forge from 'node-forge';

/** An RSA key pair as PEM (Node's generator: fast enough for tests, unlike forge's). */
export function rsaKey(bits = 2048, publicExponent = 65537): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: bits, publicExponent });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

/**
 * A PKCS10 certificate request carrying `publicPem`, signed with `signerPem`: the same key for an honest
 * request, another key for one that proves nothing about the key it carries.
 */
export function csrFor(
  publicPem: string,
  signerPem: string,
  md: forge.md.MessageDigest = forge.md.sha256.create(),
  cn = 'anyone',
): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(publicPem);
  csr.setSubject([{ name: 'commonName', value: cn }]);
  csr.sign(forge.pki.privateKeyFromPem(signerPem), md);
  return forge.pki.certificationRequestToPem(csr);
}
