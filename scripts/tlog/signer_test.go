package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// memSigner builds a noteSigner over an in-memory key: the same code path
// the PKCS#11 key uses, minus the token.
func memSigner(t *testing.T, name string) (*noteSigner, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newNoteSigner(name, pub, func(msg []byte) ([]byte, error) { return ed25519.Sign(priv, msg), nil })
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

// The reference implementation derives the key hash and verifier string
// itself; ours must agree byte for byte for the same key.
func TestVerifierKeyMatchesNoteGenerateKey(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "enigm-ota.local/log")
	if err != nil {
		t.Fatal(err)
	}
	// skey is PRIVATE+KEY+<name>+<hash>+base64(0x01||seed); base64 may
	// itself contain '+', so split into exactly five fields.
	parts := strings.SplitN(skey, "+", 5)
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != algEd25519 {
		t.Fatalf("unexpected skey encoding %q", skey)
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	s, err := newNoteSigner("enigm-ota.local/log", priv.Public().(ed25519.PublicKey), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.VerifierKey(); got != vkey {
		t.Fatalf("VerifierKey() = %q, want %q", got, vkey)
	}
	ref, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyHash() != ref.KeyHash() || s.Name() != ref.Name() {
		t.Fatalf("hash/name %08x/%s, reference %08x/%s", s.KeyHash(), s.Name(), ref.KeyHash(), ref.Name())
	}
}

func TestSignedNoteOpensWithVerifierKey(t *testing.T) {
	s, _ := memSigner(t, "example.com/log")
	msg, err := note.Sign(&note.Note{Text: "example.com/log\n3\nAAAA\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(s.VerifierKey())
	if err != nil {
		t.Fatalf("NewVerifier(%q): %v", s.VerifierKey(), err)
	}
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if len(n.Sigs) != 1 || n.Sigs[0].Hash != s.KeyHash() {
		t.Fatalf("unexpected sigs %+v", n.Sigs)
	}
}

// A token that returns a signature by some other key must not get a
// checkpoint signed.
func TestSignRejectsForeignSignature(t *testing.T) {
	s, _ := memSigner(t, "example.com/log")
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	s.sign = func(msg []byte) ([]byte, error) { return ed25519.Sign(other, msg), nil }
	if _, err := s.Sign([]byte("x")); err == nil {
		t.Fatal("Sign accepted a signature that does not verify")
	}
	s.sign = func([]byte) ([]byte, error) { return []byte{1, 2, 3}, nil }
	if _, err := s.Sign([]byte("x")); err == nil {
		t.Fatal("Sign accepted a short signature")
	}
}

func TestNewNoteSignerRejectsBadInput(t *testing.T) {
	pub := make(ed25519.PublicKey, ed25519.PublicKeySize)
	if _, err := newNoteSigner("a+b", pub, nil); err == nil {
		t.Error("accepted name with '+'")
	}
	if _, err := newNoteSigner("ok", pub[:31], nil); err == nil {
		t.Error("accepted 31-byte key")
	}
}

func TestParseECPoint(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i + 1)
	}
	der := append([]byte{0x04, 0x20}, key...)
	for _, in := range [][]byte{key, der} {
		got, err := parseECPoint(in)
		if err != nil || string(got) != string(key) {
			t.Errorf("parseECPoint(%x) = %x, %v", in, got, err)
		}
	}
	for _, bad := range [][]byte{nil, key[:31], append([]byte{0x04, 0x21}, key...), append([]byte{0x03, 0x20}, key...), make([]byte, 57)} {
		if _, err := parseECPoint(bad); err == nil {
			t.Errorf("parseECPoint(%x) accepted", bad)
		}
	}
}
