package fluent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"tend/budget"
	"tend/config"
	"tend/internal/fluentdtest"
	"tend/internal/nettest"
	"tend/logship"
	"tend/logship/internal/logtest"
)

// blockingSink returns a sink made with cfg and opts and a pipeline in
// blocking mode whose only sink it is.
func blockingSink(t *testing.T, cfg config.Fluent, opts Options) (*Sink, *logship.Pipeline) {
	t.Helper()
	f, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	lc := logtest.Log("")
	lc.Mode = config.ModeBlocking
	pl, err := logship.New(lc, logship.Options{}, f)
	if err != nil {
		t.Fatal(err)
	}
	return f, pl
}

// feedMain feeds the first n numbered test lines into pl as main's
// stdout.
func feedMain(t *testing.T, pl *logship.Pipeline, n int) {
	t.Helper()
	logtest.Feed(t, pl, logship.Source{Program: "main"}, logship.Stdout, logtest.Lines(0, n))
}

// closeWithin closes pl within d and returns how long it took and its
// error.
func closeWithin(pl *logship.Pipeline, d time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	start := time.Now()
	err := pl.Close(ctx)
	return time.Since(start), err
}

// With the receiver refusing connections, a program in blocking mode is
// never held up: what fits in the buffer is kept, the rest is dropped and
// counted, for the program and by cause; Close gives up after the grace
// for a receiver that refuses, not at its deadline, and counts what was
// left.
func TestRefusingReceiverNeverHoldsAProgramUp(t *testing.T) {
	const lines, limit = 100_000, 256 << 10
	f, pl := blockingSink(t, config.Fluent{Addr: nettest.FreeAddr(t), Buffer: limit}, Options{Blocking: true})
	feedMain(t, pl, lines)
	st := f.Status()
	if st.BufferedBytes > limit || st.Buffered == 0 {
		t.Errorf("%d records (%d bytes) in memory; the buffer is %d bytes", st.Buffered, st.BufferedBytes, limit)
	}
	if st.Dropped.Lines == 0 || st.DroppedBy.BufferFull != st.Dropped || st.Dropped.Lines+st.Buffered != lines {
		t.Errorf("status %+v: want the %d lines either buffered or dropped as buffer full", st, lines)
	}
	if d := pl.Stats("main").FluentDropped; d != st.Dropped {
		t.Errorf("the program's counters say %+v dropped, the sink's %+v", d, st.Dropped)
	}
	if st.Connected || st.Retries == 0 || !strings.Contains(st.LastError, "refused") {
		t.Errorf("status %+v: want not connected, a retry, the refusal as last error", st)
	}
	took, err := closeWithin(pl, 20*time.Second)
	if err == nil {
		t.Error("Close reported success with records never sent")
	}
	t.Logf("Close took %s: %v", took.Round(time.Millisecond), err)
	if took > 10*time.Second {
		t.Errorf("Close took %s with a receiver that refuses; it waits %s for one", took, closeGrace)
	}
	if d := f.Status(); d.Dropped.Lines != lines || d.DroppedBy.Stop.Lines != st.Buffered || d.Buffered != 0 {
		t.Errorf("after Close: %+v; want every line dropped, %d of them at the stop", d, st.Buffered)
	}
}

