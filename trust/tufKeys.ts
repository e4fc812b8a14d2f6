import { createHash } from 'node:crypto';

import { canonicalize } from '@tufjs/canonical-json';
import { Key, type Metadata, type Root, Signature, type Snapshot, type Targets, type Timestamp } from '@tufjs/models';
import forge from 'node-forge';

/** A signing key, wherever its private half lives (HSM, offline file). */
export interface TufSigner {
  readonly key: Key;
  sign(data: Buffer): Buffer;
}

/** TUF key ids are the sha256 of the key's canonical JSON (spec 4.2). */
function ed25519Key(rawPublic: Buffer): Key {
  const json = { keytype: 'ed25519', scheme: 'ed25519', keyval: { public: rawPublic.toString('hex') } };
  const keyID = createHash('sha256').update(canonicalize(json)).digest('hex');
  return new Key({ keyID, keyType: json.keytype, scheme: json.scheme, keyVal: json.keyval });
}

/** A key pair held elsewhere (the HSM) as a TUF signer. */
export function ed25519Signer(pair: { publicKey: Buffer; sign(data: Buffer): Buffer }): TufSigner {
  return { key: ed25519Key(pair.publicKey), sign: (data) => pair.sign(data) };
}

/** Signs the canonical form of `signed`, replacing any older signature by the same keys. */
export function signMetadata(md: Metadata<Root | Targets | Snapshot | Timestamp>, signers: TufSigner[]): void {
  const bytes = Buffer.from(canonicalize(md.signed.toJSON()));
  for (const s of signers) {
    md.signatures[s.key.keyID] = new Signature({ keyID: s.key.keyID, sig: s.sign(bytes).toString('hex') });
  }
}

/**
 * An offline key made by the key ceremony with node-forge's Ed25519. Its private half is
 * printed for offline storage and is only needed again to sign a new root.
 */
export class OfflineSigner implements TufSigner {
  readonly key: Key;
  private constructor(
    private readonly privateKey: Buffer,
    publicKey: Buffer,
  ) {
    this.key = ed25519Key(publicKey);
  }

  static generate(): OfflineSigner {
    const pair = forge.pki.ed25519.generateKeyPair();
    return new OfflineSigner(Buffer.from(pair.privateKey), Buffer.from(pair.publicKey));
  }

  static fromHex(privateHex: string): OfflineSigner {
    const privateKey = Buffer.from(privateHex, 'hex');
    const publicKey = Buffer.from(forge.pki.ed25519.publicKeyFromPrivateKey({ privateKey }));
    return new OfflineSigner(privateKey, publicKey);
  }

  toHex(): string {
    return this.privateKey.toString('hex');
  }

  sign(data: Buffer): Buffer {
    return Buffer.from(forge.pki.ed25519.sign({ message: data, privateKey: this.privateKey }));
  }
}
