package tests

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TEND_LOG_WATCH naming a pseudo filesystem of the kernel or a file that
// is not a regular file by itself is refused by `tend check` and at start:
// exit 2, naming the variable and the path, nothing started.
func TestWatchRefusesPseudoFilesystemsAndSpecialFilesNamedDirectly(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "app.log")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ value, path string }{
		{"/proc", "/proc"},
		{"/proc/kmsg", "/proc/kmsg"},
		{"/sys/kernel/*", "/sys/kernel"},
		{"/dev", "/dev"},
		{fifo, fifo},
	} {
		env := []string{"TEND_LOG_WATCH=" + c.value, "TEND_LOG_TAIL=true"}
		for _, args := range [][]string{{"check"}, {"--", "sleep", "100"}} {
			code, _, stderr := runTend(t, tendOptions{Env: env, Args: args}, 20*time.Second)
			if code != 2 || !strings.Contains(stderr, "TEND_LOG_WATCH") || !strings.Contains(stderr, c.path) {
				t.Errorf("TEND_LOG_WATCH=%s, tend %s: exit %d, want 2 naming TEND_LOG_WATCH and %s; stderr:\n%s",
					c.value, args[0], code, c.path, stderr)
			}
		}
	}
}

// A named pipe in a watched directory is never opened (a writer that
// opens it without blocking finds no reader), is skipped with one warning,
// and holds up neither the tailing of the files next to it nor the stop.
func TestWatchSkipsANamedPipeInAWatchedDirectory(t *testing.T) {
	logs := t.TempDir()
	fifo := filepath.Join(logs, "events.log")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(logs, "app.log")
	p := startTend(t, tendOptions{
		Env: []string{
			"TEND_LOG_WATCH=" + logs,
			"TEND_LOG_TAIL=true",
			"TEND_LOG_FORMAT=json",
			"TEND_EVENT_FORMAT=json",
		},
		Args: []string{"--", "sh", "-c", "sleep 0.5; for i in 1 2 3; do echo line-$i >> " + app + "; sleep 0.3; done; sleep 100"},
	})
	waitFor(t, 20*time.Second, "the lines of app.log on the console", func() bool {
		return len(tailedMessages(t, p.Stdout(), "app")) >= 3 || p.Exited()
	})
	// O_WRONLY|O_NONBLOCK on a FIFO fails with ENXIO when no process has
	// it open for reading: tend never opened it.
	fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err == nil {
		syscall.Close(fd)
		t.Errorf("the named pipe in the watched directory has a reader: tend opened it")
	} else if !errors.Is(err, syscall.ENXIO) {
		t.Fatalf("open %s for writing: %v", fifo, err)
	}
	start := time.Now()
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(20 * time.Second); code != 143 && code != 0 {
		t.Fatalf("tend exited %d\nstderr:\n%s", code, p.Stderr())
	}
	t.Logf("stopped in %v", time.Since(start))
	if got := tailedMessages(t, p.Stdout(), "app"); len(got) != 3 || got[0] != "line-1" || got[2] != "line-3" {
		t.Errorf("tailed app.log lines %q, want line-1..line-3", got)
	}
	warnings := 0
	for _, e := range tendEvents(p.Stderr()) {
		if e.str("file") == fifo && strings.Contains(e.str("event"), "not a regular file") {
			warnings++
		}
	}
	if warnings != 1 {
		t.Errorf("%d warnings about the named pipe, want 1; stderr:\n%s", warnings, p.Stderr())
	}
	if _, err := os.Stat(fifo); err != nil {
		t.Errorf("the named pipe is gone: %v", err)
	}
}

// A glob that reaches /proc/kmsg through a wildcard (TEND_LOG_WATCH=/*/kmsg,
// with tailing on) passes `tend check`, but tend never opens the file: a
// reader of /proc/kmsg takes the kernel's messages away from the system's
// logger. strace sees every open of tend and its program; tend warns once
// for the path and exits with the main program's status.
func TestWatchNeverOpensProcKmsgThatAGlobReaches(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		skipOrFail(t, "this test needs strace")
	}
	if _, err := os.Lstat("/proc/kmsg"); err != nil {
		t.Skipf("no /proc/kmsg here: %v", err)
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	var stderr bytes.Buffer
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=open,openat,openat2", "-e", "signal=none", "-o", trace,
		tendPath(t), "--", "sh", "-c", "sleep 3; exit 3")
	cmd.Env = mergeEnv(baseEnv(t), []string{
		"TEND_LOG_WATCH=/*/kmsg",
		"TEND_LOG_TAIL=true",
		"TEND_EVENT_FORMAT=json",
		"TEND_SOCKET=" + filepath.Join(dir, "tend.sock"),
	})
	cmd.Dir = dir
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("strace tend -- sh -c 'sleep 3; exit 3': %v, want exit status 3\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.Contains(line, "open") {
			continue
		}
		opens++
		if strings.Contains(line, `"/proc/kmsg"`) {
			t.Errorf("/proc/kmsg was opened: %s", line)
		}
	}
	if opens == 0 {
		t.Fatalf("strace saw no open at all; the test proves nothing:\n%s", b)
	}
	warned := map[string]int{}
	for _, e := range tendEvents(stderr.String()) {
		if e.str("level") == "warn" && strings.Contains(e.str("event"), "not watching") {
			warned[e.str("file")]++
		}
	}
	if warned["/proc/kmsg"] != 1 {
		t.Errorf("%d warnings for /proc/kmsg, want 1; stderr:\n%s", warned["/proc/kmsg"], stderr.String())
	}
	for path, n := range warned {
		if n > 1 {
			t.Errorf("%d warnings for %s, want one", n, path)
		}
	}
}
