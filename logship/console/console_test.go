package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"tend/config"
	"tend/logship"
	"tend/logship/internal/logtest"
)

type syncBuffer = logtest.SyncBuffer

type jsonRecord = logtest.JSONRecord

// Short names for the tests.
var (
	testLog = logtest.Log
	lines   = logtest.Lines
	feed    = logtest.Feed
	osPipe  = logtest.Pipe
)

const (
	Stdout = logship.Stdout
	Stderr = logship.Stderr
)

type Source = logship.Source

// newPipeline returns a pipeline whose one sink is a console writing to
// stdout and stderr, and the sink.
func newPipeline(t testing.TB, cfg config.Log, stdout, stderr io.Writer) (*logship.Pipeline, *Sink) {
	t.Helper()
	c, err := New(cfg, stdout, stderr, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(cfg, logship.Options{}, c)
	if err != nil {
		t.Fatal(err)
	}
	return pl, c
}

// newShipper returns a pipeline with a console writing to stdout and
// stderr.
func newShipper(t testing.TB, cfg config.Log, stdout, stderr io.Writer) *logship.Pipeline {
	t.Helper()
	pl, _ := newPipeline(t, cfg, stdout, stderr)
	return pl
}

func closeShipper(t testing.TB, pl *logship.Pipeline) {
	t.Helper()
	logtest.Close(t, pl)
}

func TestRawConsoleIsByteExact(t *testing.T) {
	var out, errOut syncBuffer
	s := newShipper(t, testLog(""), &out, &errOut)
	data := make([]byte, 300<<10)
	rand.New(rand.NewSource(1)).Read(data) // binary, with newlines here and there
	feed(t, s, Source{Program: "main"}, Stdout, data)
	feed(t, s, Source{Program: "main"}, Stderr, []byte("to stderr\nno newline"))
	closeShipper(t, s)
	if !bytes.Equal(out.Bytes(), data) {
		t.Fatalf("stdout differs from what the program wrote (%d vs %d bytes)", len(out.Bytes()), len(data))
	}
	if got := string(errOut.Bytes()); got != "to stderr\nno newline" {
		t.Fatalf("stderr = %q", got)
	}
}

func TestJSONConsoleParsesBackEvenForBinary(t *testing.T) {
	var out, errOut syncBuffer
	cfg := testLog("")
	cfg.Format = config.FormatJSON
	cfg.MaxLine = 10
	s := newShipper(t, cfg, &out, &errOut)
	feed(t, s, Source{Program: "main"}, Stdout, []byte("hello \"x\"\n\xff\xfebin\x00\n0123456789abc\nlast"))
	closeShipper(t, s)
	got := logtest.JSONRecords(t, out.Bytes())
	for _, r := range got {
		if r.Program != "main" || r.Stream != "stdout" {
			t.Fatalf("fields: %+v", r)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Fatal(err)
		}
	}
	want := []struct {
		msg     string
		partial bool
	}{{"hello \"x\"", false}, {"\ufffd\ufffdbin\x00", false}, {"0123456789", true}, {"abc", false}, {"last", false}}
	if len(got) != len(want) {
		t.Fatalf("got %d records: %+v", len(got), got)
	}
	for i, w := range want {
		if got[i].Message != w.msg || got[i].Partial != w.partial {
			t.Fatalf("record %d = %q partial=%v, want %q partial=%v", i, got[i].Message, got[i].Partial, w.msg, w.partial)
		}
	}
}

// With the default settings a json console takes runs of whole lines from
// the capture and splits them as it escapes them: every line, written in
// pieces that split lines as a program's buffer does, is one record, in
// order, whatever it holds (quotes, tabs, CR, NUL, invalid UTF-8, empty).
func TestJSONConsoleMakesARecordOfEveryLineOfARun(t *testing.T) {
	var out, errOut syncBuffer
	cfg := testLog("")
	cfg.Format = config.FormatJSON
	s := newShipper(t, cfg, &out, &errOut)
	data, want := logtest.EscapedLines(20000)
	logtest.FeedPieces(t, s, Source{Program: "main"}, Stdout, data, 8<<10) // a JVM's PrintStream: 8 KiB writes
	closeShipper(t, s)
	var got []string
	for _, r := range logtest.JSONRecords(t, out.Bytes()) {
		got = append(got, r.Message)
	}
	logtest.SameMessages(t, got, want)
}

func TestPrefixConsoleNamesTheProgram(t *testing.T) {
	var out syncBuffer
	cfg := testLog("")
	cfg.Format = config.FormatPrefix
	s := newShipper(t, cfg, &out, nil)
	feed(t, s, Source{Program: "agent"}, Stdout, []byte("one\ntwo\n"))
	closeShipper(t, s)
	if got := string(out.Bytes()); got != "agent | one\nagent | two\n" {
		t.Fatalf("got %q", got)
	}
}

func TestConsoleNeverMixesTwoProgramsInALine(t *testing.T) {
	var out syncBuffer
	s := newShipper(t, testLog(""), &out, nil)
	done := make(chan struct{})
	for _, name := range []string{"a", "b", "c"} {
		go func() {
			var buf bytes.Buffer
			for i := 0; i < 20000; i++ {
				fmt.Fprintf(&buf, "%s %d %s\n", name, i, strings.Repeat(name, i%200))
			}
			feed(t, s, Source{Program: name}, Stdout, buf.Bytes())
			done <- struct{}{}
		}()
	}
	for range 3 {
		<-done
	}
	closeShipper(t, s)
	line := regexp.MustCompile(`^([abc]) (\d+) ([abc]*)$`)
	next := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(string(out.Bytes()), "\n"), "\n") {
		m := line.FindStringSubmatch(l)
		if m == nil || strings.Trim(m[3], m[1]) != "" {
			t.Fatalf("mixed line: %q", l)
		}
		if n, _ := strconv.Atoi(m[2]); n != next[m[1]] {
			t.Fatalf("program %s: line %d after %d", m[1], n, next[m[1]]-1)
		}
		next[m[1]]++
	}
}

