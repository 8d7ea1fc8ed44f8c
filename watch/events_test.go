package watch

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"tend/budget"
	"tend/config"
	"tend/logship"
	"tend/logship/console"
)

// A program that writes its log one line per write(2) makes one inotify
// event per write. The watcher leaves them in the kernel's queue while it
// waits out watchGap, where repeated events of one file merge, so it reads
// about one event per gap: reading each one (the fsnotify reader ahead of
// the watcher with a buffer of 4,096) cost tend a whole CPU against a
// writer of 250,000 lines a second.
func TestALogWrittenALineAtATimeIsReadAsAnEventPerGap(t *testing.T) {
	dir := t.TempDir()
	cfg := config.Log{Format: config.FormatRaw, FileSize: 50 << 20, FileCount: 5, MaxLine: 16 << 10, Mode: config.ModeBlocking, Buffer: 1 << 20}
	out, err := console.New(cfg, io.Discard, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(cfg, logship.Options{}, out)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close(context.Background())
	b := budget.New(budget.Options{Limit: 1 << 30})
	w, err := Start(pl, b, Options{Patterns: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "app.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	const writes = 100_000
	begin := time.Now()
	for range writes {
		if _, err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(begin)
	time.Sleep(50 * time.Millisecond) // the last reaction
	w.Stop(context.Background())
	// Read after Stop: run has returned.
	events, passes := w.events, w.passes
	t.Logf("%d writes in %s: %d events read, %d reactions", writes, took, events, passes)
	if passes == 0 {
		t.Fatal("the watcher never reacted to the writes")
	}
	// A few events per reaction: those merged while the watcher waited,
	// and those a reaction reads until it catches up with the writer. A
	// reader that takes every event reads most of the writes' (61,000 to
	// 74,000 of 100,000).
	if events > writes/50 {
		t.Errorf("%d events read for %d reactions to %d writes: the repeated events were not left to merge", events, passes, writes)
	}
}
