package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// algEd25519 is the C2SP signed-note signature type byte for Ed25519.
const algEd25519 = 0x01

// signFunc produces a raw 64-byte Ed25519 signature over msg. The key itself
// stays wherever signFunc keeps it (a PKCS#11 token in production).
type signFunc func(msg []byte) ([]byte, error)

// noteSigner implements golang.org/x/mod/sumdb/note.Signer on top of an
// opaque signFunc, so the private key never has to enter this process.
type noteSigner struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
	sign signFunc
}

func newNoteSigner(name string, pub ed25519.PublicKey, sign signFunc) (*noteSigner, error) {
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("public key is %d bytes, want %d", len(pub), ed25519.PublicKeySize)
	}
	if err := checkOrigin(name); err != nil {
		return nil, fmt.Errorf("signer name: %w", err)
	}
	return &noteSigner{name: name, hash: keyHash(name, pub), pub: pub, sign: sign}, nil
}

func (s *noteSigner) Name() string    { return s.name }
func (s *noteSigner) KeyHash() uint32 { return s.hash }

// Sign checks every signature against the public key before handing it out:
// verification costs microseconds per checkpoint and means a faulty or
// swapped token can never get an unverifiable checkpoint published.
func (s *noteSigner) Sign(msg []byte) ([]byte, error) {
	sig, err := s.sign(msg)
	if err != nil {
		return nil, err
	}
	if len(sig) != ed25519.SignatureSize || !ed25519.Verify(s.pub, msg, sig) {
		return nil, errors.New("signature from key store does not verify against its public key")
	}
	return sig, nil
}

// VerifierKey returns "<name>+<hash>+<base64(0x01||pub)>", the form that
// note.NewVerifier parses and that clients pin.
func (s *noteSigner) VerifierKey() string {
	return fmt.Sprintf("%s+%08x+%s", s.name, s.hash, base64.StdEncoding.EncodeToString(typedKey(s.pub)))
}

// keyHash is the signed-note key ID: the first four bytes, big-endian, of
// SHA-256(name || "\n" || 0x01 || pub).
func keyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(typedKey(pub))
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func typedKey(pub ed25519.PublicKey) []byte {
	return append([]byte{algEd25519}, pub...)
}