func TestRateLimitCountsExactlyWhatItSuppressed(t *testing.T) {
	var out syncBuffer
	s := newShipper(t, testLog(""), &out, nil)
	src := Source{Program: "main", Rate: 10000, Burst: 5000}
	var in bytes.Buffer
	const total = 2000
	for i := 0; i < total; i++ {
		fmt.Fprintf(&in, "line %04d %s\n", i, strings.Repeat("z", 89)) // 100 bytes
	}
	feed(t, s, src, Stdout, in.Bytes())
	time.Sleep(300 * time.Millisecond)
	feed(t, s, src, Stdout, []byte("after the flood\n"))
	closeShipper(t, s)

	marker := regexp.MustCompile(`^suppressed (\d+) lines \((\d+) bytes\) from main$`)
	var kept, markers int
	var supLines, supBytes int64
	for _, l := range strings.Split(strings.TrimSuffix(string(out.Bytes()), "\n"), "\n") {
		if m := marker.FindStringSubmatch(l); m != nil {
			markers++
			n, _ := strconv.ParseInt(m[1], 10, 64)
			b, _ := strconv.ParseInt(m[2], 10, 64)
			supLines += n
			supBytes += b
			continue
		}
		if strings.HasPrefix(l, "line ") {
			kept++
		}
	}
	st := s.Stats("main")
	if kept+int(supLines) != total {
		t.Fatalf("kept %d + suppressed %d != %d", kept, supLines, total)
	}
	if supLines == 0 || supBytes != supLines*100 {
		t.Fatalf("suppressed %d lines, %d bytes", supLines, supBytes)
	}
	if st.RateDropped != (logship.Drops{Lines: supLines, Bytes: supBytes}) {
		t.Fatalf("stats %+v, markers say %d lines %d bytes", st.RateDropped, supLines, supBytes)
	}
	if markers < 1 {
		t.Fatal("no marker")
	}
	if !strings.Contains(string(out.Bytes()), "\nafter the flood\n") {
		t.Fatalf("output after the flood missing")
	}
}

func TestRateLimitMarkerComesWhileTheFloodGoesOn(t *testing.T) {
	var out syncBuffer
	s := newShipper(t, testLog(""), &out, nil)
	src := Source{Program: "main", Rate: 1000}
	r, w := osPipe(t)
	c := s.CaptureSource(src, Stdout, r)
	line := []byte(strings.Repeat("y", 99) + "\n")
	deadline := time.Now().Add(2500 * time.Millisecond)
	for time.Now().Before(deadline) {
		w.Write(line)
		time.Sleep(time.Millisecond)
	}
	n := strings.Count(string(out.Bytes()), "suppressed ")
	w.Close()
	<-c.Done()
	closeShipper(t, s)
	if n < 2 || n > 3 {
		t.Fatalf("%d markers during a 2.5 s flood, want one a second", n)
	}
}

