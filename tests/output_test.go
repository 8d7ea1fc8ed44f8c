package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// payload returns n bytes of mixed output: text lines, every byte value
// (NUL, CR, invalid UTF-8, escape sequences), long lines, and a last line
// without a newline.
func payload(seed uint64, n int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "line %d: the quick brown fox\n", i)
		case 1:
			for v := 0; v < 256; v++ {
				b.WriteByte(byte(v))
			}
			b.WriteByte('\n')
		case 2:
			long := make([]byte, rng.IntN(70000))
			for j := range long {
				long[j] = byte('a' + rng.IntN(26))
			}
			b.Write(long)
			b.WriteByte('\n')
		case 3:
			raw := make([]byte, rng.IntN(4096))
			for j := range raw {
				raw[j] = byte(rng.Uint32())
			}
			b.Write(raw)
		}
	}
	b.Truncate(n)
	b.WriteString("last line without newline \xff\x00\xfe")
	return b.Bytes()
}

// writePayloads writes the main program's stdout and stderr to files and
// returns them and a command that prints them.
func writePayloads(t *testing.T) (out, errOut []byte, cmd []string) {
	t.Helper()
	dir := t.TempDir()
	out, errOut = payload(1, 1<<20), payload(2, 256<<10)
	if err := os.WriteFile(filepath.Join(dir, "out"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "err"), errOut, 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("cat %s/out; cat %s/err >&2", dir, dir)
	return out, errOut, []string{"--", "sh", "-c", script}
}

// TestOutputPassesThroughByteExact: what the main program writes to
// stdout and stderr comes out of tend unchanged, binary bytes, long lines
// and an unterminated last line included, all of it before tend exits.
func TestOutputPassesThroughByteExact(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		out, errOut, cmd := writePayloads(t)
		code, stdout, stderr := runTend(t, tendOptions{PID1: pid1, Args: cmd}, 30*time.Second)
		if code != 0 {
			t.Fatalf("tend exited with %d\nstderr tail:\n%q", code, tail(stderr))
		}
		assertSameBytes(t, "stdout", []byte(stdout), out)
		assertSameBytes(t, "stderr", []byte(stderr), errOut)
	})
}

// TestEventsNeverOnStdout: with every event of tend's printed (debug, in
// text and JSON), stdout is still exactly the program's, and the events
// are on stderr.
func TestEventsNeverOnStdout(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			bothModes(t, func(t *testing.T, pid1 bool) {
				out, _, cmd := writePayloads(t)
				code, stdout, stderr := runTend(t, tendOptions{
					PID1: pid1,
					Env:  []string{"TEND_EVENT_LEVEL=debug", "TEND_EVENT_FORMAT=" + format},
					Args: cmd,
				}, 30*time.Second)
				if code != 0 {
					t.Fatalf("tend exited with %d\nstderr tail:\n%q", code, tail(stderr))
				}
				assertSameBytes(t, "stdout", []byte(stdout), out)
				// The events did go somewhere: stderr has the exit event
				// as its last line, after the program's output.
				lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
				last := lines[len(lines)-1]
				if format == "json" {
					var ev map[string]any
					if err := json.Unmarshal([]byte(last), &ev); err != nil {
						t.Errorf("last stderr line is not a JSON event: %q (%v)", last, err)
					}
				}
				if !strings.Contains(last, "tend") {
					t.Errorf("last stderr line is not one of tend's events: %q", last)
				}
			})
		})
	}
}

// TestQuietByDefault: at the default event level a run that goes well
// prints nothing of tend's own.
func TestQuietByDefault(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runTend(t, tendOptions{Args: []string{"--", "sh", "-c", "echo out; echo err >&2"}}, 10*time.Second)
	if code != 0 || stdout != "out\n" || stderr != "err\n" {
		t.Errorf("got code %d, stdout %q, stderr %q; want 0, %q, %q", code, stdout, stderr, "out\n", "err\n")
	}
}

