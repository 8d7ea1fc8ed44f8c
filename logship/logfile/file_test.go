package logfile

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"tend/logship/console"

	"tend/budget"
	"tend/config"
	"tend/logship"
	"tend/logship/internal/logtest"
)

func TestMain(m *testing.M) { logtest.Main(m) }

// Short names for the tests.
var (
	testLog = logtest.Log
	lines   = logtest.Lines
	feed    = logtest.Feed
	osPipe  = logtest.Pipe
	waitFor = logtest.WaitFor
)

const Stdout = logship.Stdout

type Source = logship.Source

// shipper is a pipeline whose sinks are a file sink and, when asked, a
// console, with the budget they share.
type shipper struct {
	*logship.Pipeline
	files  *Sink
	budget *budget.Budget
}

// Budget returns the disk budget of the files.
func (s shipper) Budget() *budget.Budget { return s.budget }

// newShipper returns a pipeline writing files under cfg.Dir within the
// budget cfg says, and to a console on stdout and stderr when either is
// set.
func newShipper(t testing.TB, cfg config.Log, stdout, stderr io.Writer) shipper {
	t.Helper()
	b := budget.New(budget.Options{Limit: cfg.DiskBudget, MinFree: cfg.MinFree})
	files, err := New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	sinks := []logship.Sink{files}
	if stdout != nil || stderr != nil {
		c, err := console.New(cfg, stdout, stderr, nil)
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, c)
	}
	pl, err := logship.New(cfg, logship.Options{Budget: b}, sinks...)
	if err != nil {
		t.Fatal(err)
	}
	return shipper{Pipeline: pl, files: files, budget: b}
}

func closeShipper(t testing.TB, s shipper) {
	t.Helper()
	logtest.Close(t, s.Pipeline)
}

// logFiles returns a program's files oldest first: .N ... .1, then live.
func logFiles(t testing.TB, dir, program string) []string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, program+".log.*"))
	num := func(p string) int {
		s := strings.TrimPrefix(p, filepath.Join(dir, program+".log."))
		n, _ := strconv.Atoi(strings.TrimSuffix(s, ".gz"))
		return n
	}
	sort.Slice(matches, func(i, j int) bool { return num(matches[i]) > num(matches[j]) })
	live := filepath.Join(dir, program+".log")
	if _, err := os.Stat(live); err == nil {
		matches = append(matches, live)
	}
	return matches
}

// dirBytes sums the sizes of the regular files in dir.
func dirBytes(dir string) int64 {
	entries, _ := os.ReadDir(dir)
	var n int64
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
	}
	return n
}

func readLog(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return data
}

func TestRotationAtLineBoundariesKeepsFileCount(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 10 << 10
	cfg.FileCount = 4
	s := newShipper(t, cfg, nil, nil)
	in := lines(0, 3000) // about 170 KiB: many rotations
	feed(t, s.Pipeline, Source{Program: "main"}, Stdout, in)
	closeShipper(t, s)

	files := logFiles(t, dir, "main")
	if len(files) != 4 {
		t.Fatalf("files %v, want 4 (FileCount)", files)
	}
	var all []byte
	for _, f := range files {
		data := readLog(t, f)
		if len(data) > 10<<10 {
			t.Fatalf("%s is %d bytes, over FileSize", f, len(data))
		}
		if f != filepath.Join(dir, "main.log") && (len(data) == 0 || data[len(data)-1] != '\n') {
			t.Fatalf("%s does not end at a line boundary", f)
		}
		all = append(all, data...)
	}
	if !bytes.HasSuffix(in, all) || !bytes.HasPrefix(all, []byte("0")) {
		t.Fatalf("files are not the newest lines of the input, in order")
	}
	if st := s.Stats("main"); st.FileBytes != int64(len(all)) {
		t.Fatalf("FileBytes %d, files hold %d", st.FileBytes, len(all))
	}
}

