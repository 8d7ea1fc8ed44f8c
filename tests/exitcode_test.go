package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExitCodeIsMainProgramsCode: tend exits with the code its main
// program exited with.
func TestExitCodeIsMainProgramsCode(t *testing.T) {
	for _, code := range []string{"0", "7"} {
		t.Run("exit"+code, func(t *testing.T) {
			bothModes(t, func(t *testing.T, pid1 bool) {
				got, _, stderr := runTend(t, tendOptions{PID1: pid1, Args: []string{"--", "sh", "-c", "exit " + code}}, 10*time.Second)
				if want := atoi(t, code); got != want {
					t.Errorf("tend exited with %d, want %d\nstderr:\n%s", got, want, stderr)
				}
			})
		})
	}
}

// TestExitCode137WhenMainIsKilled: a main program killed by SIGKILL from
// outside makes tend exit 137 (128+9), as a shell reports it.
func TestExitCode137WhenMainIsKilled(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		p := startTend(t, tendOptions{PID1: pid1, Args: []string{"--", "sleep", "100"}})
		main := p.MainPID()
		if err := syscall.Kill(main, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if got := p.Wait(10 * time.Second); got != 137 {
			t.Errorf("tend exited with %d, want 137\nstderr:\n%s", got, p.Stderr())
		}
	})
}

// TestExitCode143WhenTermStopsMain: TERM sent to tend reaches a main
// program that does not handle it, which dies of it; tend exits 143.
func TestExitCode143WhenTermStopsMain(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		p := startTend(t, tendOptions{PID1: pid1, Args: []string{"--", "sleep", "100"}})
		p.MainPID() // running, so tend's handlers are installed
		start := p.SignalAt(syscall.SIGTERM)
		if got := p.Wait(10 * time.Second); got != 143 {
			t.Errorf("tend exited with %d, want 143\nstderr:\n%s", got, p.Stderr())
		}
		// sleep dies of TERM at once; tend must not have waited for the
		// stop timeout (10s by default) to kill it.
		if took := p.TookSince(start); took > 5*time.Second {
			t.Errorf("tend took %s to exit after TERM killed its main program", took)
		}
	})
}

// TestExitCode127WhenMainCannotStart: a main program that does not exist
// makes tend exit 127, as a shell does, and say which command it was.
func TestExitCode127WhenMainCannotStart(t *testing.T) {
	t.Parallel()
	code, _, stderr := runTend(t, tendOptions{Args: []string{"--", "no-such-program-tend-test"}}, 10*time.Second)
	if code != 127 {
		t.Errorf("tend exited with %d, want 127\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "no-such-program-tend-test") {
		t.Errorf("stderr does not name the missing command:\n%s", stderr)
	}
}

// TestExitCode126WhenMainIsNotExecutable: a main program that exists but
// cannot be executed makes tend exit 126, as a shell does.
func TestExitCode126WhenMainIsNotExecutable(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "app.jar")
	if err := os.WriteFile(file, []byte("not a program"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runTend(t, tendOptions{Args: []string{"--", file}}, 10*time.Second)
	if code != 126 {
		t.Errorf("tend exited with %d, want 126\nstderr:\n%s", code, stderr)
	}
}
