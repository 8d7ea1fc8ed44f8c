package main

import (
	"bytes"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// goroutines returns the stack of every goroutine, by goroutine header
// ("goroutine 7 [select]:").
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		out[goroutineID.FindString(header)] = g
	}
	return out
}

var goroutineID = regexp.MustCompile(`^goroutine \d+ `)

// TestRunStopsEverythingItStarted runs the whole of tend in this process,
// with every part that runs a goroutine of its own: a main and a side
// program, the control socket, the HTTP endpoints, the sampler, log files
// with a cleanup hook, and a watched directory. Once runSupervisor has
// returned, every goroutine it started has ended, and the control socket
// is gone.
func TestRunStopsEverythingItStarted(t *testing.T) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TEND_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	dir := t.TempDir()
	// Unix socket paths are limited to 108 bytes; t.TempDir's can be longer.
	sockDir, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "tend.sock")
	// A port free a moment ago, so that the test can see it closed after.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	httpAddr := ln.Addr().String()
	ln.Close()
	for k, v := range map[string]string{
		"TEND_CONFIG_DIR":     dir,
		"TEND_SOCKET":         sock,
		"TEND_HTTP_ADDR":      httpAddr,
		"TEND_LOG_DIR":        filepath.Join(dir, "logs"),
		"TEND_ON_LOG_CLEANUP": "true",
		"TEND_LOG_WATCH":      filepath.Join(dir, "app", "*.log"),
		"TEND_SIDE_COMMAND":   "sleep 600",
	} {
		t.Setenv(k, v)
	}
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The handlers tend installs stay for the rest of the test process.
	t.Cleanup(func() { signal.Reset() })

	before := goroutines()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- runSupervisor([]string{"sh", "-c", "echo hello; echo started > " + filepath.Join(dir, "app", "app.log") + "; exit 3"}, &stderr)
	}()
	var code int
	select {
	case code = <-done:
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 1<<20)
		t.Fatalf("runSupervisor did not return within 2 minutes: a part did not stop\n%s", buf[:runtime.Stack(buf, true)])
	}
	if code != 3 {
		t.Errorf("exit code %d, want 3 (the main program's)\nstderr:\n%s", code, stderr.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "logs", "main.log")); err != nil || !strings.Contains(string(b), "hello") {
		t.Errorf("main.log: %q, %v; want the main program's line", b, err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket is still there (%v)", err)
	}
	if c, err := net.Dial("tcp", httpAddr); err == nil {
		c.Close()
		t.Errorf("the HTTP endpoints still answer on %s", httpAddr)
	}

	// A goroutine may still be on its way out after it said it was done;
	// none may stay. os/signal's loop and the runtime's signal-mask
	// goroutine start with the first handler and belong to the process.
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left = left[:0]
		for id, stack := range goroutines() {
			if _, ok := before[id]; ok || strings.Contains(stack, "os/signal.loop") || strings.Contains(stack, "runtime.ensureSigM") {
				continue
			}
			left = append(left, stack)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines started by runSupervisor are still running:\n\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
