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

	"tend/internal/nettest"
	"tend/internal/signalpipe"
)

// These tests run the whole of tend in the test process. Its reaper
// waits for any child of the process, so they never run in parallel.

// inProcess is tend's environment for one test: an empty conf.d, a
// control socket of its own and env; every other TEND_ variable unset.
// It returns the socket's path.
func inProcess(t *testing.T, env map[string]string) string {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "TEND_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
	// Unix socket paths are limited to 108 bytes; t.TempDir's can be longer.
	sockDir, err := os.MkdirTemp("", "tsock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "tend.sock")
	t.Setenv("TEND_CONFIG_DIR", t.TempDir())
	t.Setenv("TEND_SOCKET", sock)
	for k, v := range env {
		t.Setenv(k, v)
	}
	// The handlers tend installs would stay for the rest of the process.
	t.Cleanup(func() { signal.Reset(); signalpipe.Reset() })
	return sock
}

// run runs runSupervisor for argv and returns its exit code and stderr;
// the test fails if it does not return (a part that did not stop).
func run(t *testing.T, argv ...string) (int, string) {
	t.Helper()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- runSupervisor(argv, &stderr) }()
	select {
	case code := <-done:
		return code, stderr.String()
	case <-time.After(2 * time.Minute):
		buf := make([]byte, 1<<20)
		t.Fatalf("runSupervisor did not return within 2 minutes: a part did not stop\n%s", buf[:runtime.Stack(buf, true)])
		return 0, ""
	}
}

// goroutines returns the stack of every goroutine, by goroutine header
// ("goroutine 7 ").
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

// noneLeft fails the test if a goroutine not in before is still running.
// A goroutine may still be on its way out after it said it was done; none
// may stay. os/signal's loop, the runtime's signal-mask goroutine and the
// signal relay's reader start with the first handler and belong to the
// process.
func noneLeft(t *testing.T, before map[string]string) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		left = left[:0]
		for id, stack := range goroutines() {
			if _, ok := before[id]; ok || strings.Contains(stack, "os/signal.loop") || strings.Contains(stack, "runtime.ensureSigM") || strings.Contains(stack, "signalpipe.(*relay).deliver") {
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

// TestRunStopsEverythingItStarted runs tend with every part that runs a
// goroutine of its own: a main and a side program, the control socket,
// the HTTP endpoints, the sampler, log files with a cleanup hook, and a
// watched directory. Once runSupervisor has returned with the main
// program's code, every goroutine it started has ended, the control
// socket is gone and the HTTP port is closed.
func TestRunStopsEverythingItStarted(t *testing.T) {
	dir := t.TempDir()
	httpAddr := nettest.FreeAddr(t)
	sock := inProcess(t, map[string]string{
		"TEND_HTTP_ADDR":      httpAddr,
		"TEND_LOG_DIR":        filepath.Join(dir, "logs"),
		"TEND_ON_LOG_CLEANUP": "true",
		"TEND_LOG_WATCH":      filepath.Join(dir, "app", "*.log"),
		"TEND_SIDE_COMMAND":   "sleep 600",
	})
	if err := os.Mkdir(filepath.Join(dir, "app"), 0o755); err != nil {
		t.Fatal(err)
	}

	before := goroutines()
	code, stderr := run(t, "sh", "-c", "echo hello; echo started > "+filepath.Join(dir, "app", "app.log")+"; exit 3")
	if code != 3 {
		t.Errorf("exit code %d, want 3 (the main program's)\nstderr:\n%s", code, stderr)
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
	noneLeft(t, before)
}

// TestRunThatCannotStartStopsWhatItStarted: when the HTTP address is
// taken, tend exits 1 before starting any program, and what it had
// started (the control socket, the reaper, the sampler) is stopped: the
// socket is gone and no goroutine is left.
func TestRunThatCannotStartStopsWhatItStarted(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	sock := inProcess(t, map[string]string{"TEND_HTTP_ADDR": taken.Addr().String()})

	before := goroutines()
	marker := filepath.Join(dir, "main-ran")
	code, stderr := run(t, "touch", marker)
	if code != 1 || !strings.Contains(stderr, "TEND_HTTP_ADDR") || !strings.Contains(stderr, "nothing was started") {
		t.Errorf("exit %d, want 1 and a message naming TEND_HTTP_ADDR and saying nothing was started\nstderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the main program ran")
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the control socket is still there (%v)", err)
	}
	noneLeft(t, before)
}
