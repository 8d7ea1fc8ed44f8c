package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Helpers for the end-to-end tests of the log pipeline (logs_*_test.go):
// the line writer, tmpfs mounts, `tend status` counters, and a checker
// that reads numbered lines as a stream, so that a GiB of output is
// verified without holding it in memory.

// logsgenBuild is the one build of bench/logsgen for this test run: the
// same writer the log benchmarks use.
var logsgenBuild struct {
	once sync.Once
	path string
	err  error
}

// logsgenPath returns bench/logsgen built for this run.
func logsgenPath(t testing.TB) string {
	t.Helper()
	buildAll(t)
	logsgenBuild.once.Do(func() {
		logsgenBuild.path = filepath.Join(workDir, "logsgen")
		logsgenBuild.err = goBuild("-o", logsgenBuild.path, "./bench/logsgen")
	})
	if logsgenBuild.err != nil {
		t.Fatalf("build: %v", logsgenBuild.err)
	}
	return logsgenBuild.path
}

// genLineSize is the size of logsgen's lines unless told otherwise.
const genLineSize = 120

// genLine appends logsgen's line n (tag, 12 digits, a space, 'x' up to
// size-1 bytes, newline) to dst.
func genLine(dst []byte, tag string, size int, n int64) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, "%s%012d ", tag, n)
	for len(dst)-start < size-1 {
		dst = append(dst, 'x')
	}
	return append(dst, '\n')
}

// lineChecker checks a stream of logsgen's numbered lines: line next, then
// next+1, ..., each once, in order. A line that is not the next numbered
// line goes to other (when set), which may skip numbers (a marker
// announcing dropped lines) or reject it.
type lineChecker struct {
	tag  string
	size int
	next int64
	// other is called with a line (newline included) that is not the next
	// numbered line; nil makes such a line an error.
	other func(c *lineChecker, line []byte) error

	want  []byte // line next
	lines int64  // numbered lines seen
}

func newLineChecker(tag string, size int, from int64) *lineChecker {
	c := &lineChecker{tag: tag, size: size}
	c.skipTo(from)
	return c
}

// skipTo makes n the next number expected.
func (c *lineChecker) skipTo(n int64) {
	c.next = n
	c.want = genLine(c.want[:0], c.tag, c.size, n)
}

// advance moves to the next number: only its digits change.
func (c *lineChecker) advance() {
	c.next++
	d := c.want[len(c.tag) : len(c.tag)+12]
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return
		}
		d[i] = '0'
	}
}

// check reads r to EOF.
func (c *lineChecker) check(r io.Reader) error {
	br := bufio.NewReaderSize(r, 1<<20)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return fmt.Errorf("after line %d: a line longer than 1 MiB", c.next-1)
		}
		if len(line) > 0 {
			if lerr := c.line(line); lerr != nil {
				return lerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// line checks one line, newline included.
func (c *lineChecker) line(line []byte) error {
	switch {
	case bytes.Equal(line, c.want):
		c.advance()
		c.lines++
	case c.other == nil:
		return fmt.Errorf("after %d lines: got %q, want line %d", c.lines, short(line), c.next)
	default:
		if err := c.other(c, line); err != nil {
			return fmt.Errorf("after %d lines, at line %d: %w", c.lines, c.next, err)
		}
	}
	return nil
}

// short cuts a line for an error message.
func short(b []byte) []byte {
	if len(b) > 80 {
		return append(append([]byte{}, b[:80]...), "..."...)
	}
	return b
}

// lineNumber returns the number of a logsgen line with tag, or -1.
func lineNumber(line []byte, tag string) int64 {
	rest, ok := bytes.CutPrefix(line, []byte(tag))
	if !ok || len(rest) < 13 || rest[12] != ' ' {
		return -1
	}
	n, err := strconv.ParseInt(string(rest[:12]), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// logFiles returns a program's log files in dir, oldest first: the
// rotated ones from the highest number down, then the live file.
func logFiles(t testing.TB, dir, program string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type rotated struct {
		n    int
		path string
	}
	var old []rotated
	live := ""
	for _, e := range ents {
		name := e.Name()
		if name == program+".log" {
			live = filepath.Join(dir, name)
			continue
		}
		if num, ok := strings.CutPrefix(name, program+".log."); ok {
			n, err := strconv.Atoi(num)
			if err != nil {
				t.Fatalf("unexpected file %s in the log directory", name)
			}
			old = append(old, rotated{n, filepath.Join(dir, name)})
		}
	}
	slices.SortFunc(old, func(a, b rotated) int { return b.n - a.n })
	var out []string
	for _, r := range old {
		out = append(out, r.path)
	}
	if live != "" {
		out = append(out, live)
	}
	return out
}

// openConcat opens files as one stream, in order.
func openConcat(t testing.TB, files []string) io.Reader {
	t.Helper()
	var rs []io.Reader
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { fh.Close() })
		rs = append(rs, fh)
	}
	return io.MultiReader(rs...)
}

// filesSize returns the sum of the files' sizes.
func filesSize(t testing.TB, files []string) int64 {
	t.Helper()
	var n int64
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += st.Size()
	}
	return n
}

// mountTmpfs mounts a tmpfs of size (such as "48m") on a new directory and
// unmounts it when the test ends. Needs root: call requireRoot.
func mountTmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("cannot mount a tmpfs: %v: %s", err, out))
	}
	// Registered after TempDir's cleanup, so it runs before it.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fsSpace returns the bytes used on the filesystem of dir (what du counts:
