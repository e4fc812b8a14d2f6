package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

const (
	witnessTimeout = 10 * time.Second
	// awaitPoll is how often the PublicationAwaiter re-reads the checkpoint
	// file; it bounds the extra latency of POST /add after publication.
	awaitPoll = 50 * time.Millisecond
	// batchMaxAge caps how long an entry waits in memory before it is
	// sequenced; short, because each /add already waits for a checkpoint.
	batchMaxAge  = 20 * time.Millisecond
	batchMaxSize = 256
)

// tlog bundles what the HTTP layer needs from Tessera.
type tlog struct {
	add      tessera.AddFn
	reader   tessera.LogReader
	awaiter  *tessera.PublicationAwaiter
	shutdown func(context.Context) error
}

// openLog starts a Tessera appender on POSIX storage at dir. ctx must outlive
// the HTTP server: Tessera's background publisher and the awaiter stop with it.
func openLog(ctx context.Context, dir string, signer note.Signer, interval time.Duration, witnesses *tessera.WitnessGroup) (*tlog, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	// Witness requests are the only outbound HTTP Tessera makes here.
	driver, err := posix.New(ctx, posix.Config{Path: dir, HTTPClient: &http.Client{Timeout: witnessTimeout}})
	if err != nil {
		return nil, fmt.Errorf("posix storage: %w", err)
	}
	// No WithAntispam: its in-memory dedup would hand a repeated entry the
	// earlier index, but for us two identical submissions are two entries.
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(signer).
		WithCheckpointInterval(interval).
		WithCheckpointRepublishInterval(max(interval, time.Minute)).
		WithBatching(batchMaxSize, batchMaxAge).
		// Entries are durable once sequenced and get published on the next
		// start anyway, so don't let shutdown outlast a container stop grace
		// period while witnesses are unreachable (Tessera's default is 60s).
		WithShutdownTimeout(2*interval + witnessTimeout)
	if witnesses != nil {
		opts = opts.WithWitnesses(*witnesses, &tessera.WitnessOptions{Timeout: witnessTimeout, FailOpen: false})
	}
	appender, shutdown, reader, err := tessera.NewAppender(ctx, driver, opts)
	if err != nil {
		return nil, fmt.Errorf("tessera appender: %w", err)
	}
	return &tlog{
		add:      appender.Add,
		reader:   reader,
		awaiter:  tessera.NewPublicationAwaiter(ctx, reader.ReadCheckpoint, awaitPoll),
		shutdown: shutdown,
	}, nil
}