func TestRotatedFilesAreGzipped(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 16 << 10
	cfg.FileCount = 3
	cfg.Compress = true
	cfg.Format = config.FormatJSON
	s := newShipper(t, cfg, nil, nil)
	in := lines(0, 600)
	feed(t, s.Pipeline, Source{Program: "main"}, Stdout, in)
	closeShipper(t, s)

	files := logFiles(t, dir, "main")
	if len(files) != 3 || !strings.HasSuffix(files[0], ".log.2.gz") || !strings.HasSuffix(files[1], ".log.1.gz") {
		t.Fatalf("files %v, want main.log.2.gz, main.log.1.gz, main.log", files)
	}
	var all []byte
	for _, f := range files {
		all = append(all, readLog(t, f)...)
	}
	if !bytes.HasSuffix(all, []byte(`"message":"000599 `+strings.Repeat("r", 599%97)+`"}`+"\n")) {
		t.Fatalf("last record missing: %q", all[max(0, len(all)-200):])
	}
	var used int64
	for _, f := range files {
		st, _ := os.Stat(f)
		used += st.Size()
	}
	// The plain files the .gz files replaced count until their space is
	// freed, which a goroutine of the budget does after Close.
	waitFor(t, func() bool { return s.Budget().Used() == used })
}

// JSON files take runs of lines from the capture and split them as they
// escape them: every line, written in pieces that split lines, is one
// record, in order, across rotations, whatever it holds.
func TestJSONFilesMakeARecordOfEveryLineOfARun(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.Format = config.FormatJSON
	cfg.FileSize = 256 << 10
	cfg.FileCount = 50
	s := newShipper(t, cfg, nil, nil)
	data, want := logtest.EscapedLines(20000)
	logtest.FeedPieces(t, s.Pipeline, Source{Program: "main"}, Stdout, data, 4<<10) // C stdio's 4 KiB writes
	closeShipper(t, s)
	files := logFiles(t, dir, "main")
	if len(files) < 5 {
		t.Fatalf("%d files, want the rotations of about 3 MB of records at 256 KiB", len(files))
	}
	var got []string
	for _, f := range files {
		for _, r := range logtest.JSONRecords(t, readLog(t, f)) {
			got = append(got, r.Message)
		}
	}
	logtest.SameMessages(t, got, want)
	if st := s.Stats("main"); st.Lines != int64(len(want)) {
		t.Errorf("%d lines counted, want %d", st.Lines, len(want))
	}
}

func TestRestartAdoptsRotatedFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 4 << 10
	cfg.FileCount = 3
	for run := 0; run < 2; run++ {
		s := newShipper(t, cfg, nil, nil)
		feed(t, s.Pipeline, Source{Program: "main"}, Stdout, lines(run*1000, 200))
		closeShipper(t, s)
	}
	if files := logFiles(t, dir, "main"); len(files) != 3 {
		t.Fatalf("files after a restart %v, want 3", files)
	}
}

func TestBudgetDeletesOldestRotatedFilesAcrossPrograms(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 8 << 10
	cfg.FileCount = 10
	cfg.DiskBudget = 64 << 10
	s := newShipper(t, cfg, nil, nil)
	// "old" fills most of the budget with rotated files first.
	feed(t, s.Pipeline, Source{Program: "old"}, Stdout, lines(0, 900))
	waitWritten(t, s, "old")
	oldBefore := logFiles(t, dir, "old")
	// "new" then writes as much again: old's oldest files must go first.
	stop := make(chan struct{})
	over := make(chan int64, 1)
	go func() {
		var worst int64
		for {
			select {
			case <-stop:
				over <- worst
				return
			default:
			}
			worst = max(worst, dirBytes(dir))
		}
	}()
	feed(t, s.Pipeline, Source{Program: "new"}, Stdout, lines(0, 900))
	closeShipper(t, s)
	close(stop)
	if worst := <-over; worst > cfg.DiskBudget {
		t.Fatalf("directory reached %d bytes, budget %d", worst, cfg.DiskBudget)
	}
	if used := dirBytes(dir); used > cfg.DiskBudget || s.Budget().Used() != used {
		t.Fatalf("directory %d bytes, budget counts %d, limit %d", used, s.Budget().Used(), cfg.DiskBudget)
	}
	oldAfter := logFiles(t, dir, "old")
	if len(oldAfter) >= len(oldBefore) {
		t.Fatalf("old kept %d of %d files; its oldest should have gone", len(oldAfter), len(oldBefore))
	}
	// What old kept are its newest files: its live file is still there.
	if _, err := os.Stat(filepath.Join(dir, "old.log")); err != nil {
		t.Fatal("old's live file was deleted")
	}
	st := map[string]logship.ProgramStats{"old": s.Stats("old"), "new": s.Stats("new")}
	if st["new"].DiskDropped.Lines != 0 {
		t.Fatalf("new dropped %d lines although old rotated files could go", st["new"].DiskDropped.Lines)
	}
	if st["old"].FileBytes+st["new"].FileBytes != dirBytes(dir) {
		t.Fatalf("FileBytes %d + %d != %d on disk", st["old"].FileBytes, st["new"].FileBytes, dirBytes(dir))
	}
}

