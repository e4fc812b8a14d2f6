import * as pkcs11js from 'pkcs11js';

import { ServerError } from '../common/errors';
import type { Config } from './config';
import { inSpan } from './tracing';

// pkcs11js has no names for the Edwards-curve mechanisms (PKCS11 3.0).
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const ED25519_OID = Buffer.from('06032b6570', 'hex');
// PKCS11 3.0's key type for Ed25519 pairs; keyPairs() lists only these (the fleet CA's key is RSA).
const CKK_EC_EDWARDS = 0x40;
// A token holds a handful of keys per role; more than this is a misconfigured token.
const MAX_TOKEN_KEYS = 256;
const RSA_EXPONENT = Buffer.from([1, 0, 1]);

/**
 * One loaded module per process, shared by every open token: C_Finalize ends the sessions of
 * all of them, so it runs only when the last one closes (the ceremony has two tokens open).
 */
const modules = new Map<string, { lib: pkcs11js.PKCS11; users: number }>();

/**
 * Release and online signing keys live in a PKCS11 token (SoftHSM2 in the embedded
 * stack, a network HSM in production), the fleet CA's key in a token of its own (S-23).
 * Private keys are generated inside it as sensitive and non-extractable; this class only
 * ever sees public keys and signatures.
 */
/** An Ed25519 pair in the token: the raw public key, and signing by the token (trust/ makes TUF keys of it). */
export interface HsmKeyPair {
  readonly label: string;
  readonly publicKey: Buffer;
  sign(data: Buffer): Buffer;
}

/** An RSA pair in the token (the fleet CA's): its public half, and SHA-256 RSASSA-PKCS1-v1_5 signing by the token. */
export interface HsmRsaKeyPair {
  readonly label: string;
  readonly modulus: Buffer;
  readonly publicExponent: Buffer;
  /** CKM_SHA256_RSA_PKCS: the token hashes `data` and signs the digest. */
  sign(data: Buffer): Buffer;
}

/** How a private key is protected, as the token reports it. */
export interface KeyProtection {
  sensitive: boolean;
  extractable: boolean;
  /** Sensitive since it was made, and never extractable: it was generated in the token and never left it. */
  alwaysSensitive: boolean;
  neverExtractable: boolean;
}

