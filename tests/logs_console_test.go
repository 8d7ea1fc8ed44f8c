package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// End-to-end tests of tend's console through the binary: the rate limit
// and its markers, the json and prefix formats, long lines, and joining a
// real JVM stack trace.

// TestRateLimitCountsEverySuppressedLine: a program flooding for 1.5 s
// under TEND_LOG_RATE=64KiB gets through about 64 KiB a second; the rest
// is announced by "suppressed N lines (M bytes) from main" markers, at
// least one per second of flood, and the lines that passed plus the
// markers' counts are exactly what the program wrote, as do the
// rate_dropped counters of tend status.
func TestRateLimitCountsEverySuppressedLine(t *testing.T) {
	if testing.Short() {
		t.Skip("floods for 1.5 s")
	}
	gen := logsgenPath(t)
	const rate, burst = 64 << 10, 64 << 10
	flooded := filepath.Join(t.TempDir(), "flooded")
	start := time.Now()
	p := startTend(t, tendOptions{
		Env:  []string{"TEND_LOG_RATE=64KiB", "TEND_LOG_BURST=64KiB"},
		Args: []string{"--", gen, "-for", "1500ms", "-done", flooded, "-hold"},
	})

	// console reads tend's stdout: the lines that passed, in order, and
	// the markers' sums.
	type console struct {
		passed, markers     int64
		suppressed, dropped int64 // lines, bytes
	}
	read := func(out string) console {
		var got console
		last := int64(-1)
		for _, line := range strings.SplitAfter(out, "\n") {
			if line == "" {
				continue
			}
			if m := suppressedRE.FindStringSubmatch(line); m != nil {
				if m[3] != "main" {
					t.Fatalf("marker %q names another program", line)
				}
				n, _ := strconv.ParseInt(m[1], 10, 64)
				b, _ := strconv.ParseInt(m[2], 10, 64)
				got.markers++
				got.suppressed += n
				got.dropped += b
				continue
			}
			n := lineNumber([]byte(line), "")
			if n <= last || string(genLine(nil, "", genLineSize, n)) != line {
				t.Fatalf("console line %q after line %d: want a later numbered line or a marker", short([]byte(line)), last)
			}
			last = n
			got.passed++
		}
		return got
	}

	// Once the flood is over, while the program holds, every suppression
	// gets its marker within a second of its first dropped line.
	waitFor(t, 15*time.Second, "the end of the flood", func() bool {
		_, err := os.Stat(flooded)
		return err == nil || p.Exited()
	})
	var st logStatus
	var got console
	waitFor(t, 15*time.Second, "the markers to account for every line", func() bool {
		st = programLogs(t, p, "main")
		got = read(p.Stdout())
		return got.passed+got.suppressed == st.Logs.Lines && got.markers > 0
	})
	elapsed := time.Since(start)
	t.Logf("%d lines written, %d passed, %d suppressed in %d markers", st.Logs.Lines, got.passed, got.suppressed, got.markers)
	if rd := st.Logs.RateDropped; rd.Lines != got.suppressed || rd.Bytes != got.dropped {
		t.Errorf("status rate_dropped %+v; the markers say %d lines, %d bytes", rd, got.suppressed, got.dropped)
	}
	if got.passed*genLineSize+got.dropped != st.Logs.Bytes {
		t.Errorf("passed %d bytes + suppressed %d bytes != %d bytes written", got.passed*genLineSize, got.dropped, st.Logs.Bytes)
	}
	if limit := burst + int64(rate*elapsed.Seconds()) + genLineSize; got.passed*genLineSize > limit {
		t.Errorf("%d bytes passed in %v; the rate allows at most %d", got.passed*genLineSize, elapsed, limit)
	}
	if got.markers < 2 {
		t.Errorf("%d markers for a 1.5 s flood; want one per second of suppression", got.markers)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 0 {
		t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(p.Stderr()))
	}
	if final := read(p.Stdout()); final != got {
		t.Errorf("after the stop the console holds %+v; before it %+v (the program wrote nothing more)", final, got)
	}
}