func TestMinFreeDropsThenMarksExactly(t *testing.T) {
	dir := logtest.MountTmpfs(t, "8m")
	filler := filepath.Join(dir, "filler")
	// Leave about 1.5 MiB free with a 1 MiB minimum.
	if err := os.WriteFile(filler, make([]byte, 6<<20+512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testLog(filepath.Join(dir, "logs"))
	cfg.MinFree = 1 << 20
	s := newShipper(t, cfg, nil, nil)
	r, w := osPipe(t)
	c := s.CaptureSource(Source{Program: "main"}, Stdout, r)
	first := lines(0, 20000) // about 1.9 MiB: only part fits above MinFree
	if _, err := w.Write(first); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return s.Stats("main").Lines == 20000 })
	waitWritten(t, s, "main")
	if free := logtest.FreeBytes(t, dir); free < cfg.MinFree {
		t.Fatalf("free space %d under the minimum %d", free, cfg.MinFree)
	}
	os.Remove(filler)
	time.Sleep(200 * time.Millisecond) // two free-space measures
	w.Write([]byte("after the cleanup\n"))
	w.Close()
	<-c.Done()
	closeShipper(t, s)

	dropped := s.Stats("main").DiskDropped
	data := readLog(t, filepath.Join(cfg.Dir, "main.log"))
	marker := fmt.Sprintf("dropped %d lines (%d bytes) from main (min free space)\nafter the cleanup\n", dropped.Lines, dropped.Bytes)
	if !bytes.HasSuffix(data, []byte(marker)) {
		t.Fatalf("file does not end with the marker %q: %q", marker, data[max(0, len(data)-200):])
	}
	kept := data[:len(data)-len(marker)]
	if !bytes.HasPrefix(first, kept) || int64(len(kept))+dropped.Bytes != int64(len(first)) {
		t.Fatalf("kept %d + dropped %d bytes != written %d", len(kept), dropped.Bytes, len(first))
	}
	if n := int64(bytes.Count(kept, []byte("\n"))); n+dropped.Lines != 20000 {
		t.Fatalf("kept %d + dropped %d lines != 20000", n, dropped.Lines)
	}
}

func TestDiskFullDropsWithoutSpinningAndResumes(t *testing.T) {
	dir := logtest.MountTmpfs(t, "4m")
	cfg := testLog(filepath.Join(dir, "logs"))
	s := newShipper(t, cfg, nil, nil)
	filler := filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	in := lines(0, 30000) // about 2.8 MiB: the disk fills
	start := time.Now()
	feed(t, s.Pipeline, Source{Program: "main"}, Stdout, in)
	waitWritten(t, s, "main")
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("a full disk took %v", el)
	}
	dropped := s.Stats("main").DiskDropped
	if dropped.Lines == 0 {
		t.Fatal("nothing dropped on a full disk")
	}
	os.Remove(filler)
	time.Sleep(200 * time.Millisecond) // two free-space measures
	feed(t, s.Pipeline, Source{Program: "main"}, Stdout, []byte("room again\n"))
	closeShipper(t, s)
	data := readLog(t, filepath.Join(cfg.Dir, "main.log"))
	marker := fmt.Sprintf("dropped %d lines (%d bytes) from main (disk full)\nroom again\n", dropped.Lines, dropped.Bytes)
	if !bytes.HasSuffix(data, []byte(marker)) {
		t.Fatalf("file does not end with %q: %q", marker, data[max(0, len(data)-200):])
	}
	kept := data[:len(data)-len(marker)]
	if !bytes.HasPrefix(in, kept) {
		t.Fatal("kept bytes are not the first lines, whole")
	}
}

// waitWritten waits until the program's writer handled every byte read.
func waitWritten(t *testing.T, s shipper, program string) {
	t.Helper()
	p := s.Program(logship.Source{Program: program})
	s.files.mu.Lock()
	w := s.files.writers[p]
	s.files.mu.Unlock()
	waitFor(t, func() bool { return w.handled.Load() == s.Stats(program).Bytes })
}

