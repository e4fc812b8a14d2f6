package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/transparency-dev/tessera"
	"golang.org/x/mod/sumdb/note"
)

const (
	// maxEntrySize is Tessera's limit (tessera.DefaultEntrySizeLimit):
	// tlog-tiles entry bundles carry a 16-bit length prefix.
	maxEntrySize = tessera.DefaultEntrySizeLimit
	// maxInFlightAdds bounds memory (each waiting /add holds its body) and
	// is our pushback: Tessera's POSIX driver never returns ErrPushback.
	maxInFlightAdds = 2048
)

type server struct {
	log        *tlog
	files      *staticFiles
	verifier   note.Verifier
	vkey       string
	tokenHash  [32]byte
	addSlots   chan struct{}
	addTimeout time.Duration
	logger     *slog.Logger
	draining   atomic.Bool
}

type addResponse struct {
	Index      uint64 `json:"index"`
	Checkpoint string `json:"checkpoint"`
}

// routes lists every endpoint; anything else gets a JSON 404 or 405.
func (s *server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /add", s.add)
	mux.HandleFunc("GET /checkpoint", s.files.serveCheckpoint)
	mux.HandleFunc("GET /tile/", s.files.serveTile)
	mux.HandleFunc("GET /proof/inclusion", s.inclusionProof)
	mux.HandleFunc("GET /proof/consistency", s.consistencyProof)
	mux.HandleFunc("GET /vkey", s.serveVKey)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/", notFoundOrMethod)
	return mux
}

// allowedMethods mirrors routes() for the 405 answers below.
var allowedMethods = map[string]string{
	"/add": "POST", "/checkpoint": "GET, HEAD", "/vkey": "GET, HEAD", "/healthz": "GET, HEAD",
	"/proof/inclusion": "GET, HEAD", "/proof/consistency": "GET, HEAD",
}

// notFoundOrMethod replaces net/http's plain-text 404/405 so every error
// body has the same JSON shape.
func notFoundOrMethod(w http.ResponseWriter, r *http.Request) {
	allowed := allowedMethods[r.URL.Path]
	if allowed == "" && strings.HasPrefix(r.URL.Path, "/tile/") {
		allowed = "GET, HEAD"
	}
	if allowed == "" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such route")
		return
	}
	w.Header().Set("Allow", allowed)
	writeError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use "+allowed)
}

func (s *server) serveVKey(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, s.vkey+"\n")
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "SHUTTING_DOWN", "server is shutting down")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok")
}

// authorized compares SHA-256 digests in constant time so neither the token
// nor its length leaks through timing.
func (s *server) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) == 1
}

// add appends the body as one entry and answers only once a published
// checkpoint covers it, so the caller can ask for an inclusion proof at once.
func (s *server) add(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="tlog"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "a valid bearer token is required")
		return
	}
	select {
	case s.addSlots <- struct{}{}:
		defer func() { <-s.addSlots }()
	default:
		pushback(w, "too many appends in flight")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEntrySize))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("entries are at most %d bytes", maxEntrySize))
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "cannot read body")
		return
	case len(body) == 0:
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "empty entry")
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), s.addTimeout)
	defer cancel()
	// Resolve the future ourselves so a sequencing failure (no index) is
	// told apart from a publication wait that failed after sequencing.
	idx, err := s.log.add(ctx, tessera.NewEntry(body))()
	if err != nil {
		if errors.Is(err, tessera.ErrPushback) {
			pushback(w, "log is busy")
			return
		}
		s.logger.Error("append", "err", err)
		writeError(w, http.StatusInternalServerError, "INTERNAL", "append failed")
		return
	}
	_, cp, err := s.log.awaiter.Await(ctx, func() (tessera.Index, error) { return idx, nil })
	if err != nil {
		// The entry is sequenced and will be published; say where it is, so
		// a caller that gives up here knows a retry would add a second copy.
		msg := fmt.Sprintf("entry sequenced at index %d but not yet covered by a published checkpoint", idx.Index)
		switch {
		case r.Context().Err() != nil:
			s.logger.Info("append: client went away", "index", idx.Index)
			writeError(w, http.StatusServiceUnavailable, "CANCELLED", msg)
		case ctx.Err() != nil:
			writeError(w, http.StatusGatewayTimeout, "PUBLICATION_TIMEOUT", msg)
		default:
			s.logger.Error("awaiting publication", "index", idx.Index, "err", err)
			writeError(w, http.StatusInternalServerError, "INTERNAL", msg)
		}
		return
	}
	writeJSON(w, http.StatusOK, addResponse{Index: idx.Index, Checkpoint: string(cp)})
}

func pushback(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	writeError(w, http.StatusServiceUnavailable, "PUSHBACK", msg)
}
