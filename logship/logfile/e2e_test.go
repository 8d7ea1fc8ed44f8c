package logfile

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tend/logship"
	"tend/logship/internal/logtest"
)

// These tests drive the pipeline with real programs' pipes: the test
// binary itself runs as the program (see logtest.Main), so the bytes cross
// a real pipe from another process, as under tend.

// startHelper starts the test binary as a helper program whose stdout is
// captured by s.
func startHelper(t *testing.T, s shipper, helper string) (*exec.Cmd, *logship.Capture) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), logtest.HelperEnv+"="+helper)
	cmd.Stdout = w
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	c := s.CaptureSource(Source{Program: "main"}, Stdout, r)
	return cmd, c
}

// peakHeap samples the heap in use until stop is closed and returns the
// largest value seen.
func peakHeap(stop <-chan struct{}) uint64 {
	var peak uint64
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		select {
		case <-stop:
			return peak
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readNumbered checks that files hold numbered lines from `from` on, each
// once and in order, and returns the number after the last one and the
// lines that followed the numbered ones.
func readNumbered(t *testing.T, files []string, from int64) (next int64, rest []string) {
	t.Helper()
	var want []byte
	next = from
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReaderSize(fh, 1<<20)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				want = logtest.NumberedLine(want[:0], next)
				switch {
				case bytes.Equal(line, want):
					next++
				case len(rest) > 0 || len(line) != len(want):
					rest = append(rest, string(line))
				default:
					fh.Close()
					t.Fatalf("%s: line %q, want number %d", f, line[:13], next)
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		fh.Close()
	}
	return next, rest
}

func TestOneGiBOfNumberedLinesAllKeptInOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB")
	}
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 256 << 20
	cfg.FileCount = 8
	s := newShipper(t, cfg, io.Discard, io.Discard)
	const n = (1 << 30) / 120
	start := time.Now()
	stop := make(chan struct{})
	peak := make(chan uint64, 1)
	go func() { peak <- peakHeap(stop) }()
	cmd, c := startHelper(t, s, "lines:"+strconv.Itoa(n))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
	<-c.Done()
	closeShipper(t, s)
	close(stop)
	heap := <-peak
	// Memory during the flood is a benchmark figure (make bench), not an
	// assertion: the heap peak here depends on the collector's pacing and
	// on what else runs on the machine.
	t.Logf("1 GiB through the pipeline in %v, heap peak %d KiB", time.Since(start), heap>>10)
	next, rest := readNumbered(t, logFiles(t, dir, "main"), 0)
	if next != n || len(rest) != 0 {
		t.Fatalf("files hold lines 0 to %d and %d others, want 0 to %d", next-1, len(rest), n-1)
	}
	if st := s.Stats("main"); st.Lines != n || st.Bytes != n*120 || st.DiskDropped.Lines != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestFloodOnSmallDiskStaysUnderBudget(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 512 MiB")
	}
	mnt := logtest.MountTmpfs(t, "48m")
	cfg := testLog(filepath.Join(mnt, "logs"))
	cfg.DiskBudget = 24 << 20
	cfg.Compress = true
	s := newShipper(t, cfg, io.Discard, io.Discard)
	var worst atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan int, 1)
	go func() {
		samples := 0
		for {
			select {
			case <-stop:
				sampled <- samples
				return
			default:
			}
			worst.Store(max(worst.Load(), dirBytes(cfg.Dir)))
			samples++
			time.Sleep(time.Millisecond)
		}
	}()
	const n = (512 << 20) / 120
	cmd, c := startHelper(t, s, "lines:"+strconv.Itoa(n))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
	<-c.Done()
	closeShipper(t, s)
	close(stop)
	t.Logf("%d samples, largest %d bytes", <-sampled, worst.Load())
	if worst.Load() > cfg.DiskBudget {
		t.Fatalf("log directory reached %d bytes; budget %d", worst.Load(), cfg.DiskBudget)
	}
	st := s.Stats("main")
	if st.Lines != n || st.DiskDropped.Lines != 0 {
		t.Fatalf("stats %+v: the budget should delete old files, not drop new lines", st)
	}
	// The live file ends with the last line the program wrote.
	live := readLog(t, filepath.Join(cfg.Dir, "main.log"))
	if want := logtest.NumberedLine(nil, n-1); !bytes.HasSuffix(live, want) {
		t.Fatalf("live file ends with %q", live[max(0, len(live)-120):])
	}
	if st.FileBytes != dirBytes(cfg.Dir) {
		t.Fatalf("FileBytes %d, directory %d", st.FileBytes, dirBytes(cfg.Dir))
	}
}

func TestNearlyFullDiskKeepsMinFree(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 64 MiB")
	}
	mnt := logtest.MountTmpfs(t, "48m")
	if err := os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 40<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testLog(filepath.Join(mnt, "logs"))
	cfg.MinFree = 4 << 20
	s := newShipper(t, cfg, io.Discard, io.Discard)
	var least atomic.Int64
	least.Store(1 << 62)
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			least.Store(min(least.Load(), logtest.FreeBytes(t, mnt)))
			time.Sleep(time.Millisecond)
		}
	}()
	const n = (64 << 20) / 120
	cmd, c := startHelper(t, s, "lines:"+strconv.Itoa(n))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
	<-c.Done()
	closeShipper(t, s)
	close(stop)
	// Free space is counted in pages; allow one page per file.
	if least.Load() < cfg.MinFree-4096 {
		t.Fatalf("free space fell to %d; minimum %d", least.Load(), cfg.MinFree)
	}
	st := s.Stats("main")
	next, rest := readNumbered(t, logFiles(t, cfg.Dir, "main"), 0)
	if next+st.DiskDropped.Lines != n || st.DiskDropped.Bytes != st.DiskDropped.Lines*120 {
		t.Fatalf("kept %d + dropped %d lines != %d (then %d more lines, first %q)", next, st.DiskDropped.Lines, n, len(rest), rest[:min(3, len(rest))])
	}
	// The drops at the end are announced by the file's last line, when it
	// fits; nothing else follows the numbered lines.
	marker := fmt.Sprintf("dropped %d lines (%d bytes) from main (min free space)\n", st.DiskDropped.Lines, st.DiskDropped.Bytes)
	if len(rest) > 1 || (len(rest) == 1 && rest[0] != marker) {
		t.Fatalf("after the numbered lines: %q, want at most the marker %q", rest, marker)
	}
}

func TestSIGTERMDuringFloodLosesNoLine(t *testing.T) {
	if testing.Short() {
		t.Skip("floods")
	}
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileCount = 1000
	s := newShipper(t, cfg, io.Discard, io.Discard)
	cmd, c := startHelper(t, s, "flood")
	waitFor(t, func() bool { return s.Stats("main").Lines > 200000 })
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("program: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	<-c.Done()
	next, rest := readNumbered(t, logFiles(t, dir, "main"), 0)
	if len(rest) != 1 || rest[0] != "total "+strconv.FormatInt(next, 10)+"\n" {
		t.Fatalf("after line %d: %q", next-1, rest)
	}
	if st := s.Stats("main"); st.Lines != next+1 {
		t.Fatalf("read %d lines, files hold %d", st.Lines, next+1)
	}
}
