package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
)

const testToken = "test-token-0123456789abcdef0123456789"

type testLog struct {
	srv      *server
	url      string
	dir      string
	verifier note.Verifier
}

// startTestLog runs the real handlers over a real Tessera POSIX log, with an
// in-memory key instead of the token and the shortest interval Tessera allows.
func startTestLog(t *testing.T) *testLog {
	t.Helper()
	dir := t.TempDir()
	signer, _ := memSigner(t, "test.example/log")
	ctx, cancel := context.WithCancel(context.Background())
	tl, err := openLog(ctx, dir, signer, minCheckpointInterval, nil)
	if err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(signer.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	cfg := config{WriteToken: testToken, CheckpointInterval: minCheckpointInterval}
	s := newServer(tl, &staticFiles{root: root}, v, signer.VerifierKey(), cfg, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(s.routes())
	t.Cleanup(func() {
		srv.Close()
		if err := tl.shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		cancel()
		root.Close()
	})
	return &testLog{srv: s, url: srv.URL, dir: dir, verifier: v}
}

func (l *testLog) add(t *testing.T, body []byte) (int, addResponse, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, l.url+"/add", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ar addResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &ar); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
	}
	return resp.StatusCode, ar, string(raw)
}

func (l *testLog) getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	resp, err := http.Get(l.url + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, v); err != nil {
			t.Fatalf("GET %s: decoding %s: %v", path, raw, err)
		}
	}
	return resp.StatusCode
}

// openCheckpoint verifies the signature and parses the body.
func (l *testLog) openCheckpoint(t *testing.T, raw string) log.Checkpoint {
	t.Helper()
	n, err := note.Open([]byte(raw), note.VerifierList(l.verifier))
	if err != nil {
		t.Fatalf("checkpoint %q: %v", raw, err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		t.Fatal(err)
	}
	return cp
}

func TestVKeyAndHealth(t *testing.T) {
	l := startTestLog(t)
	resp, err := http.Get(l.url + "/vkey")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	v, err := note.NewVerifier(strings.TrimSpace(string(raw)))
	if err != nil || v.KeyHash() != l.verifier.KeyHash() {
		t.Fatalf("/vkey %q: %v", raw, err)
	}
	resp, err = http.Get(l.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(raw) != "ok" {
		t.Fatalf("/healthz: %d %q", resp.StatusCode, raw)
	}
	if code := l.getJSON(t, "/nope", nil); code != 404 {
		t.Errorf("/nope: %d", code)
	}
	if code := l.getJSON(t, "/add", nil); code != 405 {
		t.Errorf("GET /add: %d", code)
	}
}