// whole pages on a tmpfs) and the bytes available to writers.
func fsSpace(t testing.TB, dir string) (used, avail int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Errorf("statfs %s: %v", dir, err)
		return 0, 0
	}
	return int64(st.Blocks-st.Bfree) * st.Frsize, int64(st.Bavail) * st.Frsize
}

// logCounters are a program's log counters in `tend status --json`.
type logCounters struct {
	Lines         int64      `json:"lines"`
	Bytes         int64      `json:"bytes"`
	RateDropped   dropCounts `json:"rate_dropped"`
	DiskDropped   dropCounts `json:"disk_dropped"`
	BufferDropped dropCounts `json:"buffer_dropped"`
	FileBytes     int64      `json:"file_bytes"`
}

type dropCounts struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// logStatus is one program in `tend status --json`, with its log counters.
type logStatus struct {
	Name     string       `json:"name"`
	State    string       `json:"state"`
	Pid      int          `json:"pid"`
	Restarts int          `json:"restarts"`
	Logs     *logCounters `json:"logs"`
}

// programLogs runs `tend status --json` and returns the program called
// name; the test fails when it has no log counters. It waits for the
// control socket first.
func programLogs(t testing.TB, p *tendProcess, name string) logStatus {
	t.Helper()
	// The socket appears shortly after tend starts.
	waitFor(t, 10*time.Second, "tend's control socket", func() bool {
		_, err := os.Stat(p.socket())
		return err == nil || p.Exited()
	})
	out := mustCtl(t, p, "status", "--json")
	var st struct {
		Programs []logStatus `json:"programs"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("tend status --json: %v\n%s", err, out)
	}
	for _, prog := range st.Programs {
		if prog.Name == name {
			if prog.Logs == nil {
				t.Fatalf("tend status --json: program %s has no \"logs\"\n%s", name, out)
			}
			return prog
		}
	}
	t.Fatalf("tend status --json: no program %s\n%s", name, out)
	return logStatus{}
}

// markerRE matches the line a file gets when writing resumes after drops.
var markerRE = regexp.MustCompile(`^dropped (\d+) lines \((\d+) bytes\) from (\S+) \(([a-z ,]+)\)\n$`)

// suppressedRE matches the console's rate-limit marker.
var suppressedRE = regexp.MustCompile(`^suppressed (\d+) lines \((\d+) bytes\) from (\S+)\n$`)

// parseCounts returns the two numbers a marker's match holds.
func parseCounts(m [][]byte) (lines, bytes int64) {
	lines, _ = strconv.ParseInt(string(m[1]), 10, 64)
	bytes, _ = strconv.ParseInt(string(m[2]), 10, 64)
	return lines, bytes
}

// devNull opens /dev/null for writing, as tend's stdout.
func devNull(t testing.TB) *os.File {
	t.Helper()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// requireSpace skips (or in CI fails) a test when dir's filesystem has
// less than n bytes available.
func requireSpace(t testing.TB, dir string, n int64) {
	t.Helper()
	if _, avail := fsSpace(t, dir); avail < n {
		skipOrFail(t, fmt.Sprintf("this test needs %d MiB free for the logs, %d MiB available", n>>20, avail>>20))
	}
}