func TestMultilineJoinsStackTraceIntoOneJSONRecord(t *testing.T) {
	var out syncBuffer
	cfg := testLog("")
	cfg.Format = config.FormatJSON
	s := newShipper(t, cfg, &out, nil)
	r, w := osPipe(t)
	c := s.CaptureSource(Source{Program: "main", Multiline: "java"}, Stdout, r)
	w.Write([]byte(javaTrace[:100])) // the trace arrives in two writes
	time.Sleep(20 * time.Millisecond)
	w.Write([]byte(javaTrace[100:]))
	// The last line is held for joining; it is flushed after a short delay
	// even though the pipe stays open.
	time.Sleep(3 * logship.FlushDelay)
	got := strings.Count(string(out.Bytes()), "\n")
	w.Close()
	<-c.Done()
	closeShipper(t, s)
	if got != 3 {
		t.Fatalf("%d records before EOF, want 3:\n%s", got, out.Bytes())
	}
	var recs []jsonRecord
	for _, l := range strings.Split(strings.TrimSpace(string(out.Bytes())), "\n") {
		var r jsonRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if !strings.HasPrefix(recs[1].Message, "java.lang.IllegalStateException: outer\n\tat ") ||
		!strings.HasSuffix(recs[1].Message, "\t... 2 more") {
		t.Fatalf("trace record: %q", recs[1].Message)
	}
}

func TestWriteLineAndLastLines(t *testing.T) {
	var out syncBuffer
	s := newShipper(t, testLog(""), &out, nil)
	var in bytes.Buffer
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&in, "line %d\n", i)
	}
	feed(t, s, Source{Program: "main"}, Stderr, in.Bytes())
	if err := s.WriteLine("main", Stdout, "tend: main exited with code 1"); err != nil {
		t.Fatal(err)
	}
	last := s.LastLines("main")
	closeShipper(t, s)
	if len(last) != 20 || last[0] != "line 31" || last[19] != "tend: main exited with code 1" {
		t.Fatalf("last lines: %q", last)
	}
	if !strings.Contains(string(out.Bytes()), "tend: main exited with code 1\n") {
		t.Fatal("written line missing on the console")
	}
	if st := s.Stats("main"); st.Lines != 51 {
		t.Fatalf("lines %d, want 51", st.Lines)
	}
}

const javaTrace = "2026-01-02 10:00:00 ERROR request failed\n" +
	"java.lang.IllegalStateException: outer\n" +
	"\tat com.example.Service.handle(Service.java:42)\n" +
	"\tat com.example.Controller.get(Controller.java:17)\n" +
	"\tSuppressed: java.io.IOException: close failed\n" +
	"\t\tat com.example.Res.close(Res.java:9)\n" +
	"Caused by: java.lang.NullPointerException: inner\n" +
	"\tat com.example.Repo.find(Repo.java:88)\n" +
	"\t... 2 more\n" +
	"2026-01-02 10:00:01 INFO next request\n"

func TestSuppressedMarkerText(t *testing.T) {
	if got := string(suppressedText(nil, "main", logship.Drops{Lines: 3, Bytes: 360})); got != "suppressed 3 lines (360 bytes) from main" {
		t.Fatal(got)
	}
}

// stalledWriter blocks every write until released.
type stalledWriter struct {
	release chan struct{}
	out     syncBuffer
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.out.Write(p)
}

// newStalledPipeline returns a non-blocking pipeline whose console, with a
// 64 KiB queue, writes nothing until its writer's release is closed.
func newStalledPipeline(t *testing.T) (*logship.Pipeline, *Sink, *stalledWriter) {
	cfg := testLog("")
	cfg.Mode = config.ModeNonBlocking
	cfg.Buffer = 64 << 10
	w := &stalledWriter{release: make(chan struct{})}
	s, c := newPipeline(t, cfg, w, nil)
	return s, c, w
}

// markedDrops sums what the "sink too slow" markers in out say of main.
func markedDrops(out string) logship.Drops {
	marker := regexp.MustCompile(`(?m)^dropped (\d+) lines \((\d+) bytes\) from main \(sink too slow\)$`)
	var d logship.Drops
	for _, m := range marker.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		b, _ := strconv.ParseInt(m[2], 10, 64)
		d.Lines += n
		d.Bytes += b
	}
	return d
}

