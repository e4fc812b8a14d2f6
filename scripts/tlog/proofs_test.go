package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// Sizes that were never a checkpoint still get proofs: the tile fetcher
// falls back to a wider partial tile.
func TestProofsForEverySize(t *testing.T) {
	l := startTestLog(t)
	var cp log.Checkpoint
	for i := range 5 {
		_, ar, _ := l.add(t, fmt.Appendf(nil, "e%d", i))
		cp = l.openCheckpoint(t, ar.Checkpoint)
	}
	// Entries batched together leave no partial tile for the sizes in
	// between; model that by removing all but the widest one.
	for w := uint64(1); w < cp.Size; w++ {
		if err := os.Remove(filepath.Join(l.dir, "tile", "0", "000.p", fmt.Sprint(w))); err != nil {
			t.Fatal(err)
		}
	}
	hashes := make([][]byte, 0, cp.Size)
	for i := range cp.Size {
		hashes = append(hashes, rfc6962.DefaultHasher.HashLeaf(fmt.Appendf(nil, "e%d", i)))
	}
	for size := uint64(1); size <= cp.Size; size++ {
		root := rootOf(hashes[:size])
		for idx := range size {
			var ip inclusionResponse
			if code := l.getJSON(t, fmt.Sprintf("/proof/inclusion?index=%d&size=%d", idx, size), &ip); code != http.StatusOK {
				t.Fatalf("inclusion %d/%d: %d", idx, size, code)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, hashes[idx], ip.Hashes, root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", idx, size, err)
			}
		}
		for old := uint64(1); old <= size; old++ {
			var cr consistencyResponse
			if code := l.getJSON(t, fmt.Sprintf("/proof/consistency?old=%d&new=%d", old, size), &cr); code != http.StatusOK {
				t.Fatalf("consistency %d/%d: %d", old, size, code)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, cr.Hashes, rootOf(hashes[:old]), root); err != nil {
				t.Fatalf("consistency %d/%d: %v", old, size, err)
			}
		}
	}
}

// Past 256 entries proofs need full tiles and level-1 tiles; check sizes on
// both sides of the boundary, most of which were never a checkpoint.
func TestProofsAcrossTileBoundary(t *testing.T) {
	l := startTestLog(t)
	const n = 600
	leaves := make([][]byte, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			body := fmt.Appendf(nil, "b%d", i)
			code, ar, raw := l.add(t, body)
			if code != http.StatusOK {
				t.Errorf("add: %d %s", code, raw)
				return
			}
			mu.Lock()
			leaves[ar.Index] = rfc6962.DefaultHasher.HashLeaf(body)
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	for _, size := range []uint64{1, 255, 256, 257, 300, 511, 512, 513, n} {
		root := rootOf(leaves[:size])
		for _, idx := range []uint64{0, size / 2, size - 1} {
			var ip inclusionResponse
			if code := l.getJSON(t, fmt.Sprintf("/proof/inclusion?index=%d&size=%d", idx, size), &ip); code != http.StatusOK {
				t.Fatalf("inclusion %d/%d: %d", idx, size, code)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, size, leaves[idx], ip.Hashes, root); err != nil {
				t.Fatalf("inclusion %d/%d: %v", idx, size, err)
			}
		}
		for _, old := range []uint64{1, 200, 256, 257, 511} {
			if old > size {
				continue
			}
			var cr consistencyResponse
			if code := l.getJSON(t, fmt.Sprintf("/proof/consistency?old=%d&new=%d", old, size), &cr); code != http.StatusOK {
				t.Fatalf("consistency %d/%d: %d", old, size, code)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old, size, cr.Hashes, rootOf(leaves[:old]), root); err != nil {
				t.Fatalf("consistency %d/%d: %v", old, size, err)
			}
		}
	}
}

func TestProofInputValidation(t *testing.T) {
	l := startTestLog(t)
	l.add(t, []byte("a"))
	l.add(t, []byte("b"))
	for _, path := range []string{
		"/proof/inclusion?index=0",
		"/proof/inclusion?index=0&size=0",
		"/proof/inclusion?index=2&size=2",
		"/proof/inclusion?index=0&size=3",
		"/proof/inclusion?index=-1&size=2",
		"/proof/inclusion?index=00&size=2",
		"/proof/inclusion?index=0&size=2&size=2",
		"/proof/inclusion?index=0&size=9007199254740993",
		"/proof/consistency?old=0&new=2",
		"/proof/consistency?old=2&new=1",
		"/proof/consistency?old=1&new=3",
		"/proof/consistency?old=1",
	} {
		if code := l.getJSON(t, path, nil); code != http.StatusBadRequest {
			t.Errorf("GET %s: %d, want 400", path, code)
		}
	}
	var cr consistencyResponse
	if code := l.getJSON(t, "/proof/consistency?old=2&new=2", &cr); code != 200 || cr.Hashes == nil || len(cr.Hashes) != 0 {
		t.Errorf("old == new: %d %+v", code, cr)
	}
}

// rootOf is the RFC 6962 Merkle tree hash, computed naively for tests.
func rootOf(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return rfc6962.DefaultHasher.HashChildren(rootOf(leaves[:k]), rootOf(leaves[k:]))
}
