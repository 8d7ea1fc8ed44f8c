package logship

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"tend/config"
)

// TestMain lets the test binary act as a program whose output is
// captured: with LOGSHIP_HELPER set it runs a helper and exits.
func TestMain(m *testing.M) {
	if h := os.Getenv("LOGSHIP_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

// numberedLine is line n of the helpers' output: 120 bytes, newline
// included, the number first.
func numberedLine(dst []byte, n int64) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, "%012d ", n)
	for len(dst)-start < 119 {
		dst = append(dst, 'x')
	}
	return append(dst, '\n')
}

// runHelper runs one helper program:
//
//	lines:N   writes N numbered lines and exits 0
//	flood     writes numbered lines until SIGTERM, then 10,000 more, then
//	          a line "total N", and exits 0
func runHelper(h string) int {
	w := bufio.NewWriterSize(os.Stdout, 64<<10)
	var buf []byte
	switch {
	case len(h) > 6 && h[:6] == "lines:":
		n, _ := strconv.ParseInt(h[6:], 10, 64)
		for i := int64(0); i < n; i++ {
			buf = numberedLine(buf[:0], i)
			w.Write(buf)
		}
	case h == "flood":
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		var i int64
		for stop := int64(-1); stop < 0 || i < stop; i++ {
			if stop < 0 && i%1024 == 0 {
				select {
				case <-term:
					stop = i + 10000
				default:
				}
			}
			buf = numberedLine(buf[:0], i)
			w.Write(buf)
		}
		fmt.Fprintf(w, "total %d\n", i)
	default:
		return 3
	}
	if err := w.Flush(); err != nil {
		return 1
	}
	return 0
}

// syncBuffer is a console writer tests can read while the shipper writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func testLog(dir string) config.Log {
	return config.Log{
		Format:    config.FormatRaw,
		Dir:       dir,
		FileSize:  50 << 20,
		FileCount: 5,
		MaxLine:   16 << 10,
		Mode:      config.ModeBlocking,
		Buffer:    1 << 20,
	}
}

func newShipper(t testing.TB, cfg config.Log, stdout, stderr io.Writer) *Shipper {
	t.Helper()
	s, err := New(cfg, Options{Stdout: stdout, Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// feed writes data into a new pipe captured as src/stream, closes the
// write end and waits until the capture is done.
func feed(t testing.TB, s *Shipper, src Source, stream Stream, data []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := s.Capture(src, stream, r)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-c.Done()
}

func closeShipper(t testing.TB, s *Shipper) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new directory. It needs
// root: without it the test is skipped, unless CI=true, where it fails.
func mountTmpfs(t testing.TB, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test mounts a tmpfs and needs root; CI must run it as root")
		}
		t.Skip("this test mounts a tmpfs and needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// logFiles returns a program's files oldest first: .N ... .1, then live.
func logFiles(t testing.TB, dir, program string) []string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, program+".log.*"))
	num := func(p string) int {
		s := p[len(filepath.Join(dir, program+".log."))-0:]
		s = s[:len(s)-len(filepath.Ext(s))*boolInt(filepath.Ext(s) == ".gz")]
		n, _ := strconv.Atoi(s)
		return n
	}
	sort.Slice(matches, func(i, j int) bool { return num(matches[i]) > num(matches[j]) })
	live := filepath.Join(dir, program+".log")
	if _, err := os.Stat(live); err == nil {
		matches = append(matches, live)
	}
	return matches
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
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

func osPipe(t testing.TB) (*os.File, *os.File, error) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return r, w, nil
}

type syscallStatfs = syscall.Statfs_t

// freeBytes returns the space available on dir's filesystem.
func freeBytes(t testing.TB, dir string, st *syscall.Statfs_t) int64 {
	t.Helper()
	if err := syscall.Statfs(dir, st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
