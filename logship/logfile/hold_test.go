package logfile

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/config"
	"tend/logship"
	"tend/logship/internal/logtest"
)

// writeBatch writes data, whole lines, as one batch of main's stdout in
// the pusher's goroutine, as a capture does, and calls during with the
// queue still held: the writer's goroutine cannot write what is held
// meanwhile.
func writeBatch(t *testing.T, s shipper, w *writer, data []byte, during func()) {
	t.Helper()
	claim(t, w)
	handleBatch(s, w, data)
	if during != nil {
		during()
	}
	w.q.Done()
}

// claim makes the test the writer of w's queue, as a capture is while it
// writes its own batches: until Done, the writer's goroutine writes
// nothing, held bytes included. It waits while that goroutine writes held
// bytes (their timer fires holdFor after a batch, whatever the test does).
func claim(t *testing.T, w *writer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !w.q.Claim() {
		if time.Now().After(deadline) {
			t.Fatal("the writer's queue stayed busy for 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

// handleBatch writes data, whole lines, as one batch of main's stdout;
// the caller holds w's queue (claim).
func handleBatch(s shipper, w *writer, data []byte) {
	b := s.NewBatch(w.prog, Stdout, len(data))
	b.Data = append(b.Data, data...)
	fr := logship.NewRunFramer(16 << 10)
	b.Records = fr.Frame(b.Data, b.Records)
	b.Time = time.Now()
	w.handle(logship.Item{Batch: b})
	b.Release()
}

// hundredByteLines returns lines from to from+n-1, 100 bytes each.
func hundredByteLines(from, n int) []byte {
	var data []byte
	for i := from; i < from+n; i++ {
		data = append(data, numberedLine(i%10000, 100)...)
	}
	return data
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestWritesInVolumeEndOnBoundaries: a program writing in volume has its
// file written in pieces that end on 64 KiB boundaries, the rest held
// back for the next write; a small write goes out at once with what is
// held; what a burst leaves held reaches the file within holdFor with no
// write after it; and the file holds every byte, in order.
func TestWritesInVolumeEndOnBoundaries(t *testing.T) {
	dir := t.TempDir()
	s := newShipper(t, testLog(dir), nil, nil)
	w := s.files.writer(s.Program(Source{Program: "main"}))
	path := filepath.Join(dir, "main.log")

	var all []byte
	const piece = 1000 // lines of 100 bytes: 100,000 bytes a batch, never aligned
	// The test writes every batch itself until the burst's end, as a
	// capture of a program that writes without a pause of holdFor does:
	// the held bytes' timer may fire meanwhile (on a busy machine the
	// batches take longer than holdFor), but its write waits for Done.
	claim(t, w)
	for i := range 7 {
		data := hundredByteLines(i*piece, piece)
		all = append(all, data...)
		handleBatch(s, w, data)
		size := fileSize(t, path)
		if size%alignSize != 0 || int64(len(all))-size >= alignSize {
			t.Fatalf("after %d bytes the file holds %d: want the last 64 KiB boundary, %d",
				len(all), size, int64(len(all))&^(alignSize-1))
		}
	}
	small := []byte("one line from a program that slowed down\n")
	all = append(all, small...)
	handleBatch(s, w, small)
	if size := fileSize(t, path); size != int64(len(all)) {
		t.Fatalf("after a small write the file holds %d bytes of %d", size, len(all))
	}

	burst := hundredByteLines(7*piece, piece)
	all = append(all, burst...)
	handleBatch(s, w, burst)
	w.q.Done()
	start := time.Now()
	waitFor(t, func() bool { return fileSize(t, path) == int64(len(all)) })
	if el := time.Since(start); el > time.Second {
		t.Errorf("the held bytes took %v to reach the file", el)
	}
	closeShipper(t, s)
	if got := readLog(t, path); !bytes.Equal(got, all) {
		t.Fatalf("main.log holds %d bytes, not the %d written in order", len(got), len(all))
	}
	if st := s.Stats("main"); st.FileBytes != int64(len(all)) || st.DiskDropped.Lines != 0 {
		t.Fatalf("stats %+v, want %d bytes in the file and nothing dropped", st, len(all))
	}
}

// TestHeldBytesThatFailAreDroppedAndCounted: when the write of held bytes
// fails (the disk filled meanwhile), they are dropped and counted like the
// lines of any failed write, the line they cut included, and the marker
// that follows says so.
func TestHeldBytesThatFailAreDroppedAndCounted(t *testing.T) {
	mnt := logtest.MountTmpfs(t, "1m")
	cfg := testLog(filepath.Join(mnt, "logs"))
	s := newShipper(t, cfg, nil, nil)
	w := s.files.writer(s.Program(Source{Program: "main"}))
	path := filepath.Join(cfg.Dir, "main.log")

	data := hundredByteLines(0, 1000) // 100,000 bytes: 65,536 written, the rest held
	filler := filepath.Join(mnt, "filler")
	writeBatch(t, s, w, data, func() {
		fillDisk(t, filler)
		w.flushHeld()
	})
	os.Remove(filler)
	time.Sleep(200 * time.Millisecond) // two free-space measures
	after := []byte("room again\n")
	logtest.Feed(t, s.Pipeline, Source{Program: "main"}, Stdout, after)
	closeShipper(t, s)

	d := s.Stats("main").DiskDropped
	if d.Bytes != int64(len(data)-alignSize) {
		t.Errorf("dropped %d bytes, want the %d held", d.Bytes, len(data)-alignSize)
	}
	got := readLog(t, path)
	if !bytes.HasPrefix(got, data[:alignSize]) {
		t.Fatalf("main.log does not start with the %d bytes written", alignSize)
	}
	// 65,536 is not a line boundary: the marker starts on a line of its own.
	want := fmt.Sprintf("\ndropped %d lines (%d bytes) from main (disk full)\n%s", d.Lines, d.Bytes, after)
	if rest := string(got[alignSize:]); rest != want {
		t.Fatalf("after the bytes written: %.300q, want %q", rest, want)
	}
	kept := int64(bytes.Count(data[:alignSize], []byte("\n")))
	if kept+d.Lines != 1000 {
		t.Errorf("%d whole lines kept + %d dropped != 1000", kept, d.Lines)
	}
}

// fillDisk writes path until its filesystem is full.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// A last partial page.
	for _, err := f.Write(buf[:1]); err == nil; _, err = f.Write(buf[:1]) {
	}
}

// TestHeldBytesKeepOrderAcrossRotations: a program writing pieces of every
// size, lines split anywhere, with pauses longer than holdFor now and
// then, through a file that rotates every MiB: every line is in the
// files, whole and in order, and every rotated file ends on a line and
// within its size. In non-blocking mode the default queue refuses some
// of this burst (it did before holding too): the lines missing are then
// exactly those counted as dropped, and the others are still whole and in
// order.
func TestHeldBytesKeepOrderAcrossRotations(t *testing.T) {
	for _, mode := range []string{config.ModeBlocking, config.ModeNonBlocking} {
		t.Run(mode, func(t *testing.T) { heldBytesKeepOrder(t, mode) })
	}
}

func heldBytesKeepOrder(t *testing.T, mode string) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 1 << 20
	cfg.FileCount = 100
	cfg.Mode = mode
	s := newShipper(t, cfg, nil, nil)

	rng := rand.New(rand.NewPCG(1, 2))
	var in []byte
	var lineLen []int // by line number
	for i := 0; len(in) < 8<<20; i++ {
		lineLen = append(lineLen, 20+rng.IntN(400))
		in = append(in, numberedLine(i, lineLen[i])...)
	}
	r, w := osPipe(t)
	c := s.CaptureSource(Source{Program: "main"}, Stdout, r)
	for rest, n := in, 0; len(rest) > 0; n++ {
		size := min(len(rest), 1+rng.IntN(200<<10))
		if rng.IntN(4) == 0 {
			size = min(len(rest), 1+rng.IntN(4<<10))
		}
		if _, err := w.Write(rest[:size]); err != nil {
			t.Fatal(err)
		}
		rest = rest[size:]
		if n%20 == 19 {
			time.Sleep(holdFor + 10*time.Millisecond)
		}
	}
	w.Close()
	<-c.Done()
	closeShipper(t, s)

	files := logFiles(t, dir, "main")
	var all []byte
	for i, f := range files {
		data := readLog(t, f)
		if i < len(files)-1 && (len(data) == 0 || data[len(data)-1] != '\n' || int64(len(data)) > cfg.FileSize) {
			t.Errorf("%s: %d bytes, ending %q: want at most %d, ending on a line", f, len(data), data[max(0, len(data)-1):], cfg.FileSize)
		}
		all = append(all, data...)
	}
	st := s.Stats("main")
	if mode == config.ModeBlocking || st.BufferDropped.Lines == 0 {
		if !bytes.Equal(all, in) {
			i := 0
			for i < min(len(all), len(in)) && all[i] == in[i] {
				i++
			}
			t.Fatalf("%d files hold %d bytes of %d; they differ from byte %d", len(files), len(all), len(in), i)
		}
		return
	}
	// Whole lines, in order; where lines are missing, a marker says how
	// many and how many bytes, exactly, and all the drops are counted.
	next, kept, keptBytes := 0, 0, 0
	var gap *logship.Drops // the last marker's, until the line after it
	checkGap := func(upTo int) {
		if gap == nil {
			if upTo != next {
				t.Fatalf("lines %d to %d are missing with no marker", next, upTo-1)
			}
			return
		}
		var bytes int64
		for i := next; i < upTo; i++ {
			bytes += int64(lineLen[i])
		}
		if gap.Lines != int64(upTo-next) || gap.Bytes != bytes {
			t.Fatalf("a marker says %+v dropped before line %d; %d lines (%d bytes) are missing", *gap, upTo, upTo-next, bytes)
		}
		gap = nil
	}
	for _, l := range strings.SplitAfter(string(all), "\n") {
		if l == "" {
			continue
		}
		var d logship.Drops
		if _, err := fmt.Sscanf(l, "dropped %d lines (%d bytes) from main (sink too slow)\n", &d.Lines, &d.Bytes); err == nil {
			gap = &d
			continue
		}
		var n int
		if _, err := fmt.Sscanf(l, "line %d ", &n); err != nil || n < next || n >= len(lineLen) || l != string(numberedLine(n, lineLen[n])) {
			t.Fatalf("after line %d the files hold %.60q: want a later line, whole", next-1, l)
		}
		checkGap(n)
		next, kept, keptBytes = n+1, kept+1, keptBytes+len(l)
	}
	checkGap(len(lineLen))
	if int64(kept)+st.BufferDropped.Lines != int64(len(lineLen)) || int64(keptBytes)+st.BufferDropped.Bytes != int64(len(in)) {
		t.Fatalf("%d lines (%d bytes) kept + %+v dropped != %d lines (%d bytes) written",
			kept, keptBytes, st.BufferDropped, len(lineLen), len(in))
	}
}

// TestHoldTakesOneBuffer: what is held never reaches the next boundary,
// so the buffer taken for it (64 KiB) is never grown.
func TestHoldTakesOneBuffer(t *testing.T) {
	dir := t.TempDir()
	s := newShipper(t, testLog(dir), nil, nil)
	w := s.files.writer(s.Program(Source{Program: "main"}))
	for i := range 40 {
		writeBatch(t, s, w, hundredByteLines(i*97, 41+i*13), func() {
			if cap(w.held) != alignSize || len(w.held) >= alignSize {
				t.Fatalf("held %d bytes in a buffer of %d", len(w.held), cap(w.held))
			}
		})
	}
	closeShipper(t, s)
}

// TestAMarkerNeverTakesAFilePastItsSize: the marker of earlier drops that
// a write starts with counts toward the rotation size, as its lines do.
func TestAMarkerNeverTakesAFilePastItsSize(t *testing.T) {
	for _, format := range []string{config.FormatRaw, config.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testLog(dir)
			cfg.Format = format
			cfg.FileSize = 10 << 10
			s := newShipper(t, cfg, nil, nil)
			w := s.files.writer(s.Program(Source{Program: "main"}))
			for i := 0; w.size < cfg.FileSize-200; i++ {
				writeBatch(t, s, w, numberedLine(i, 100), nil)
			}
			// Lines the queue refused, as its next item would carry them.
			w.dropped(7, 700, logship.LostBuffer)
			writeBatch(t, s, w, numberedLine(9999, 100), nil)
			closeShipper(t, s)
			files := logFiles(t, dir, "main")
			for _, f := range files {
				if n := int64(len(readLog(t, f))); n > cfg.FileSize {
					t.Errorf("%s holds %d bytes, past the file size %d", f, n, cfg.FileSize)
				}
			}
			if live := readLog(t, files[len(files)-1]); len(files) < 2 || !bytes.Contains(live, []byte("dropped 7 lines (700 bytes) from main")) {
				t.Errorf("%d files; the live one, after the rotation, does not start with the marker: %.120q", len(files), live)
			}
		})
	}
}