// Without a spool and with the receiver down, what memory holds at the
// stop is counted as dropped; with one it is written to the spool, and a
// new sink on the same spool sends it to the receiver first, each record
// once, in order, and deletes the files.
func TestSpoolKeepsWhatIsLeftForTheNextSink(t *testing.T) {
	const lines = 30_000
	spool := t.TempDir()
	addr := nettest.FreeAddr(t)
	// Ack: a record counts as sent once Fluentd has it, so it is in its
	// files when it stops.
	cfg := config.Fluent{Addr: addr, Buffer: 64 << 10, Spool: spool, SpoolSize: 256 << 20, Ack: true}
	f, pl := blockingSink(t, cfg, Options{Blocking: true})
	feedMain(t, pl, lines)
	st := f.Status()
	if st.SpooledChunks == 0 || st.Dropped.Lines != 0 {
		t.Fatalf("status %+v: the spool should hold what memory does not", st)
	}
	closeWithin(pl, 20*time.Second)
	files, _ := filepath.Glob(filepath.Join(spool, "*.chunk"))
	if st := f.Status(); st.Dropped.Lines != 0 || int64(len(files)) != st.SpooledChunks || st.SpooledRecords != lines {
		t.Fatalf("after Close: %+v, %d files; want all %d records in the spool", st, len(files), lines)
	}

	fd := fluentdtest.StartAt(t, addr)
	f2, pl2 := blockingSink(t, cfg, Options{Blocking: true})
	if _, err := closeWithin(pl2, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := f2.Status(); st.Sent != lines || st.SpooledChunks != 0 {
		t.Errorf("the second sink: %+v; want the %d spooled records sent", st, lines)
	}
	if files, _ := filepath.Glob(filepath.Join(spool, "*")); len(files) != 0 {
		t.Errorf("files left in the spool: %v", files)
	}
	fd.Stop() // it writes what it buffered
	recs := fd.Records()
	if len(recs) != lines {
		t.Fatalf("Fluentd has %d records, want %d", len(recs), lines)
	}
	want := string(logtest.Lines(0, lines))
	for i, r := range recs {
		line, rest, _ := strings.Cut(want, "\n")
		want = rest
		if r.Message != line || r.Program != "main" || r.Stream != "stdout" || r.Tag != "tend.main.stdout" {
			t.Fatalf("record %d is %+v, want %q", i, r, line)
		}
	}
}

// During an outage, a full spool makes room by deleting its oldest chunks,
// counted as dropped (spool full); it never passes its size.
func TestFullSpoolDropsItsOldestChunks(t *testing.T) {
	spool := t.TempDir()
	const size = 1 << 20
	f, pl := blockingSink(t, config.Fluent{Addr: nettest.FreeAddr(t), Buffer: 64 << 10, Spool: spool, SpoolSize: size}, Options{Blocking: true})
	feedMain(t, pl, 50_000)
	st := f.Status()
	if st.SpooledBytes > size || dirBytes(t, spool) > size {
		t.Errorf("spool of %d bytes (%d on disk); its size is %d", st.SpooledBytes, dirBytes(t, spool), size)
	}
	if st.DroppedBy.SpoolFull.Lines == 0 || st.Dropped != st.DroppedBy.SpoolFull {
		t.Errorf("status %+v: want drops of spooled chunks only", st)
	}
	// Chunks are spooled in the order they were sealed; the oldest going
	// first leaves the newest ones, numbered without a gap.
	files, _ := filepath.Glob(filepath.Join(spool, "*.chunk"))
	var prev uint64
	for i, name := range files {
		seq, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), ".chunk"), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 && seq != prev+1 {
			t.Errorf("chunk %d follows chunk %d in the spool: a chunk other than the oldest was dropped", seq, prev)
		}
		prev = seq
	}
	closeWithin(pl, 10*time.Second)
}

// Spooled chunks count against the disk budget: when it needs room the
// oldest go first and are counted as dropped (disk limits); the spool
// never takes the budget past its limit.
func TestSpoolStaysUnderTheDiskBudget(t *testing.T) {
	spool := t.TempDir()
	const limit = 1 << 20
	b := budget.New(budget.Options{Limit: limit})
	f, pl := blockingSink(t, config.Fluent{Addr: nettest.FreeAddr(t), Buffer: 64 << 10, Spool: spool, SpoolSize: 256 << 20}, Options{Blocking: true, Budget: b})
	feedMain(t, pl, 50_000)
	st := f.Status()
	if used := b.Used(); used > limit || dirBytes(t, spool) > limit || b.Usage("main") != used {
		t.Errorf("budget used %d (main %d), %d bytes on disk; the limit is %d", used, b.Usage("main"), dirBytes(t, spool), limit)
	}
	if st.DroppedBy.DiskLimits.Lines == 0 {
		t.Errorf("status %+v: want spooled chunks dropped for the disk limits", st)
	}
	closeWithin(pl, 10*time.Second)
}

