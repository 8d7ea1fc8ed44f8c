package reaper

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

func startReaper(t *testing.T) *Reaper {
	t.Helper()
	r := New(zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func waitDone(t *testing.T, p *Process) {
	t.Helper()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatalf("process %d was not reaped", p.Pid)
	}
}

func TestExitCodesReachTheirProcess(t *testing.T) {
	r := startReaper(t)
	for _, tc := range []struct {
		argv []string
		want int
	}{
		{[]string{"true"}, 0},
		{[]string{"sh", "-c", "exit 7"}, 7},
		{[]string{"sh", "-c", "kill -KILL $$"}, 137},
		{[]string{"sh", "-c", "kill -TERM $$"}, 143},
	} {
		p, err := r.Start(Spec{Argv: tc.argv, Env: os.Environ()})
		if err != nil {
			t.Fatal(err)
		}
		waitDone(t, p)
		if got := p.ExitCode(); got != tc.want {
			t.Errorf("%v exited %d, want %d", tc.argv, got, tc.want)
		}
	}
}

// A child that exits before Start returns must still be handed to its
// Process, never mistaken for an orphan.
func TestInstantExitsAreNeverOrphans(t *testing.T) {
	r := startReaper(t)
	var procs []*Process
	for i := 0; i < 200; i++ {
		p, err := r.Start(Spec{Argv: []string{"true"}, Env: os.Environ()})
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	for _, p := range procs {
		waitDone(t, p)
		if p.ExitCode() != 0 {
			t.Errorf("pid %d exited %d", p.Pid, p.ExitCode())
		}
	}
	if n := r.Orphans(); n != 0 {
		t.Errorf("%d of tend's own children were counted as orphans", n)
	}
}

func TestStartReportsMissingProgram(t *testing.T) {
	r := startReaper(t)
	if _, err := r.Start(Spec{Argv: []string{"no-such-program-here"}, Env: []string{"PATH=/usr/bin:/bin"}}); err == nil {
		t.Fatal("starting a missing program did not fail")
	}
}

func TestSignalAfterExitDoesNothing(t *testing.T) {
	r := startReaper(t)
	p, err := r.Start(Spec{Argv: []string{"true"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	if err := p.Signal(9); err != nil {
		t.Errorf("signal after exit: %v", err)
	}
}

func TestNewProcessLeadsItsOwnGroup(t *testing.T) {
	r := startReaper(t)
	f, err := os.CreateTemp(t.TempDir(), "pgid")
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Start(Spec{Argv: []string{"sh", "-c", "ps -o pgid= -p $$"}, Env: os.Environ(), Stdout: f})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	b, _ := os.ReadFile(f.Name())
	if got := strings.TrimSpace(string(b)); got != strconv.Itoa(p.Pid) {
		t.Errorf("process group = %q, want its own pid %d", got, p.Pid)
	}
}

func TestOrphansOfSubreaperAreReaped(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Skipf("cannot become subreaper: %v", err)
	}
	r := startReaper(t)
	p, err := r.Start(Spec{Argv: []string{"sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.2 &) ; done"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	deadline := time.Now().Add(5 * time.Second)
	for r.Orphans() < 5 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := r.Orphans(); n < 5 {
		t.Errorf("orphans reaped = %d, want 5", n)
	}
}

// A relative PATH entry, and an empty one (which means "."), name
// directories below the program's working directory, where the process
// runs, not below tend's.
func TestRelativePathEntriesAreFoundInTheProgramsDirectory(t *testing.T) {
	r := startReaper(t)
	for _, path := range []string{"bin", "/nonexistent:bin", "/nonexistent:", ""} {
		t.Run(path, func(t *testing.T) {
			dir := t.TempDir()
			sub := dir
			if strings.Contains(path, "bin") {
				sub = filepath.Join(dir, "bin")
			}
			if err := os.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			script := "#!/bin/sh\npwd > ran\n"
			if err := os.WriteFile(filepath.Join(sub, "tend-test-tool"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			// PATH= set but empty is one empty entry, which is ".".
			p, err := r.Start(Spec{Argv: []string{"tend-test-tool"}, Env: []string{"PATH=" + path}, Dir: dir})
			if err != nil {
				t.Fatalf("PATH=%q in %s: %v", path, dir, err)
			}
			waitDone(t, p)
			if p.ExitCode() != 0 {
				t.Fatalf("exit code %d", p.ExitCode())
			}
			if got, _ := os.ReadFile(filepath.Join(dir, "ran")); strings.TrimSpace(string(got)) != dir {
				t.Errorf("ran in %q, want %q", got, dir)
			}
		})
	}
}

// Suspended follows the process through SIGSTOP and SIGCONT.
func TestSuspendedFollowsStopAndCont(t *testing.T) {
	r := startReaper(t)
	p, err := r.Start(Spec{Argv: []string{"sleep", "600"}, Env: os.Environ()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Signal(syscall.SIGKILL); waitDone(t, p) })
	waitSuspended := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for p.Suspended() != want {
			if time.Now().After(deadline) {
				t.Fatalf("Suspended() stayed %v", !want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitSuspended(false)
	p.Signal(syscall.SIGSTOP)
	waitSuspended(true)
	p.Signal(syscall.SIGCONT)
	waitSuspended(false)
	p.Signal(syscall.SIGKILL)
	waitDone(t, p)
	if p.Suspended() {
		t.Error("a reaped process is Suspended")
	}
}

// A stream left nil is /dev/null, readable and writable; one given is the
// process's own, blocking as programs expect of their stdout.
func TestStreamsAreDevNullOrTheFileGiven(t *testing.T) {
	r := startReaper(t)
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	script := `readlink /proc/self/fd/0; readlink /proc/self/fd/2; grep '^flags' /proc/self/fdinfo/1; read x; echo "read $?"; echo err >&2`
	p, err := r.Start(Spec{Argv: []string{"sh", "-c", script}, Env: os.Environ(), Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p)
	b, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 4 || lines[0] != "/dev/null" || lines[1] != "/dev/null" || lines[3] != "read 1" {
		t.Fatalf("output %q, want stdin and stderr on /dev/null, a read at EOF", lines)
	}
	flags, err := strconv.ParseUint(strings.TrimSpace(strings.TrimPrefix(lines[2], "flags:")), 8, 32)
	if err != nil {
		t.Fatalf("fdinfo line %q: %v", lines[2], err)
	}
	if flags&syscall.O_NONBLOCK != 0 {
		t.Errorf("stdout flags %o: non-blocking", flags)
	}
}
