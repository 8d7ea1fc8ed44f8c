package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// syncCall matches a line of strace's output for a call that flushes to
// disk.
var syncCall = regexp.MustCompile(`\b(fsync|fdatasync|syncfs|sync)\(`)

// TestExitDoesNotFlushStderrToDisk: when tend's stderr is a regular file
// (a shell redirect, a service manager's log file), tend does not fsync
// it on the way out; each event line is written unbuffered already, and
// a disk flush at every exit only delays it. strace records every fsync
// and fdatasync of tend and the main program.
func TestExitDoesNotFlushStderrToDisk(t *testing.T) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		skipOrFail(t, "this test needs strace")
	}
	dir := t.TempDir()
	stderrFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer stderrFile.Close()
	trace := filepath.Join(dir, "trace")
	cmd := exec.Command(strace, "-f", "-qq", "-e", "trace=fsync,fdatasync,syncfs,sync", "-e", "signal=none", "-o", trace, tendPath(t), "--", "true")
	cmd.Env = mergeEnv(baseEnv(t), []string{"TEND_EVENT_LEVEL=info"})
	cmd.Stderr = stderrFile
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(stderrFile.Name())
		t.Fatalf("strace tend -- true: %v\n%s", err, b)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	// Only the traced calls count: strace also notes a thread caught in
	// an unfinished call as the process exits ("???( <detached ...>").
	var calls []string
	for _, line := range strings.Split(string(b), "\n") {
		if syncCall.MatchString(line) {
			calls = append(calls, line)
		}
	}
	if len(calls) > 0 {
		t.Errorf("tend flushed to disk on the way out:\n%s", strings.Join(calls, "\n"))
	}
	if events, _ := os.ReadFile(stderrFile.Name()); !strings.Contains(string(events), "exiting") {
		t.Errorf("stderr lacks the exit event; the test proves nothing:\n%s", events)
	}
}