// assertSameBytes compares output with what was written, and on a
// mismatch says where they first differ.
func assertSameBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s differs from the program's output: got %d bytes, want %d; first difference at byte %d:\n got  %q\n want %q",
		what, len(got), len(want), i, excerpt(got, i), excerpt(want, i))
}

func excerpt(b []byte, at int) []byte {
	lo, hi := max(at-20, 0), min(at+40, len(b))
	if lo > hi {
		return nil
	}
	return b[lo:hi]
}

// tail returns the last 2,000 bytes of s.
func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// TestBrokenStdoutNeitherBlocksNorKillsMain: when whatever reads tend's
// stdout goes away (a log pipe that breaks under a container), the main
// program is neither blocked on a full pipe nor killed by SIGPIPE: tend
// keeps reading its output, says once on stderr that stdout is broken,
// and still stops it normally on TERM.
func TestBrokenStdoutNeitherBlocksNorKillsMain(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := startTend(t, tendOptions{Stdout: w, Args: []string{"--", "yes"}})
	w.Close()
	line := make([]byte, 2)
	if _, err := io.ReadFull(r, line); err != nil || string(line) != "y\n" {
		t.Fatalf("first line through tend: %q, %v", line, err)
	}
	r.Close() // the reader goes away, as `| head -1` would
	main := mustProc(t, p.MainPID())

	// The main program keeps writing: what it wrote grows.
	before := written(t, main.PID)
	time.Sleep(500 * time.Millisecond)
	if after := written(t, main.PID); after <= before {
		t.Errorf("the main program wrote nothing in 500ms after tend's stdout broke (%d bytes before, %d after): it is blocked", before, after)
	}
	if !alive(main) {
		t.Fatalf("the main program died after tend's stdout broke\nstderr:\n%s", p.Stderr())
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 143 {
		t.Errorf("tend exited with %d after TERM, want 143 (yes killed by TERM)\nstderr:\n%s", code, p.Stderr())
	}
	if n := strings.Count(p.Stderr(), "broken pipe"); n == 0 || n > 3 {
		t.Errorf("stderr mentions the broken stdout %d times, want once or a few:\n%s", n, tail(p.Stderr()))
	}
}

// written returns the bytes process pid has written so far (wchar in
// /proc/PID/io).
func written(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatalf("read /proc/%d/io: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no wchar in /proc/%d/io", pid)
	return 0
}

// TestProgramsStreamsAreBlockingPipesAndDevNull: a program's stdout and
// stderr are pipes to tend in blocking mode, as a program writing without
// handling EAGAIN needs them, and its stdin is /dev/null, at every start.
func TestProgramsStreamsAreBlockingPipesAndDevNull(t *testing.T) {
	script := `for fd in 1 2; do grep '^flags' /proc/self/fdinfo/$fd; readlink /proc/self/fd/$fd | cut -d: -f1; done; readlink /proc/self/fd/0`
	code, stdout, stderr := runTend(t, tendOptions{Args: []string{"--", "sh", "-c", script}}, 10*time.Second)
	if code != 0 {
		t.Fatalf("tend exited with %d\nstderr tail:\n%q", code, tail(stderr))
	}
	var lines []string
	for _, l := range strings.Split(stdout, "\n") {
		if strings.HasPrefix(l, "flags:") || l == "pipe" || strings.HasPrefix(l, "/") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 5 || lines[1] != "pipe" || lines[3] != "pipe" || lines[4] != "/dev/null" {
		t.Fatalf("program's streams %q, want stdout and stderr pipes, stdin /dev/null\nstdout %q", lines, stdout)
	}
	for _, l := range []string{lines[0], lines[2]} {
		flags, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(l, "flags:")), 8, 32)
		if err != nil {
			t.Fatalf("fdinfo line %q: %v", l, err)
		}
		if flags&syscall.O_NONBLOCK != 0 {
			t.Errorf("a program's output pipe has flags %o: non-blocking", flags)
		}
	}
}
