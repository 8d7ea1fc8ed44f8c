// Package logtest holds what the tests of the log pipeline and its sinks
// share: test input, a pipe fed into a pipeline, a console writer tests
// can read, tmpfs mounts for full disks, and a helper program mode of the
// test binary.
package logtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"tend/config"
	"tend/logship"
)

// HelperEnv names the helper a test binary runs as (see Main).
const HelperEnv = "LOGSHIP_HELPER"

// Main lets the test binary act as a program whose output is captured:
// with LOGSHIP_HELPER set it runs that helper and exits; otherwise it runs
// the tests. Call it from TestMain.
func Main(m *testing.M) {
	if h := os.Getenv(HelperEnv); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

// NumberedLine appends line n of the helpers' output: 120 bytes, newline
// included, the number first.
func NumberedLine(dst []byte, n int64) []byte {
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
	case strings.HasPrefix(h, "lines:"):
		n, _ := strconv.ParseInt(h[6:], 10, 64)
		for i := int64(0); i < n; i++ {
			buf = NumberedLine(buf[:0], i)
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
			buf = NumberedLine(buf[:0], i)
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

// Lines returns n numbered lines of varied length, from number from on.
func Lines(from, n int) []byte {
	var b bytes.Buffer
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, "%06d %s\n", i, strings.Repeat("r", i%97))
	}
	return b.Bytes()
}

// SyncBuffer is a console writer tests can read while the sink writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// Bytes returns a copy of what was written.
func (s *SyncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

// Log returns the log settings of the tests: raw, blocking, files in dir
// (none when empty) of 50 MiB, 5 kept, 16 KiB lines, 1 MiB queues.
func Log(dir string) config.Log {
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

// Pipe returns a new pipe whose write end is closed when the test ends.
func Pipe(t testing.TB) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return r, w
}

// Feed writes data into a new pipe captured as src/stream, closes the
// write end and waits until the capture is done.
func Feed(t testing.TB, pl *logship.Pipeline, src logship.Source, stream logship.Stream, data []byte) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := pl.CaptureSource(src, stream, r)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	<-c.Done()
}

// FeedPieces is Feed with data written in writes of at most piece bytes,
// which split lines as a program's output buffer does.
func FeedPieces(t testing.TB, pl *logship.Pipeline, src logship.Source, stream logship.Stream, data []byte, piece int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	c := pl.CaptureSource(src, stream, r)
	for rest := data; len(rest) > 0; {
		n := min(len(rest), piece)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	w.Close()
	<-c.Done()
}

// EscapedLines returns n numbered lines, each holding something a JSON
// string escapes or replaces (quotes, a tab, CR, NUL, a backslash, a cut
// UTF-8 sequence; one line in eight is empty but for its number), and the
// message each becomes in JSON: one U+FFFD per byte that is not valid
// UTF-8.
func EscapedLines(n int) (data []byte, messages []string) {
	specials := []string{"", "\"quoted\"", "tab\there", "cr\r", "nul\x00", "bad \xe2\x82", "euro \xe2\x82\xac", "back\\slash"}
	for i := range n {
		line := fmt.Sprintf("%06d %s %s", i, specials[i%len(specials)], strings.Repeat("x", i%150))
		data = append(data, line...)
		data = append(data, '\n')
		messages = append(messages, strings.ReplaceAll(line, "\xe2\x82 ", "\ufffd\ufffd "))
	}
	return data, messages
}

// JSONRecords parses output of the json format, one record per line, and
// fails the test on a line that is not one.
func JSONRecords(t testing.TB, out []byte) []JSONRecord {
	t.Helper()
	var recs []JSONRecord
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var r JSONRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading json output: %v", err)
	}
	return recs
}

// SameMessages fails the test unless got holds the messages of want, in
// order, and no more.
func SameMessages(t testing.TB, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// Close closes pl within 30 s and fails the test on an error.
func Close(t testing.TB, pl *logship.Pipeline) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pl.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
}

// WaitFor waits until cond holds, failing the test after 20 s.
func WaitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// MountTmpfs mounts a tmpfs of the given size on a new directory. It needs
// root: without it the test is skipped, unless CI=true, where it fails.
func MountTmpfs(t testing.TB, size string) string {
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

// FreeBytes returns the space available to unprivileged writers on dir's
// filesystem (blocks count in units of the fragment size).
func FreeBytes(t testing.TB, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * st.Frsize
}

// JSONRecord is a record of the json format, parsed back.
type JSONRecord struct {
	Time    string `json:"time"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
	Partial bool   `json:"partial"`
	Tend    bool   `json:"tend"`
}
