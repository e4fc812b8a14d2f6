package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Every answer from POST /add must carry a signed checkpoint that already
// covers the entry, so proofs can be fetched and checked straight away.
func TestAddPublishesAndProves(t *testing.T) {
	l := startTestLog(t)
	const n = 40
	entries := make([][]byte, n)
	results := make([]addResponse, n)
	var wg sync.WaitGroup
	for i := range n {
		// Entries 0 and 1 are identical on purpose: with antispam off both
		// must get their own index.
		entries[i] = fmt.Appendf(nil, "entry-%d", max(i, 1))
		wg.Go(func() {
			code, ar, raw := l.add(t, entries[i])
			if code != http.StatusOK {
				t.Errorf("add %d: %d %s", i, code, raw)
			}
			results[i] = ar
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	seen := map[uint64]bool{}
	for i, ar := range results {
		if seen[ar.Index] {
			t.Fatalf("index %d handed out twice", ar.Index)
		}
		seen[ar.Index] = true
		cp := l.openCheckpoint(t, ar.Checkpoint)
		if cp.Size <= ar.Index {
			t.Fatalf("entry %d: checkpoint size %d does not cover index %d", i, cp.Size, ar.Index)
		}
		// Straight away, an inclusion proof against the returned checkpoint.
		var ip inclusionResponse
		path := fmt.Sprintf("/proof/inclusion?index=%d&size=%d", ar.Index, cp.Size)
		if code := l.getJSON(t, path, &ip); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		leaf := rfc6962.DefaultHasher.HashLeaf(entries[i])
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, ar.Index, cp.Size, leaf, ip.Hashes, cp.Hash); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}

	// Consistency between every earlier checkpoint we were handed and the latest.
	var latestRaw []byte
	resp, err := http.Get(l.url + "/checkpoint")
	if err == nil {
		latestRaw, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	latest := l.openCheckpoint(t, string(latestRaw))
	if latest.Size != n {
		t.Fatalf("latest size %d, want %d", latest.Size, n)
	}
	for _, ar := range results {
		old := l.openCheckpoint(t, ar.Checkpoint)
		var cr consistencyResponse
		path := fmt.Sprintf("/proof/consistency?old=%d&new=%d", old.Size, latest.Size)
		if code := l.getJSON(t, path, &cr); code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, latest.Size, cr.Hashes, old.Hash, latest.Hash); err != nil {
			t.Fatalf("consistency %d->%d: %v", old.Size, latest.Size, err)
		}
	}
}

func TestAddRejections(t *testing.T) {
	l := startTestLog(t)
	do := func(auth string, body []byte) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, l.url+"/add", bytes.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw)
	}
	for _, tc := range []struct {
		name, auth string
		body       []byte
		code       int
		errCode    string
	}{
		{"no token", "", []byte("x"), 401, "UNAUTHORIZED"},
		{"wrong token", "Bearer " + strings.Repeat("y", 40), []byte("x"), 401, "UNAUTHORIZED"},
		{"token prefix", "Bearer " + testToken[:len(testToken)-1], []byte("x"), 401, "UNAUTHORIZED"},
		{"basic scheme", "Basic " + testToken, []byte("x"), 401, "UNAUTHORIZED"},
		{"empty", "Bearer " + testToken, nil, 400, "INVALID_INPUT"},
		{"too large", "Bearer " + testToken, make([]byte, maxEntrySize+1), 413, "PAYLOAD_TOO_LARGE"},
		{"largest allowed", "bearer " + testToken, make([]byte, maxEntrySize), 200, ""},
	} {
		code, raw := do(tc.auth, tc.body)
		if code != tc.code || !strings.Contains(raw, tc.errCode) {
			t.Errorf("%s: got %d %s, want %d %s", tc.name, code, raw, tc.code, tc.errCode)
		}
	}
}

// Once sequenced, an entry stays in the log even if the wait for publication
// fails; the error must say where it went so a retry is a deliberate choice.
func TestAddWaitFailures(t *testing.T) {
	l := startTestLog(t)
	post := func(ctx context.Context) *httptest.ResponseRecorder {
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/add", strings.NewReader("x"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		l.srv.add(rec, req)
		return rec
	}
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if rec := post(gone); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"CANCELLED"`) || !strings.Contains(rec.Body.String(), "index 0") {
		t.Errorf("cancelled client: %d %s", rec.Code, rec.Body)
	}
	l.srv.addTimeout = time.Nanosecond
	if rec := post(context.Background()); rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "index 1") {
		t.Errorf("publication timeout: %d %s", rec.Code, rec.Body)
	}
}
