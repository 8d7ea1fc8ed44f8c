package signalpipe

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// pipeMade reports whether the relay made its pipe.
func pipeMade() bool {
	process.mu.Lock()
	defer process.mu.Unlock()
	return process.read != nil
}

// A signal Notify relayed and Ignore then dropped is relayed no more, and
// its handler is still the relay's, not SIG_IGN, which a program would
// inherit. Run in a child process: the Go runtime keeps the signal
// ignored to the end.
func TestIgnoreAfterNotifyKeepsTheRelaysHandler(t *testing.T) {
	if os.Getenv("SIGNALPIPE_REIGNORE") == "1" {
		c := make(chan os.Signal, 1)
		if Notify(c, syscall.SIGUSR2) != nil || Ignore(syscall.SIGUSR2) != nil {
			os.Exit(3)
		}
		act, err := sigaction(syscall.SIGUSR2, nil)
		if h, _ := entryPoints(); err != nil || act.handler != h {
			os.Exit(4) // SIG_IGN (1) or another handler
		}
		syscall.Kill(os.Getpid(), syscall.SIGUSR2)
		select {
		case <-c:
			os.Exit(5)
		case <-time.After(100 * time.Millisecond):
		}
		os.Exit(7)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestIgnoreAfterNotifyKeepsTheRelaysHandler$")
	cmd.Env = append(os.Environ(), "SIGNALPIPE_REIGNORE=1")
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("child: %v, want exit status 7 (3: Notify or Ignore failed, 4: the handler is not the relay's, 5: the signal was still relayed)", cmd.ProcessState)
	}
}
