package logship_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"tend/budget"
	"tend/config"
	"tend/logship"
	"tend/logship/console"
	"tend/logship/fluent"
	"tend/logship/internal/logtest"
	"tend/logship/logfile"
)

func TestMain(m *testing.M) { logtest.Main(m) }

// newConsolePipeline returns a pipeline whose only sink is a console
// writing stdout to out.
func newConsolePipeline(t testing.TB, opts logship.Options, out *logtest.SyncBuffer) *logship.Pipeline {
	t.Helper()
	c, err := console.New(logtest.Log(""), out, nil, opts.Logger)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(logtest.Log(""), opts, c)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// holdPipe starts a shell that writes "last words" to w and exits at once,
// leaving a background sleep that holds w open, as a daemonized grandchild
// does. It returns the sleep's PID.
func holdPipe(t *testing.T, w *os.File) int {
	t.Helper()
	pidFile := t.TempDir() + "/pid"
	cmd := exec.Command("sh", "-c", "echo last words; sleep 30 & echo $! > "+pidFile+"; exit 0")
	cmd.Stdout = w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	cmd.Wait()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(data), &pid)
	return pid
}

func TestCloseIsBoundedWhenAGrandchildHoldsThePipe(t *testing.T) {
	var out logtest.SyncBuffer
	pl := newConsolePipeline(t, logship.Options{}, &out)
	r, w := logtest.Pipe(t)
	c := pl.CaptureSource(logship.Source{Program: "main"}, logship.Stdout, r)
	holdPipe(t, w)
	w.Close() // the supervisor closes its copy of the write end

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := pl.Close(ctx)
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

// A pipe a grandchild holds open is given up after PipeWait, however far
// the deadline is, and an event names the program, the stream and the
// process holding it.
func TestCloseWaitsForAHeldPipeAtMostPipeWaitAndSaysWhoHoldsIt(t *testing.T) {
	core, events := observer.New(zap.WarnLevel)
	var out logtest.SyncBuffer
	pl := newConsolePipeline(t, logship.Options{Logger: zap.New(core), PipeWait: 300 * time.Millisecond}, &out)
	r, w := logtest.Pipe(t)
	pl.CaptureSource(logship.Source{Program: "main"}, logship.Stderr, r)
	holder := holdPipe(t, w)
	w.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := pl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("Close waited %v for a pipe held open; PipeWait is 300ms", el)
	}
	waiting := events.FilterMessageSnippet("waiting for a log pipe").All()
	if len(waiting) != 1 {
		t.Fatalf("events %v, want one saying what Close waits for", events.All())
	}
	f := waiting[0].ContextMap()
	pids, _ := f["held_by_pids"].([]any)
	if f["program"] != "main" || f["stream"] != "stderr" || len(pids) != 1 || fmt.Sprint(pids[0]) != fmt.Sprint(holder) {
		t.Fatalf("event fields %v, want program main, stream stderr, held by [%d]", f, holder)
	}
	if events.FilterMessageSnippet("still open at stop").Len() != 1 {
		t.Fatalf("no event says the pipe was closed: %v", events.All())
	}
	if got := string(out.Bytes()); got != "" {
		t.Fatalf("stdout %q", got)
	}
}

func TestCloseKeepsFlushReserve(t *testing.T) {
	var out logtest.SyncBuffer
	pl := newConsolePipeline(t, logship.Options{FlushReserve: 400 * time.Millisecond}, &out)
	r, w := logtest.Pipe(t)
	pl.CaptureSource(logship.Source{Program: "main"}, logship.Stdout, r)
	w.Write([]byte("held open\n"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	if err := pl.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 900*time.Millisecond {
		t.Fatalf("readers were closed after %v; want about 600ms", el)
	}
	if string(out.Bytes()) != "held open\n" {
		t.Fatalf("console %q", out.Bytes())
	}
}

func TestCloseStopsEveryGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	cfg := logtest.Log(dir)
	cfg.FileSize = 4 << 10
	cfg.Compress = true
	var out logtest.SyncBuffer
	b := budget.New(budget.Options{Hook: func(context.Context, budget.Removal) error { return nil }})
	c, err := console.New(cfg, &out, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := logfile.New(cfg, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(cfg, logship.Options{Budget: b}, c, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		logtest.Feed(t, pl, logship.Source{Program: name, Rate: 100, Multiline: "java"}, logship.Stdout, logtest.Lines(0, 500))
		logtest.Feed(t, pl, logship.Source{Program: name}, logship.Stderr, logtest.Lines(0, 10))
	}
	logtest.Close(t, pl)
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("%d goroutines after Close, %d before", n, before)
	}
}

// Every run of the cleanup hook captures its two streams; a capture that
// reached EOF must not stay in the pipeline for the life of tend.
func TestFinishedCapturesAreNotKept(t *testing.T) {
	var out logtest.SyncBuffer
	c, err := console.New(logtest.Log(""), &out, &out, nil)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(logtest.Log(""), logship.Options{}, c)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const runs = 1000
	for i := range runs {
		for _, stream := range []string{"stdout", "stderr"} {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			pl.Capture("cleanup", stream, r)
			fmt.Fprintf(w, "hook run %d\n", i)
			w.Close()
		}
	}
	logtest.WaitFor(t, func() bool { return pl.Stats("cleanup").Lines == 2*runs })
	logtest.WaitFor(t, func() bool { return pl.Running() == 0 })
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("heap in use %d KiB before, %d KiB after %d runs", before.HeapInuse>>10, after.HeapInuse>>10, runs)
	logtest.Close(t, pl)
	if n := strings.Count(string(out.Bytes()), "hook run "); n != 2*runs {
		t.Fatalf("%d lines on the console, want %d", n, 2*runs)
	}
}

// The status of the log path is one JSON object: the budget's fields and
// every input's and sink's side by side; it reads back with the parts.
func TestStatusIsOneObjectWithEveryPart(t *testing.T) {
	b := budget.New(budget.Options{Limit: 1 << 20})
	f, err := fluent.New(config.Fluent{Addr: "127.0.0.1:1"}, fluent.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := logship.New(logtest.Log(""), logship.Options{Budget: b}, f)
	if err != nil {
		t.Fatal(err)
	}
	defer logtest.Close(t, pl)
	data, err := json.Marshal(pl.Status())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["disk_budget"] != float64(1<<20) || doc["fluent"] == nil {
		t.Fatalf("status %s: want disk_budget and fluent side by side", data)
	}
	var back logship.Status
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	var part struct {
		Fluent *fluent.Status `json:"fluent"`
	}
	if err := back.Decode(&part); err != nil || part.Fluent == nil || part.Fluent.Addr != "127.0.0.1:1" || back.DiskBudget != 1<<20 {
		t.Fatalf("decoded %+v, %+v, %v", back, part, err)
	}
}