export class Hsm {
  private closed = false;

  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly session: Buffer,
    private readonly module: string,
  ) {}

  static open(config: Pick<Config['hsm'], 'module' | 'tokenLabel' | 'softhsmConf'>, pin: string): Hsm {
    if (config.softhsmConf) process.env['SOFTHSM2_CONF'] = config.softhsmConf;
    const lib = loadModule(config.module);
    let session: Buffer | undefined;
    try {
      const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === config.tokenLabel);
      if (!slot)
        throw new ServerError('CONFIG_INVALID', `HSM token "${config.tokenLabel}" not found (run the key ceremony)`);
      session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
      try {
        lib.C_Login(session, pkcs11js.CKU_USER, pin);
      } catch (err) {
        if ((err as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
          throw new ServerError('CONFIG_INVALID', `HSM login to "${config.tokenLabel}" failed`, { cause: err });
        }
      }
    } catch (err) {
      if (session) lib.C_CloseSession(session);
      releaseModule(config.module);
      throw err;
    }
    return new Hsm(lib, session, config.module);
  }

  has(label: string): boolean {
    return this.find(pkcs11js.CKO_PRIVATE_KEY, label).length > 0;
  }

  /** Key ceremony only: an Ed25519 pair made inside the token, private half never extractable. */
  generate(label: string): HsmKeyPair {
    if (this.has(label)) return this.keyPair(label);
    const common = keyIdentity(label);
    this.lib.C_GenerateKeyPair(
      this.session,
      { mechanism: CKM_EC_EDWARDS_KEY_PAIR_GEN },
      [...common, { type: pkcs11js.CKA_VERIFY, value: true }, { type: pkcs11js.CKA_EC_PARAMS, value: ED25519_OID }],
      [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      ],
    );
    return this.keyPair(label);
  }

  /**
   * Every key pair in the token. Roles find their keys by TUF key id (what the root
   * lists), never by label, so a key added or rotated by `ota keys` needs no configuration.
   */
  keyPairs(): HsmKeyPair[] {
    this.lib.C_FindObjectsInit(this.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
    ]);
    let handles: Buffer[];
    try {
      handles = this.lib.C_FindObjects(this.session, MAX_TOKEN_KEYS);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
    return handles.map((h) =>
      this.keyPair(String(this.lib.C_GetAttributeValue(this.session, h, [{ type: pkcs11js.CKA_LABEL }])[0]?.value)),
    );
  }

  keyPair(label: string): HsmKeyPair {
    const pub = this.one(pkcs11js.CKO_PUBLIC_KEY, label);
    const priv = this.one(pkcs11js.CKO_PRIVATE_KEY, label);
    const [point] = this.lib.C_GetAttributeValue(this.session, pub, [{ type: pkcs11js.CKA_EC_POINT }]);
    // CKA_EC_POINT is a DER OCTET STRING wrapping the 32 raw key bytes.
    const publicKey = (point?.value as Buffer).subarray(-32);
    return {
      label,
      publicKey,
      sign: (data: Buffer) =>
        inSpan({ name: 'hsm.sign', attributes: { 'ota.hsm.key': label, 'ota.hsm.mechanism': 'EdDSA' } }, () => {
          this.lib.C_SignInit(this.session, { mechanism: CKM_EDDSA }, priv);
          return Buffer.from(this.lib.C_Sign(this.session, data, Buffer.alloc(64)));
        }),
    };
  }

  /**
   * Key ceremony only: an RSA pair made inside the token (the fleet CA's), private half
   * sensitive and never extractable, usable only to sign.
   */
  generateRsa(label: string, bits: number): HsmRsaKeyPair {
    if (this.has(label)) return this.rsaKeyPair(label);
    const common = keyIdentity(label);
    this.lib.C_GenerateKeyPair(
      this.session,
      { mechanism: pkcs11js.CKM_RSA_PKCS_KEY_PAIR_GEN },
      [
        ...common,
        { type: pkcs11js.CKA_VERIFY, value: true },
        { type: pkcs11js.CKA_ENCRYPT, value: false },
        { type: pkcs11js.CKA_MODULUS_BITS, value: bits },
        { type: pkcs11js.CKA_PUBLIC_EXPONENT, value: RSA_EXPONENT },
      ],
      [
        ...common,
        { type: pkcs11js.CKA_PRIVATE, value: true },
        { type: pkcs11js.CKA_SIGN, value: true },
        { type: pkcs11js.CKA_DECRYPT, value: false },
        { type: pkcs11js.CKA_SENSITIVE, value: true },
        { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      ],
    );
    return this.rsaKeyPair(label);
  }

  rsaKeyPair(label: string): HsmRsaKeyPair {
    const pub = this.one(pkcs11js.CKO_PUBLIC_KEY, label);
    const priv = this.one(pkcs11js.CKO_PRIVATE_KEY, label);
    const [type, modulus, exponent] = this.lib.C_GetAttributeValue(this.session, pub, [
      { type: pkcs11js.CKA_KEY_TYPE },
      { type: pkcs11js.CKA_MODULUS },
      { type: pkcs11js.CKA_PUBLIC_EXPONENT },
    ]);
    if (ulong(type?.value) !== pkcs11js.CKK_RSA)
      throw new ServerError('CONFIG_INVALID', `HSM key "${label}" is not an RSA key`);
    const size = (modulus?.value as Buffer).length;
    return {
      label,
      modulus: Buffer.from(modulus?.value as Buffer),
      publicExponent: Buffer.from(exponent?.value as Buffer),
      sign: (data: Buffer) =>
        inSpan(
          { name: 'hsm.sign', attributes: { 'ota.hsm.key': label, 'ota.hsm.mechanism': 'SHA256-RSA-PKCS' } },
          () => {
            this.lib.C_SignInit(this.session, { mechanism: pkcs11js.CKM_SHA256_RSA_PKCS }, priv);
            return Buffer.from(this.lib.C_Sign(this.session, data, Buffer.alloc(size)));
          },
        ),
    };
  }

  /** The protection attributes of the private key `label` (the fleet CA refuses a key that could leave the token). */
  keyProtection(label: string): KeyProtection {
    const priv = this.one(pkcs11js.CKO_PRIVATE_KEY, label);
    const [sensitive, extractable, alwaysSensitive, neverExtractable] = this.lib
      .C_GetAttributeValue(this.session, priv, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
        { type: pkcs11js.CKA_ALWAYS_SENSITIVE },
        { type: pkcs11js.CKA_NEVER_EXTRACTABLE },
      ])
      .map((a) => bool(a.value));
    return {
      sensitive: sensitive!,
      extractable: extractable!,
      alwaysSensitive: alwaysSensitive!,
      neverExtractable: neverExtractable!,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.lib.C_CloseSession(this.session);
    } finally {
      releaseModule(this.module);
    }
  }

  private find(cls: number, label: string): Buffer[] {
    this.lib.C_FindObjectsInit(this.session, [
      { type: pkcs11js.CKA_CLASS, value: cls },
      { type: pkcs11js.CKA_LABEL, value: label },
    ]);
    try {
      return this.lib.C_FindObjects(this.session, 2);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
  }

  private one(cls: number, label: string): Buffer {
    const found = this.find(cls, label);
    if (found.length !== 1) {
      throw new ServerError(
        'CONFIG_INVALID',
        `HSM holds ${found.length} keys labelled "${label}" (expected 1; run the key ceremony)`,
      );
    }
    return found[0] as Buffer;
  }
}

function loadModule(module: string): pkcs11js.PKCS11 {
  const loaded = modules.get(module);
  if (loaded) {
    loaded.users++;
    return loaded.lib;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(module);
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (err) {
    if ((err as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      throw new ServerError('CONFIG_INVALID', `cannot load PKCS#11 module ${module}`, { cause: err });
    }
  }
  modules.set(module, { lib, users: 1 });
  return lib;
}

function releaseModule(module: string): void {
  const loaded = modules.get(module);
  if (!loaded || --loaded.users > 0) return;
  modules.delete(module);
  try {
    loaded.lib.C_Finalize();
  } finally {
    loaded.lib.close();
  }
}

/** A CK_BBOOL attribute: anything but a single 1 byte reads as false, so a missing flag never passes a check. */
function bool(value: unknown): boolean {
  return Buffer.isBuffer(value) && value.length === 1 && value[0] === 1;
}

/** A CK_ULONG attribute (little-endian on the platforms SoftHSM2 and pkcs11js run on). */
function ulong(value: unknown): number {
  if (!Buffer.isBuffer(value) || value.length === 0 || value.length > 8) return -1;
  return Number(value.readUIntLE(0, Math.min(value.length, 6)));
}

/** What both halves of a key pair made in the token carry: stored on it, found by label and id. */
function keyIdentity(label: string): Array<{ type: number; value: boolean | string | Buffer }> {
  return [
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: Buffer.from(label) },
  ];
}