// jsonRecord is one line of TEND_LOG_FORMAT=json.
type jsonRecord struct {
	Time    string `json:"time"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
	Partial bool   `json:"partial"`
	Tend    bool   `json:"tend"`
}

// parseJSONLines decodes every line of out with encoding/json, strictly:
// one object per line, no unknown field, time in RFC 3339 with
// nanoseconds.
func parseJSONLines(t testing.TB, what, out string) []jsonRecord {
	t.Helper()
	var recs []jsonRecord
	for i, line := range strings.SplitAfter(out, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			t.Fatalf("%s line %d does not end with a newline: %q", what, i+1, line)
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		var r jsonRecord
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("%s line %d is not a JSON record: %v\n%q", what, i+1, err, short([]byte(line)))
		}
		if dec.More() {
			t.Fatalf("%s line %d holds more than one JSON value: %q", what, i+1, short([]byte(line)))
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil || !strings.HasSuffix(r.Time, "Z") {
			t.Fatalf("%s line %d: time %q is not RFC 3339 in UTC: %v", what, i+1, r.Time, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// rebuild joins records back into the bytes of one program's stream: each
// message, and a newline after each record that is not a piece of a
// longer line.
func rebuild(recs []jsonRecord, program, stream string) []byte {
	var b []byte
	for _, r := range recs {
		if r.Program != program || r.Stream != stream || r.Tend {
			continue
		}
		b = append(b, r.Message...)
		if !r.Partial {
			b = append(b, '\n')
		}
	}
	return b
}

// replaceInvalid replaces every byte that is not part of valid UTF-8 with
// U+FFFD, as tend's JSON does.
func replaceInvalid(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}

// TestJSONRecordsParseBackWithBinaryInput: with TEND_LOG_FORMAT=json,
// every line tend writes on stdout and stderr is one JSON object that
// encoding/json reads (time, program, stream, message), even for binary
// output, invalid UTF-8, lines longer than 16 KiB and a last line without
// a newline; the messages give back the program's bytes, each invalid byte
// as U+FFFD, and the pieces of long lines are marked partial.
func TestJSONRecordsParseBackWithBinaryInput(t *testing.T) {
	t.Parallel()
	out, errOut, cmd := writePayloads(t)
	code, stdout, stderr := runTend(t, tendOptions{Env: []string{"TEND_LOG_FORMAT=json"}, Args: cmd}, 30*time.Second)
	if code != 0 {
		t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(stderr))
	}
	for _, s := range []struct {
		name      string
		got       string
		program   []byte
		otherName string
	}{{"stdout", stdout, out, "stderr"}, {"stderr", stderr, errOut, "stdout"}} {
		recs := parseJSONLines(t, s.name, s.got)
		partial := 0
		for _, r := range recs {
			if r.Program != "main" || r.Stream != s.name || r.Tend {
				t.Fatalf("%s: record %+v, want program main, stream %s, not tend's", s.name, r, s.name)
			}
			if r.Partial {
				partial++
				if len(r.Message) != 16<<10 {
					t.Errorf("%s: a partial piece of %d bytes; pieces are 16 KiB", s.name, len(r.Message))
				}
			}
		}
		if partial == 0 {
			t.Errorf("%s: no partial record, though the program wrote lines of up to 70,000 bytes", s.name)
		}
		want := replaceInvalid(s.program)
		if !bytes.HasSuffix(want, []byte("\n")) {
			want = append(want, '\n') // the last line is a record of its own
		}
		assertSameBytes(t, s.name+" messages", rebuild(recs, "main", s.name), want)
	}
}

// TestJSONKeepsCharactersWholeInPiecesOfLongLines: lines of text in
// euro signs, Chinese and emoji (3 and 4 bytes a character), longer than
// the default TEND_LOG_MAX_LINE of 16 KiB, reach the json console and the
// json file in pieces cut between characters: no U+FFFD anywhere (every
// byte the program wrote is valid UTF-8), every piece at most 16 KiB, and
// the pieces give back the lines.
func TestJSONKeepsCharactersWholeInPiecesOfLongLines(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("€", 20000) + "\n" +
		strings.Repeat("日志不会填满磁盘。", 5000) + "\n" +
		strings.Repeat("😀", 9000) + "\n"
	in := filepath.Join(t.TempDir(), "text")
	if err := os.WriteFile(in, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "logs")
	code, stdout, stderr := runTend(t, tendOptions{
		Env:  []string{"TEND_LOG_FORMAT=json", "TEND_LOG_DIR=" + dir},
		Args: []string{"--", "cat", in},
	}, 30*time.Second)
	if code != 0 {
		t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(stderr))
	}
	file, err := os.ReadFile(filepath.Join(dir, "main.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []struct{ name, got string }{{"console", stdout}, {"main.log", string(file)}} {
		recs := parseJSONLines(t, out.name, out.got)
		for i, r := range recs {
			if strings.ContainsRune(r.Message, utf8.RuneError) {
				at := strings.IndexRune(r.Message, utf8.RuneError)
				t.Fatalf("%s: record %d holds U+FFFD at byte %d of %d: a character was cut", out.name, i, at, len(r.Message))
			}
			if len(r.Message) > 16<<10 {
				t.Fatalf("%s: record %d is %d bytes; TEND_LOG_MAX_LINE is 16 KiB", out.name, i, len(r.Message))
			}
		}
		// 60,000 bytes of euro signs: 3 pieces of 16,383 bytes (16 KiB less
		// the euro sign's first byte) and the rest.
		if len(recs) < 4 || len(recs[0].Message) != 16383 || !recs[0].Partial || recs[3].Partial {
			t.Fatalf("%s: the euro line came in %d records, the first of %d bytes; want 4, the first of 16383", out.name, min(len(recs), 4), len(recs[0].Message))
		}
		assertSameBytes(t, out.name+" messages", rebuild(recs, "main", "stdout"), []byte(text))
	}
}

// TestLongLinesSplitAtMaxLine: with TEND_LOG_MAX_LINE=4KiB a line of
// 10,000 bytes reaches the console in pieces of 4 KiB and a rest: in
// prefix format each piece is a line "main | piece"; in json the pieces
// but the last are "partial":true, on the console and in the file. The
// pieces give back the line.
func TestLongLinesSplitAtMaxLine(t *testing.T) {
	gen := logsgenPath(t)
	const size, maxLine, n = 10000, 4 << 10, 200
	for _, format := range []string{"prefix", "json"} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "logs")
			code, stdout, stderr := runTend(t, tendOptions{
				Env:  []string{"TEND_LOG_FORMAT=" + format, "TEND_LOG_MAX_LINE=4KiB", "TEND_LOG_DIR=" + dir},
				Args: []string{"--", gen, "-tag", "main-", "-size", strconv.Itoa(size), "-n", strconv.Itoa(n)},
			}, 30*time.Second)
			if code != 0 {
				t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(stderr))
			}
			// pieces are the console's records: message and partial flag.
			var pieces []jsonRecord
			if format == "json" {
				pieces = parseJSONLines(t, "stdout", stdout)
				file, err := os.ReadFile(filepath.Join(dir, "main.log"))
				if err != nil {
					t.Fatal(err)
				}
				inFile := parseJSONLines(t, "main.log", string(file))
				if len(inFile) != len(pieces) {
					t.Fatalf("%d records in the file, %d on the console", len(inFile), len(pieces))
				}
				for i := range inFile {
					if inFile[i].Message != pieces[i].Message || inFile[i].Partial != pieces[i].Partial {
						t.Fatalf("record %d differs between file and console", i)
					}
				}
			} else {
				for _, line := range strings.SplitAfter(stdout, "\n") {
					if line == "" {
						continue
					}
					msg, ok := strings.CutPrefix(line, "main | ")
					if !ok {
						t.Fatalf("console line %q has no prefix \"main | \"", short([]byte(line)))
					}
					pieces = append(pieces, jsonRecord{Message: strings.TrimSuffix(msg, "\n")})
				}
			}
			c := newLineChecker("main-", size, 0)
			var line []byte
			for i, p := range pieces {
				line = append(line, p.Message...)
				if len(line) >= size-1 {
					if err := c.line(append(line, '\n')); err != nil {
						t.Fatal(err)
					}
					line = line[:0]
					if format == "json" && p.Partial {
						t.Fatalf("record %d, the end of a line, is marked partial", i)
					}
					continue
				}
				if len(p.Message) != maxLine {
					t.Fatalf("record %d: a piece of %d bytes inside a line; want %d", i, len(p.Message), maxLine)
				}
				if format == "json" && !p.Partial {
					t.Fatalf("record %d, a piece of a longer line, is not marked partial", i)
				}
			}
			if c.next != n || len(line) != 0 {
				t.Fatalf("the pieces make %d whole lines (and %d bytes more); the program wrote %d", c.next, len(line), n)
			}
			if want := n * ((size-1)/maxLine + 1); len(pieces) != want {
				t.Errorf("%d pieces; want %d", len(pieces), want)
			}
		})
	}
}

// TestPrefixFormatNeverMixesTwoProgramsLines: the main program and a side
// program defined by TEND_AGENT_COMMAND write 20,000 lines each at the
// same time; with TEND_LOG_FORMAT=prefix every console line is "NAME |
// line" with the line of that program, whole, and each program's lines are
// all there, in order.
func TestPrefixFormatNeverMixesTwoProgramsLines(t *testing.T) {
	t.Parallel()
	gen := logsgenPath(t)
	const n = 20000
	flags := t.TempDir()
	start, agentDone := filepath.Join(flags, "start"), filepath.Join(flags, "agent-done")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	p := startTend(t, tendOptions{
		Stdout: w,
		Env: []string{
			"TEND_LOG_FORMAT=prefix",
			fmt.Sprintf("TEND_AGENT_COMMAND=%s -tag agent- -size 700 -go %s -n %d -done %s -hold", gen, start, n, agentDone),
		},
		Args: []string{"--", gen, "-tag", "main-", "-size", "500", "-go", start, "-n", strconv.Itoa(n), "-wait", agentDone},
	})
	w.Close()

	checkers := map[string]*lineChecker{
		"main":  newLineChecker("main-", 500, 0),
		"agent": newLineChecker("agent-", 700, 0),
	}
	type outcome struct {
		switches int
		err      error
	}
	done := make(chan outcome, 1)
	go func() {
		var o outcome
		br := bufio.NewReaderSize(r, 1<<20)
		last := ""
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 && o.err == nil {
				name, rest, ok := bytes.Cut(line, []byte(" | "))
				c := checkers[string(name)]
				switch {
				case !ok || c == nil:
					o.err = fmt.Errorf("console line %q is not \"main | ...\" or \"agent | ...\"", short(line))
				default:
					if err := c.line(rest); err != nil {
						o.err = fmt.Errorf("%s: %w", name, err)
					}
					if last != "" && last != string(name) {
						o.switches++
					}
					last = string(name)
				}
			}
			if err == io.EOF {
				done <- o
				return
			}
			if err != nil && err != bufio.ErrBufferFull {
				o.err = err
			}
		}
	}()

	waitFor(t, 15*time.Second, "both programs to run", func() bool {
		return programLogs(t, p, "main").Pid != 0 && programLogs(t, p, "agent").Pid != 0
	})
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(p.Stderr()))
	}
	var o outcome
	select {
	case o = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("tend's stdout still open 10s after tend exited")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	for name, c := range checkers {
		if c.next != n {
			t.Errorf("%s: %d lines on the console; it wrote %d", name, c.next, n)
		}
	}
	t.Logf("the console went from one program to the other %d times", o.switches)
	if o.switches == 0 {
		t.Errorf("the two programs' output never interleaved: the test proves nothing")
	}
}

// nestedJava throws an exception with a cause and a suppressed exception,
// prints its stack trace to stderr, then one more line.
const nestedJava = `public class Nested {
    static void level3() {
        throw new IllegalStateException("inner cause");
    }

    static void level2() {
        try {
            level3();
        } catch (IllegalStateException e) {
            RuntimeException outer = new RuntimeException("outer failure", e);
            outer.addSuppressed(new Exception("suppressed one"));
            throw outer;
        }
    }

    static void level1() {
        level2();
    }

    public static void main(String[] args) {
        System.out.println("service starting");
        try {
            level1();
        } catch (RuntimeException e) {
            e.printStackTrace();
        }
        System.err.println("after the trace");
    }
}
`

// TestJavaStackTraceIsOneJSONRecord: with TEND_LOG_MULTILINE=java and
// TEND_LOG_FORMAT=json, the stack trace a real JVM prints (at lines,
// Suppressed, Caused by, "... N more") is one record whose message is the
// trace exactly as the JVM printed it, and the line after it is a record of
// its own.
func TestJavaStackTraceIsOneJSONRecord(t *testing.T) {
	t.Parallel()
	requireJava(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "Nested.java"), []byte(nestedJava), 0o644); err != nil {
		t.Fatal(err)
	}
	classes := t.TempDir()
	if out, err := exec.Command("javac", "-d", classes, filepath.Join(src, "Nested.java")).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	java, err := exec.LookPath("java")
	if err != nil {
		t.Fatal(err)
	}
	// The trace as the JVM prints it without tend.
	direct := exec.Command(java, "-cp", classes, "Nested")
	var directErr bytes.Buffer
	direct.Stderr = &directErr
	if err := direct.Run(); err != nil {
		t.Fatalf("java Nested: %v\n%s", err, directErr.String())
	}
	trace, _, ok := strings.Cut(directErr.String(), "after the trace\n")
	trace = trace[strings.Index(trace, "java.lang.RuntimeException"):]
	if !ok || !strings.Contains(trace, "Caused by: ") || !strings.Contains(trace, "\tSuppressed: ") || !strings.Contains(trace, " more\n") {
		t.Fatalf("the JVM printed no nested trace:\n%s", directErr.String())
	}

	code, stdout, stderr := runTend(t, tendOptions{
		Env:  []string{"TEND_LOG_FORMAT=json", "TEND_LOG_MULTILINE=java"},
		Args: []string{"--", java, "-cp", classes, "Nested"},
	}, 60*time.Second)
	if code != 0 {
		t.Fatalf("tend exited with %d\nstderr:\n%s", code, tail(stderr))
	}
	if recs := parseJSONLines(t, "stdout", stdout); len(recs) != 1 || recs[0].Message != "service starting" {
		t.Errorf("stdout records %+v; want one, \"service starting\"", recs)
	}
	var traces, after int
	for _, r := range parseJSONLines(t, "stderr", stderr) {
		switch {
		case strings.HasPrefix(r.Message, "java.lang.RuntimeException"):
			traces++
			if r.Message != strings.TrimSuffix(trace, "\n") {
				t.Errorf("the trace record differs from what the JVM printed:\n got  %q\n want %q", r.Message, strings.TrimSuffix(trace, "\n"))
			}
		case r.Message == "after the trace":
			after++
		case strings.HasPrefix(r.Message, "\t") || strings.HasPrefix(r.Message, "Caused by"):
			t.Errorf("a line of the trace is a record of its own: %q", r.Message)
		}
	}
	if traces != 1 || after != 1 {
		t.Errorf("%d trace records and %d \"after the trace\" records; want one of each\nstderr:\n%s", traces, after, stderr)
	}
}

// TestStdoutPipeHoldsAMiB: tend's stdout and stderr, pipes as a container
// runtime hands them over, hold 1 MiB once tend runs, so that a collector
// reading them in bursts stalls the console at every MiB it has not read
// rather than at every 64 KiB (a GiB of json through a 64 KiB pipe to cat:
// about 70,000 context switches and twice the time).
func TestStdoutPipeHoldsAMiB(t *testing.T) {
	t.Parallel()
	p := startTend(t, tendOptions{Env: []string{"TEND_LOG_FORMAT=json"}, Args: []string{"--", "sh", "-c", "echo ready; exec sleep 30"}})
	waitFor(t, 10*time.Second, "the program's first line", func() bool { return strings.Contains(p.Stdout(), "ready") })
	for _, s := range []struct {
		fd   int
		name string
	}{{1, "stdout"}, {2, "stderr"}} {
		// A descriptor of the same pipe, to ask its size.
		f, err := os.OpenFile(fmt.Sprintf("/proc/%d/fd/%d", p.PID(), s.fd), os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Fatal(err)
		}
		size, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if size < 1<<20 {
			t.Errorf("tend's %s pipe holds %d bytes, want 1 MiB", s.name, size)
		}
	}
	p.Signal(syscall.SIGTERM)
	p.Wait(15 * time.Second)
}