func TestWriteErrorENOSPCIsDroppedAndCounted(t *testing.T) {
	dir := t.TempDir()
	// Every write to /dev/full fails with ENOSPC.
	if err := os.Symlink("/dev/full", filepath.Join(dir, "main.log")); err != nil {
		t.Fatal(err)
	}
	s := newShipper(t, testLog(dir), nil, nil)
	in := lines(0, 5000)
	start := time.Now()
	for i := 0; i < 10; i++ {
		feed(t, s.Pipeline, Source{Program: "main"}, Stdout, in)
	}
	waitWritten(t, s, "main")
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("writing to a full disk took %v", el)
	}
	closeShipper(t, s)
	st := s.Stats("main")
	if st.DiskDropped != (logship.Drops{Lines: 50000, Bytes: 10 * int64(len(in))}) {
		t.Fatalf("dropped %+v, want every line", st.DiskDropped)
	}
	if st.FileBytes != 0 {
		t.Fatalf("FileBytes %d after failed writes", st.FileBytes)
	}
}

// TestDropsAtTheEndLeaveAMarker: lines dropped with no later write to
// carry the marker are still announced in the file when tend stops.
func TestDropsAtTheEndLeaveAMarker(t *testing.T) {
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.DiskBudget = 4 << 10
	s := newShipper(t, cfg, io.Discard, io.Discard)
	line := bytes.Repeat([]byte("x"), 8<<10)
	feed(t, s.Pipeline, Source{Program: "main"}, Stdout, append(line, '\n'))
	closeShipper(t, s)
	b, err := os.ReadFile(filepath.Join(dir, "main.log"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "dropped 1 lines (8193 bytes) from main (disk budget)\n"; string(b) != want {
		t.Errorf("main.log = %q, want %q", b, want)
	}
}

// TestLowSpaceKeepsTheLinesOfAWriteThatFit: when one write of the program
// holds more lines than the free space above the minimum has room for,
// the lines that fit are kept, in order, and only the rest is dropped and
// counted: the file fills up to the minimum, not a read's worth short of
// it.
func TestLowSpaceKeepsTheLinesOfAWriteThatFit(t *testing.T) {
	for _, format := range []string{config.FormatRaw, config.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			mnt := logtest.MountTmpfs(t, "256k")
			cfg := testLog(filepath.Join(mnt, "logs"))
			cfg.Format = format
			const n, lineLen, room = 400, 100, 15000
			cfg.MinFree = logtest.FreeBytes(t, mnt) - room
			s := newShipper(t, cfg, nil, nil)
			var data []byte
			for i := range n {
				data = append(data, numberedLine(i, lineLen)...)
			}
			feed(t, s.Pipeline, Source{Program: "main"}, Stdout, data) // one write of 40,000 bytes
			closeShipper(t, s)
			b, err := os.ReadFile(filepath.Join(cfg.Dir, "main.log"))
			if err != nil {
				t.Fatal(err)
			}
			got := strings.SplitAfter(string(b), "\n")
			got = got[:len(got)-1] // after the last newline
			d := s.Stats("main").DiskDropped
			if len(got) > 0 && strings.Contains(got[len(got)-1], "dropped ") {
				// The marker of the drops, written at the end when it fits.
				marker := fmt.Sprintf("dropped %d lines (%d bytes) from main (min free space)", d.Lines, d.Bytes)
				if !strings.Contains(got[len(got)-1], marker) {
					t.Errorf("last line of main.log = %q, want the marker %q", got[len(got)-1], marker)
				}
				got = got[:len(got)-1]
			}
			kept := 0
			for i, l := range got {
				if want := fmt.Sprintf("line %04d ", i); !strings.Contains(l, want) {
					t.Fatalf("line %d of main.log = %.40q, want %q", i, l, want)
				}
				kept += len(l)
			}
			if len(got) == 0 || room-kept < 0 || room-kept >= len(got[0]) {
				t.Errorf("main.log keeps %d lines, %d bytes, where %d bytes were free above the minimum",
					len(got), kept, room)
			}
			if d.Lines != int64(n-len(got)) || d.Bytes != d.Lines*lineLen {
				t.Errorf("dropped %+v, want %d lines of %d bytes", d, n-len(got), lineLen)
			}
		})
	}
}

// numberedLine returns line i, "line NNNN x...x\n", n bytes long.
func numberedLine(i, n int) []byte {
	l := fmt.Appendf(nil, "line %04d ", i)
	l = append(l, strings.Repeat("x", n-len(l)-1)...)
	return append(l, '\n')
}