// A chunk file that is not whole or was changed (a crash, a disk error)
// is never sent: it is counted as dropped, and the others are sent.
func TestDamagedSpoolFileIsDroppedNotSent(t *testing.T) {
	spool := t.TempDir()
	addr := nettest.FreeAddr(t)
	cfg := config.Fluent{Addr: addr, Buffer: 64 << 10, Spool: spool, SpoolSize: 256 << 20, Ack: true}
	_, pl := blockingSink(t, cfg, Options{Blocking: true})
	feedMain(t, pl, 5_000)
	closeWithin(pl, 20*time.Second)
	files, _ := filepath.Glob(filepath.Join(spool, "*.chunk"))
	if len(files) < 3 {
		t.Fatalf("%d chunk files; the test needs 3", len(files))
	}
	data, err := os.ReadFile(files[1])
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-10] ^= 0xff
	if err := os.WriteFile(files[1], data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "00000000000000ff.chunk"), []byte("not a chunk"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(spool, "0000000000000100.chunk.tmp"), []byte("half written"), 0o600); err != nil {
		t.Fatal(err)
	}

	fd := fluentdtest.StartAt(t, addr)
	f2, pl2 := blockingSink(t, cfg, Options{Blocking: true})
	closeWithin(pl2, 60*time.Second)
	st := f2.Status()
	fd.Stop() // it writes what it buffered
	recs := fd.Records()
	var marker int
	for _, r := range recs {
		if strings.HasPrefix(r.Message, "dropped ") {
			marker++
		}
	}
	if st.DroppedBy.DiskLimits.Lines == 0 || int64(len(recs)-marker)+st.Dropped.Lines != 5_000 {
		t.Errorf("status %+v, %d records at Fluentd: want the damaged chunk's records dropped, the rest sent", st, len(recs))
	}
	if left, _ := filepath.Glob(filepath.Join(spool, "*")); len(left) != 0 {
		t.Errorf("files left in the spool: %v", left)
	}
}

// dirBytes is the bytes of the regular files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

// While the receiver is down, chunks sealed by their linger wait in memory
// by the hundred, a few records each (programs that log now and then,
// for minutes). Each holds a buffer near the size of what it holds, not
// the 256 KiB a chunk of a burst is made with: the buffer bounds only the
// records' bytes, and 200 waiting chunks of 256 KiB would be 50 MiB. A
// program's next chunks in a burst are made at the seal size at once.
func TestWaitingChunksHoldWhatTheirRecordsTake(t *testing.T) {
	f, pl := blockingSink(t, config.Fluent{Addr: nettest.FreeAddr(t), Buffer: 8 << 20}, Options{Blocking: true})
	const programs, rounds = 20, 10
	for r := range rounds {
		for p := range programs {
			logtest.Feed(t, pl, logship.Source{Program: "p" + strconv.Itoa(p)}, logship.Stdout, logtest.Lines(3*r, 3))
		}
		// What the sender does once the linger has passed (while the
		// receiver is down it comes by every few seconds).
		f.mu.Lock()
		f.sealOpenLocked(time.Now().Add(linger), false)
		f.mu.Unlock()
	}
	// One program writes a burst: 2 MiB of lines.
	logtest.Feed(t, pl, logship.Source{Program: "burst"}, logship.Stdout, logtest.Lines(0, 20_000))

	f.mu.Lock()
	var small, smallSize, smallRoom, burst, burstGrown int
	for _, b := range f.q {
		room := b.ch.Size() + b.ch.Available()
		if b.key.program == "burst" {
			burst++
			if b.ch.Size() > f.seal/2 && room > f.seal+1024 {
				burstGrown++
			}
			continue
		}
		small++
		smallSize += b.ch.Size()
		smallRoom += room
	}
	f.mu.Unlock()
	if small < programs*rounds/2 || burst < 4 {
		t.Fatalf("%d small chunks and %d of the burst waiting; the test wants %d and 4 or more", small, burst, programs*rounds/2)
	}
	t.Logf("%d small chunks waiting: %d bytes of records in buffers of %d bytes", small, smallSize, smallRoom)
	if limit := 2*smallSize + small*(2*minChunk); smallRoom > limit {
		t.Errorf("%d waiting chunks of %d bytes of records hold buffers of %d bytes; want at most %d", small, smallSize, smallRoom, limit)
	}
	if burstGrown > 0 {
		t.Errorf("%d of the burst's %d chunks have buffers larger than the %d bytes they are sealed at", burstGrown, burst, f.seal)
	}
}
