package logship

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/config"
)

// stalledWriter blocks every write until released.
type stalledWriter struct {
	release chan struct{}
	out     syncBuffer
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.out.Write(p)
}

func TestNonBlockingModeDropsAndCountsUnderAStalledSink(t *testing.T) {
	cfg := testLog("")
	cfg.Mode = config.ModeNonBlocking
	cfg.Buffer = 64 << 10
	w := &stalledWriter{release: make(chan struct{})}
	s := newShipper(t, cfg, w, nil)
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
	waitFor(t, s.console.q.empty)
	feed(t, s, Source{Program: "main"}, Stdout, []byte("999999 the end\n"))
	closeShipper(t, s)

	st := s.Stats()["main"]
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
	marker := regexp.MustCompile(`(?m)^dropped (\d+) lines \((\d+) bytes\) from main \(sink too slow\)$`)
	var marked int64
	for _, m := range marker.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		marked += n
	}
	if marked != st.BufferDropped.Lines {
		t.Fatalf("markers say %d lines, stats %d", marked, st.BufferDropped.Lines)
	}
}

func TestBlockingModeSlowsTheProgramAndLosesNothing(t *testing.T) {
	cfg := testLog("")
	cfg.Buffer = 64 << 10
	w := &stalledWriter{release: make(chan struct{})}
	s := newShipper(t, cfg, w, nil)
	r, pw, _ := osPipe(t)
	c := s.Capture(Source{Program: "main"}, Stdout, r)
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

func TestCloseIsBoundedWhenAGrandchildHoldsThePipe(t *testing.T) {
	var out syncBuffer
	s := newShipper(t, testLog(""), &out, nil)
	r, w, _ := osPipe(t)
	// The shell exits at once; its background sleep keeps the pipe open.
	cmd := exec.Command("sh", "-c", "echo last words; sleep 30 & exit 0")
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	c := s.Capture(Source{Program: "main"}, Stdout, r)
	w.Close() // the supervisor closes its copy of the write end
	cmd.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := s.Close(ctx)
	if el := time.Since(start); el > 800*time.Millisecond {
		t.Fatalf("Close took %v with a 500ms context", el)
	}
	select {
	case <-c.Done():
	default:
		t.Fatal("capture not done after Close")
	}
	if err != nil {
		t.Fatalf("close: %v", err)
	}
	if got := string(out.Bytes()); got != "last words\n" {
		t.Fatalf("console %q: what was read before the close must be kept", got)
	}
}

func TestCloseKeepsFlushReserve(t *testing.T) {
	var out syncBuffer
	s, err := New(testLog(""), Options{Stdout: &out, FlushReserve: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := osPipe(t)
	s.Capture(Source{Program: "main"}, Stdout, r)
	w.Write([]byte("held open\n"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Fatalf("readers were closed after %v; want about 600ms", el)
	}
	if string(out.Bytes()) != "held open\n" {
		t.Fatalf("console %q", out.Bytes())
	}
}

func TestCloseReturnsAtDeadlineWhenTheConsoleIsStuck(t *testing.T) {
	w := &stalledWriter{release: make(chan struct{})}
	defer close(w.release)
	s := newShipper(t, testLog(""), w, nil)
	feed(t, s, Source{Program: "main"}, Stdout, []byte(fmt.Sprintln("stuck")))
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

func TestCloseStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	cfg := testLog(dir)
	cfg.FileSize = 4 << 10
	cfg.Compress = true
	var out syncBuffer
	s := newShipper(t, cfg, &out, &out)
	for _, name := range []string{"a", "b"} {
		feed(t, s, Source{Program: name, Rate: 100, Multiline: "java"}, Stdout, lines(0, 500))
		feed(t, s, Source{Program: name}, Stderr, lines(0, 10))
	}
	closeShipper(t, s)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}
