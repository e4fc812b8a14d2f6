package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"

	"github.com/miekg/pkcs11"
)

// PKCS#11 v3.0 values that miekg/pkcs11 v1.1.2 does not define.
const (
	ckkECEdwards = 0x40   // CKK_EC_EDWARDS
	ckmEdDSA     = 0x1057 // CKM_EDDSA; no parameters means pure Ed25519
)

// hsmKey is a logged-in session on one token, holding the handle of the
// Ed25519 private key used to sign checkpoints.
type hsmKey struct {
	mu      sync.Mutex // a PKCS#11 session must not run two operations at once
	ctx     *pkcs11.Ctx
	session pkcs11.SessionHandle
	priv    pkcs11.ObjectHandle
	Public  ed25519.PublicKey
}

// openHSMKey loads the module, logs in to the token with the given label and
// finds an existing key pair; it never creates keys, so a missing key is a
// configuration error rather than a silent new identity.
func openHSMKey(module, tokenLabel, pin, keyLabel string) (*hsmKey, error) {
	ctx := pkcs11.New(module)
	if ctx == nil {
		return nil, fmt.Errorf("cannot load PKCS#11 module %s", module)
	}
	k := &hsmKey{ctx: ctx}
	if err := k.open(tokenLabel, pin, keyLabel); err != nil {
		k.Close()
		return nil, err
	}
	return k, nil
}

// open does the work of openHSMKey on a loaded module.
func (k *hsmKey) open(tokenLabel, pin, keyLabel string) error {
	ctx := k.ctx
	if err := ctx.Initialize(); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		return fmt.Errorf("C_Initialize: %w", err)
	}
	slot, err := findSlot(ctx, tokenLabel)
	if err != nil {
		return err
	}
	if k.session, err = ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION); err != nil {
		return fmt.Errorf("C_OpenSession: %w", err)
	}
	if err := ctx.Login(k.session, pkcs11.CKU_USER, pin); err != nil && !errors.Is(err, pkcs11.Error(pkcs11.CKR_USER_ALREADY_LOGGED_IN)) {
		return fmt.Errorf("C_Login on token %q: %w", tokenLabel, err)
	}
	if k.priv, err = k.findOne(pkcs11.CKO_PRIVATE_KEY, keyLabel); err != nil {
		return err
	}
	pubObj, err := k.findOne(pkcs11.CKO_PUBLIC_KEY, keyLabel)
	if err != nil {
		return err
	}
	attrs, err := ctx.GetAttributeValue(k.session, pubObj, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return fmt.Errorf("reading CKA_EC_POINT of %q: %w", keyLabel, err)
	}
	if k.Public, err = parseECPoint(attrs[0].Value); err != nil {
		return fmt.Errorf("public key %q: %w", keyLabel, err)
	}
	// Prove the private and public objects are one pair before serving.
	probe := make([]byte, 32)
	if _, err := rand.Read(probe); err != nil {
		return err
	}
	sig, err := k.Sign(probe)
	if err != nil {
		return fmt.Errorf("test signature: %w", err)
	}
	if !ed25519.Verify(k.Public, probe, sig) {
		return fmt.Errorf("test signature by private key %q does not verify against public key %q", keyLabel, keyLabel)
	}
	return nil
}

// findSlot insists on exactly one token with the label: picking "the first"
// of several could sign with a key nobody intended.
func findSlot(ctx *pkcs11.Ctx, label string) (uint, error) {
	slots, err := ctx.GetSlotList(true)
	if err != nil {
		return 0, fmt.Errorf("C_GetSlotList: %w", err)
	}
	var found []uint
	for _, s := range slots {
		ti, err := ctx.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Label == label {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return 0, fmt.Errorf("no token labelled %q", label)
	case 1:
		return found[0], nil
	}
	return 0, fmt.Errorf("%d tokens labelled %q; labels must be unique", len(found), label)
}

// findOne returns the single Ed25519 object of the class with the label.
func (k *hsmKey) findOne(class uint, label string) (pkcs11.ObjectHandle, error) {
	what := map[uint]string{pkcs11.CKO_PRIVATE_KEY: "private", pkcs11.CKO_PUBLIC_KEY: "public"}[class]
	tmpl := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckkECEdwards),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, label),
	}
	if err := k.ctx.FindObjectsInit(k.session, tmpl); err != nil {
		return 0, fmt.Errorf("C_FindObjectsInit: %w", err)
	}
	objs, _, err := k.ctx.FindObjects(k.session, 2)
	if ferr := k.ctx.FindObjectsFinal(k.session); err == nil {
		err = ferr
	}
	if err != nil {
		return 0, fmt.Errorf("C_FindObjects: %w", err)
	}
	switch len(objs) {
	case 0:
		return 0, fmt.Errorf("no EC_EDWARDS %s key labelled %q on the token", what, label)
	case 1:
		return objs[0], nil
	}
	return 0, fmt.Errorf("several %s keys labelled %q; labels must be unique", what, label)
}

// Sign asks the token for a pure-Ed25519 signature (CKM_EDDSA, no params).
func (k *hsmKey) Sign(msg []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.ctx.SignInit(k.session, []*pkcs11.Mechanism{pkcs11.NewMechanism(ckmEdDSA, nil)}, k.priv); err != nil {
		return nil, fmt.Errorf("C_SignInit: %w", err)
	}
	sig, err := k.ctx.Sign(k.session, msg)
	if err != nil {
		return nil, fmt.Errorf("C_Sign: %w", err)
	}
	return sig, nil
}

// Close logs out and unloads the module; safe on a partly opened key.
func (k *hsmKey) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ctx == nil {
		return
	}
	if k.session != 0 {
		_ = k.ctx.Logout(k.session)
		_ = k.ctx.CloseSession(k.session)
	}
	_ = k.ctx.Finalize()
	k.ctx.Destroy()
	k.ctx = nil
}

// parseECPoint extracts the 32-byte Ed25519 key from CKA_EC_POINT, which
// PKCS#11 specifies as a DER OCTET STRING (04 20 || key); some tokens return
// the raw key, so that is accepted too.
func parseECPoint(v []byte) (ed25519.PublicKey, error) {
	switch {
	case len(v) == ed25519.PublicKeySize:
		return ed25519.PublicKey(bytes.Clone(v)), nil
	case len(v) == ed25519.PublicKeySize+2 && v[0] == 0x04 && v[1] == ed25519.PublicKeySize:
		return ed25519.PublicKey(bytes.Clone(v[2:])), nil
	}
	return nil, fmt.Errorf("CKA_EC_POINT of %d bytes is not an Ed25519 point", len(v))
}
