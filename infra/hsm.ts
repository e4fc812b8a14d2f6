import * as pkcs11js from 'pkcs11js';
import { ServerError } from '../common/errors';
import type { Config } from './config';

// pkcs11js has no names for the Edwards-curve mechanisms (PKCS#11 3.0).
const CKM_EC_EDWARDS_KEY_PAIR_GEN = 0x1055;
const CKM_EDDSA = 0x1057;
const ED25519_OID = Buffer.from('06032b6570', 'hex');
// A token holds a handful of keys per role; more than this is a misconfigured token.
const MAX_TOKEN_KEYS = 256;

/**
 * Release and online signing keys live in a PKCS#11 token (SoftHSM2 in the embedded
 * stack, a network HSM in production). Private keys are generated inside it as
 * sensitive and non-extractable; this class only ever sees public keys and signatures.
 */
/** An Ed25519 pair in the token: the raw public key, and signing by the token (trust/ makes TUF keys of it). */
export interface HsmKeyPair {
  readonly label: string;
  readonly publicKey: Buffer;
  sign(data: Buffer): Buffer;
}

export class Hsm {
  private constructor(
    private readonly lib: pkcs11js.PKCS11,
    private readonly session: Buffer,
  ) {}

  static open(config: Config['hsm'], pin: string): Hsm {
    if (config.softhsmConf) process.env['SOFTHSM2_CONF'] = config.softhsmConf;
    const lib = new pkcs11js.PKCS11();
    try {
      lib.load(config.module);
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (err) {
      if ((err as { code?: number }).code !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        throw new ServerError('CONFIG_INVALID', `cannot load PKCS#11 module ${config.module}`, { cause: err });
      }
    }
    const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === config.tokenLabel);
    if (!slot) throw new ServerError('CONFIG_INVALID', `HSM token "${config.tokenLabel}" not found (run the key ceremony)`);
    const session = lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
    try {
      lib.C_Login(session, pkcs11js.CKU_USER, pin);
    } catch (err) {
      if ((err as { code?: number }).code !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
        throw new ServerError('CONFIG_INVALID', `HSM login to "${config.tokenLabel}" failed`, { cause: err });
      }
    }
    return new Hsm(lib, session);
  }

  has(label: string): boolean {
    return this.find(pkcs11js.CKO_PRIVATE_KEY, label).length > 0;
  }

  /** Key ceremony only: an Ed25519 pair made inside the token, private half never extractable. */
  generate(label: string): HsmKeyPair {
    if (this.has(label)) return this.keyPair(label);
    const common = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_LABEL, value: label },
      { type: pkcs11js.CKA_ID, value: Buffer.from(label) },
    ];
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
    this.lib.C_FindObjectsInit(this.session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY }]);
    let handles: Buffer[];
    try {
      handles = this.lib.C_FindObjects(this.session, MAX_TOKEN_KEYS);
    } finally {
      this.lib.C_FindObjectsFinal(this.session);
    }
    return handles.map((h) => this.keyPair(String(this.lib.C_GetAttributeValue(this.session, h, [{ type: pkcs11js.CKA_LABEL }])[0]?.value)));
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
      sign: (data: Buffer) => {
        this.lib.C_SignInit(this.session, { mechanism: CKM_EDDSA }, priv);
        return Buffer.from(this.lib.C_Sign(this.session, data, Buffer.alloc(64)));
      },
    };
  }

  close(): void {
    try {
      this.lib.C_CloseSession(this.session);
      this.lib.C_Finalize();
    } finally {
      this.lib.close();
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
      throw new ServerError('CONFIG_INVALID', `HSM holds ${found.length} keys labelled "${label}" (expected 1; run the key ceremony)`);
    }
    return found[0] as Buffer;
  }
}
