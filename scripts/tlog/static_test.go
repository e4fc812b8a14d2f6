package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestStaticRoutes(t *testing.T) {
	l := startTestLog(t)
	l.add(t, []byte("a"))
	// Make a full tile exist without adding 256 entries through HTTP.
	full := filepath.Join(l.dir, "tile", "0", "999")
	if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, cache string
		code        int
	}{
		{"/checkpoint", cacheNoCache, 200},
		{"/tile/0/000.p/1", cacheNoCache, 200},
		{"/tile/entries/000.p/1", cacheNoCache, 200},
		{"/tile/0/999", cacheImmutable, 200},
		{"/tile/0/", "", 404},
		{"/tile/0/000.p", "", 404},
		{"/tile/../.state/treeState", "", 404},
		{"/tile/%2e%2e/.state/treeState", "", 404},
		{"/.state/treeState", "", 404},
		{"/tile/entries/001", "", 404},
	} {
		resp, err := http.Get(l.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("GET %s: %d %q, want %d %q", tc.path, resp.StatusCode, resp.Header.Get("Cache-Control"), tc.code, tc.cache)
		}
		if tc.code != 200 && resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: error is not JSON", tc.path)
		}
	}
}
