package main

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strings"
)

const (
	cacheNoCache   = "no-cache"
	cacheImmutable = "public, max-age=31536000, immutable"
)

// staticFiles serves the public tlog-tiles resources straight from Tessera's
// POSIX layout. It goes through an os.Root so that neither ".." nor a symlink
// can reach outside the log directory, and it only ever serves regular files
// below the prefixes it is mounted on (never .state, never directory listings).
type staticFiles struct {
	root *os.Root
}

// serveCheckpoint: the checkpoint changes every interval, so caches must
// revalidate it.
func (s *staticFiles) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	s.serve(w, r, "checkpoint", "text/plain; charset=utf-8", cacheNoCache)
}

// serveTile covers hash tiles and entry bundles (tile/entries/...). Full ones
// never change; partial ones (".p/" paths) are superseded and garbage
// collected as the log grows, so they must not be cached.
func (s *staticFiles) serveTile(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if !strings.HasPrefix(name, "tile/") || !cleanRelPath(name) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
		return
	}
	cache := cacheImmutable
	if strings.Contains(name, ".p/") {
		cache = cacheNoCache
	}
	s.serve(w, r, name, "application/octet-stream", cache)
}

func (s *staticFiles) serve(w http.ResponseWriter, r *http.Request, name, contentType, cache string) {
	f, err := s.root.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			writeError(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
			return
		}
		writeError(w, http.StatusInternalServerError, "INTERNAL", "cannot read resource")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such resource")
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", cache)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// cleanRelPath rejects anything that is not already a canonical relative
// path, and any hidden segment, so one resource has exactly one URL.
func cleanRelPath(p string) bool {
	if p == "" || path.Clean(p) != p || strings.HasPrefix(p, "/") {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}
