// Command tlog is Enigm OTA's transparency log: a Tessera log on POSIX
// storage whose checkpoints are signed by an Ed25519 key in a PKCS#11 token.
// All configuration comes from the environment; see config.go.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"
)

const (
	// exitConfig is used when the environment (including the token, PIN and
	// key it names) cannot give us a working signer: retrying will not help.
	exitConfig = 2
)

func main() {
	os.Exit(run())
}

func run() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := loadConfig(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: invalid configuration:\n  %s\n", strings.ReplaceAll(err.Error(), "\n", "\n  "))
		return exitConfig
	}

	key, err := openHSMKey(cfg.HSMModule, cfg.HSMToken, cfg.HSMPIN, cfg.KeyLabel)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: checkpoint key: %v\n", err)
		return exitConfig
	}
	defer key.Close()
	signer, err := newNoteSigner(cfg.Origin, key.Public, key.Sign)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: checkpoint key: %v\n", err)
		return exitConfig
	}
	verifier, err := note.NewVerifier(signer.VerifierKey())
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: verifier key: %v\n", err)
		return 1
	}
	logger.Info("checkpoint signer ready", "origin", cfg.Origin, "vkey", signer.VerifierKey(), "token", cfg.HSMToken, "key_label", cfg.KeyLabel)

	// appCtx outlives the HTTP server so in-flight appends can finish; it
	// is cancelled only after Tessera's shutdown has returned.
	appCtx, stopApp := context.WithCancel(context.Background())
	defer stopApp()
	tl, err := openLog(appCtx, cfg.Dir, signer, cfg.CheckpointInterval, cfg.Witnesses)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: %v\n", err)
		return 1
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: %v\n", err)
		return 1
	}
	defer root.Close()

	s := newServer(tl, &staticFiles{root: root}, verifier, signer.VerifierKey(), cfg, logger)
	ln, err := net.Listen("tcp", cfg.Address)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tlog: listen: %v\n", err)
		return 1
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      s.addTimeout + 5*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("serving", "address", ln.Addr().String(), "dir", cfg.Dir,
		"checkpoint_interval", cfg.CheckpointInterval, "witnesses", cfg.Witnesses != nil)

	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	code := 0
	select {
	case <-sigCtx.Done():
		logger.Info("signal received, shutting down")
	case err := <-serveErr:
		logger.Error("http server stopped", "err", err)
		code = 1
	}
	s.draining.Store(true)
	// No in-flight request can legitimately run longer than an append.
	drainCtx, cancelDrain := context.WithTimeout(context.Background(), s.addTimeout+time.Second)
	defer cancelDrain()
	if err := srv.Shutdown(drainCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	// Tessera's shutdown waits until everything sequenced is published; if
	// that fails, exit non-zero so supervisors notice (the entries are on
	// disk and will be published after the next start).
	if err := tl.shutdown(context.Background()); err != nil {
		logger.Error("tessera shutdown", "err", err)
		code = 1
	}
	stopApp()
	logger.Info("stopped")
	return code
}

func newServer(tl *tlog, files *staticFiles, v note.Verifier, vkey string, cfg config, logger *slog.Logger) *server {
	// Long enough for two checkpoint rounds plus a full witness timeout.
	addTimeout := 2*cfg.CheckpointInterval + witnessTimeout + 5*time.Second
	return &server{
		log:        tl,
		files:      files,
		verifier:   v,
		vkey:       vkey,
		tokenHash:  sha256.Sum256([]byte(cfg.WriteToken)),
		addSlots:   make(chan struct{}, maxInFlightAdds),
		addTimeout: addTimeout,
		logger:     logger,
	}
}
