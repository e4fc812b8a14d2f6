package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"strconv"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"
)

// maxJSONSafe keeps every number exactly representable for JavaScript callers.
const maxJSONSafe = 1<<53 - 1

type inclusionResponse struct {
	Index  uint64   `json:"index"`
	Size   uint64   `json:"size"`
	Hashes [][]byte `json:"hashes"` // encoding/json writes []byte as standard base64
}

type consistencyResponse struct {
	Old    uint64   `json:"old"`
	New    uint64   `json:"new"`
	Hashes [][]byte `json:"hashes"`
}

func (s *server) inclusionProof(w http.ResponseWriter, r *http.Request) {
	index, err1 := queryNumber(r, "index")
	size, err2 := queryNumber(r, "size")
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", err.Error())
		return
	}
	if !s.checkSize(w, r, size) {
		return
	}
	if index >= size {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "index must be below size")
		return
	}
	pb, err := client.NewProofBuilder(r.Context(), size, s.readTile)
	if err == nil {
		var hashes [][]byte
		if hashes, err = pb.InclusionProof(r.Context(), index); err == nil {
			writeJSON(w, http.StatusOK, inclusionResponse{Index: index, Size: size, Hashes: nonNil(hashes)})
			return
		}
	}
	s.logger.Error("inclusion proof", "index", index, "size", size, "err", err)
	writeError(w, http.StatusInternalServerError, "INTERNAL", "cannot build proof")
}

func (s *server) consistencyProof(w http.ResponseWriter, r *http.Request) {
	oldSize, err1 := queryNumber(r, "old")
	newSize, err2 := queryNumber(r, "new")
	if err := errors.Join(err1, err2); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", err.Error())
		return
	}
	if !s.checkSize(w, r, newSize) {
		return
	}
	if oldSize == 0 || oldSize > newSize {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT", "need 0 < old <= new")
		return
	}
	if oldSize == newSize {
		writeJSON(w, http.StatusOK, consistencyResponse{Old: oldSize, New: newSize, Hashes: [][]byte{}})
		return
	}
	pb, err := client.NewProofBuilder(r.Context(), newSize, s.readTile)
	if err == nil {
		var hashes [][]byte
		if hashes, err = pb.ConsistencyProof(r.Context(), oldSize, newSize); err == nil {
			writeJSON(w, http.StatusOK, consistencyResponse{Old: oldSize, New: newSize, Hashes: nonNil(hashes)})
			return
		}
	}
	s.logger.Error("consistency proof", "old", oldSize, "new", newSize, "err", err)
	writeError(w, http.StatusInternalServerError, "INTERNAL", "cannot build proof")
}

// checkSize only allows tree sizes that a published checkpoint covers: a
// proof against an unpublished size could not be checked by anyone.
func (s *server) checkSize(w http.ResponseWriter, r *http.Request, size uint64) bool {
	published, err := s.publishedSize(r.Context())
	if err != nil {
		s.logger.Error("reading published checkpoint", "err", err)
		writeError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "no published checkpoint")
		return false
	}
	if size == 0 || size > published {
		writeError(w, http.StatusBadRequest, "INVALID_INPUT",
			fmt.Sprintf("size must be between 1 and the published size %d", published))
		return false
	}
	return true
}

// publishedSize opens the checkpoint with our own verifier rather than just
// parsing it, so a tampered file on disk is noticed instead of trusted.
func (s *server) publishedSize(ctx context.Context) (uint64, error) {
	raw, err := s.log.reader.ReadCheckpoint(ctx)
	if err != nil {
		return 0, err
	}
	n, err := note.Open(raw, note.VerifierList(s.verifier))
	if err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	var cp log.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return 0, fmt.Errorf("checkpoint: %w", err)
	}
	if cp.Origin != s.verifier.Name() {
		return 0, fmt.Errorf("checkpoint origin %q, want %q", cp.Origin, s.verifier.Name())
	}
	return cp.Size, nil
}

// readTile is the ProofBuilder's tile fetcher. Tessera's ReadTile finds the
// exact partial tile or the full one; a size that never was a checkpoint has
// neither, so fall back to the next wider partial tile and keep its first p
// hashes (tile hashes only ever get appended to).
func (s *server) readTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error) {
	t, err := s.log.reader.ReadTile(ctx, level, index, p)
	if err == nil || p == 0 || !errors.Is(err, os.ErrNotExist) {
		return t, err
	}
	dir := path.Dir(layout.TilePath(level, index, p))
	entries, derr := fs.ReadDir(s.files.root.FS(), dir)
	if derr != nil {
		return nil, err
	}
	best := 0
	for _, e := range entries {
		wd, perr := strconv.Atoi(e.Name())
		if perr == nil && wd > int(p) && wd < layout.TileWidth && (best == 0 || wd < best) {
			best = wd
		}
	}
	if best == 0 {
		return nil, err
	}
	wide, werr := s.log.reader.ReadTile(ctx, level, index, uint8(best))
	if werr != nil {
		return nil, werr
	}
	if need := int(p) * 32; len(wide) >= need {
		return wide[:need], nil
	}
	return nil, fmt.Errorf("tile %d/%d.p/%d is short", level, index, best)
}

func queryNumber(r *http.Request, name string) (uint64, error) {
	v := r.URL.Query()[name]
	if len(v) != 1 {
		return 0, fmt.Errorf("exactly one %q parameter is required", name)
	}
	n, err := parseDecimal(v[0], maxJSONSafe)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return n, nil
}

func nonNil(h [][]byte) [][]byte {
	if h == nil {
		return [][]byte{}
	}
	return h
}