func TestNonBlockingModeDropsAndCountsUnderAStalledSink(t *testing.T) {
	s, c, w := newStalledPipeline(t)
	const total = 50000
	done := make(chan struct{})
	go func() {
		feed(t, s, Source{Program: "main"}, Stdout, lines(0, total))
		close(done)
	}()
	select {
	case <-done: // the program was never slowed down by the stalled console
	case <-time.After(10 * time.Second):
		t.Fatal("the program blocked on a stalled sink in non-blocking mode")
	}
	close(w.release)
	logtest.WaitFor(t, c.q.Empty)
	feed(t, s, Source{Program: "main"}, Stdout, []byte("999999 the end\n"))
	closeShipper(t, s)

	st := s.Stats("main")
	if st.BufferDropped.Lines == 0 {
		t.Fatal("nothing dropped")
	}
	out := string(w.out.Bytes())
	kept := 0
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 6 && l[6] == ' ' && l[:6] != "999999" {
			kept++
		}
	}
	if int64(kept)+st.BufferDropped.Lines != total {
		t.Fatalf("kept %d + dropped %d != %d", kept, st.BufferDropped.Lines, total)
	}
	if !strings.HasSuffix(out, "999999 the end\n") {
		t.Fatal("the line after the stall is missing")
	}
	if marked := markedDrops(out); marked != st.BufferDropped {
		t.Fatalf("markers say %+v, stats %+v", marked, st.BufferDropped)
	}
}

// TestNonBlockingDropsAtTheEndAreMarked: when the last batches a program
// writes are refused, no later batch carries their marker; the console
// writes it when it stops, so the output still says what is missing.
func TestNonBlockingDropsAtTheEndAreMarked(t *testing.T) {
	s, _, w := newStalledPipeline(t)
	feed(t, s, Source{Program: "main"}, Stdout, lines(0, 50000))
	close(w.release)
	closeShipper(t, s)

	st := s.Stats("main")
	if st.BufferDropped.Lines == 0 {
		t.Fatal("nothing dropped")
	}
	if marked := markedDrops(string(w.out.Bytes())); marked != st.BufferDropped {
		t.Fatalf("markers say %+v, stats %+v", marked, st.BufferDropped)
	}
}

func TestBlockingModeSlowsTheProgramAndLosesNothing(t *testing.T) {
	cfg := testLog("")
	cfg.Buffer = 64 << 10
	w := &stalledWriter{release: make(chan struct{})}
	s := newShipper(t, cfg, w, nil)
	r, pw := osPipe(t)
	c := s.CaptureSource(Source{Program: "main"}, Stdout, r)
	wrote := make(chan struct{})
	in := lines(0, 50000)
	go func() {
		pw.Write(in)
		pw.Close()
		close(wrote)
	}()
	select {
	case <-wrote:
		t.Fatal("the program's write finished although the console is stalled")
	case <-time.After(300 * time.Millisecond):
	}
	close(w.release)
	<-wrote
	<-c.Done()
	closeShipper(t, s)
	if got := w.out.Bytes(); string(got) != string(in) {
		t.Fatalf("console got %d bytes, program wrote %d", len(got), len(in))
	}
}

func TestCloseReturnsAtDeadlineWhenTheConsoleIsStuck(t *testing.T) {
	w := &stalledWriter{release: make(chan struct{})}
	defer close(w.release)
	s := newShipper(t, testLog(""), w, nil)
	// The capture hands the line to the idle console and is stuck in its
	// write, as the console's goroutine would be: Close must not wait for
	// either past its deadline.
	r, pw := osPipe(t)
	s.CaptureSource(Source{Program: "main"}, Stdout, r)
	fmt.Fprintln(pw, "stuck")
	pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err == nil {
		t.Fatal("Close reported success although the console never took the line")
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Fatalf("Close took %v", el)
	}
}

// A console on a pipe (tend's stdout as a container runtime hands it
// over) gives the pipe a buffer of 1 MiB: json's records through the
// default 64 KiB stalled the console at every 64 KiB a collector had not
// read yet (a GiB of json through a 64 KiB pipe to cat: 70,000 context
// switches; with 1 MiB, 12,000).
func TestConsoleOnAPipeGrowsItsBuffer(t *testing.T) {
	r, w := osPipe(t)
	defer r.Close()
	before, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testLog("")
	cfg.Format = config.FormatJSON
	c, err := New(cfg, w, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	after, err := unix.FcntlInt(r.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	if after < 1<<20 {
		t.Errorf("the console's pipe holds %d bytes (%d before), want 1 MiB", after, before)
	}
}
