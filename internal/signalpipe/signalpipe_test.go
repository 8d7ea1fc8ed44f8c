package signalpipe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// receive waits for one signal on c.
func receive(t *testing.T, c <-chan os.Signal) os.Signal {
	t.Helper()
	select {
	case sig := <-c:
		return sig
	case <-time.After(10 * time.Second):
		t.Fatal("no signal relayed in 10 s")
		return nil
	}
}

// noSignal fails t if c gets a signal within 100 ms; what names c.
func noSignal(t *testing.T, c <-chan os.Signal, what string) {
	t.Helper()
	select {
	case got := <-c:
		t.Errorf("%s got %v", what, got)
	case <-time.After(100 * time.Millisecond):
	}
}

// A signal sent to the process reaches every channel that asked for it,
// and one that kills by default (TERM) no longer ends the process.
func TestRelaysToEveryChannelThatAsked(t *testing.T) {
	t.Cleanup(func() { Reset() })
	a, b := make(chan os.Signal, 4), make(chan os.Signal, 4)
	if err := Notify(a, syscall.SIGUSR1, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := Notify(b, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM} {
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, a); got != sig {
			t.Errorf("channel a got %v, want %v", got, sig)
		}
	}
	if got := receive(t, b); got != syscall.SIGUSR1 {
		t.Errorf("channel b got %v, want SIGUSR1", got)
	}
	noSignal(t, b, "channel b, which did not ask for it,")
}

// Signals sent one after the other, each waited for, all arrive: none is
// lost between the handler, the pipe and the channel.
func TestRelaysEverySignalSentInTurn(t *testing.T) {
	t.Cleanup(func() { Reset() })
	c := make(chan os.Signal, 1)
	sigs := []syscall.Signal{syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGHUP}
	if err := Notify(c, sigs...); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2000; i++ {
		sig := sigs[i%len(sigs)]
		if err := syscall.Kill(os.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		if got := receive(t, c); got != sig {
			t.Fatalf("signal %d: got %v, want %v", i, got, sig)
		}
	}
}

// The Go runtime's signals, and those no handler can catch, are refused
// with a message that names them; nothing is installed.
func TestRefusesTheRuntimesSignals(t *testing.T) {
	t.Cleanup(func() { Reset() })
	c := make(chan os.Signal, 1)
	for _, sig := range []syscall.Signal{syscall.SIGPIPE, syscall.SIGURG, syscall.SIGPROF, syscall.SIGSEGV, syscall.SIGKILL, 0, 34} {
		err := Notify(c, syscall.SIGUSR1, sig)
		if err == nil {
			t.Errorf("Notify(%v) succeeded", sig)
			continue
		}
		if !strings.Contains(err.Error(), "signal") {
			t.Errorf("Notify(%v): %v: want the signal named", sig, err)
		}
	}
}

// After Reset the Go runtime's handler is back: a process that relayed
// TERM and then reset it is ended by TERM again. Run in a child process.
func TestResetPutsBackTheRuntimesHandler(t *testing.T) {
	if os.Getenv("SIGNALPIPE_CHILD") == "1" {
		c := make(chan os.Signal, 1)
		if err := Notify(c, syscall.SIGTERM); err != nil {
			os.Exit(3)
		}
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		<-c
		if err := Reset(); err != nil {
			os.Exit(4)
		}
		syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(5 * time.Second)
		os.Exit(5) // TERM did not end the process
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestResetPutsBackTheRuntimesHandler$")
	cmd.Env = append(os.Environ(), "SIGNALPIPE_CHILD=1")
	err := cmd.Run()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("child: %v (%v): want it ended by SIGTERM after Reset", err, cmd.ProcessState)
	}
}

// A program forked after Notify starts with the default handlers, not
// tend's: TERM ends it.
func TestProgramsStartWithDefaultHandlers(t *testing.T) {
	t.Cleanup(func() { Reset() })
	c := make(chan os.Signal, 1)
	if err := Notify(c, syscall.SIGTERM, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skip("no sleep:", err)
	}
	time.Sleep(50 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGUSR1)
	cmd.Wait()
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGUSR1 {
		t.Fatalf("sleep: %v: want it ended by SIGUSR1, the default action", cmd.ProcessState)
	}
}

// After Stop a channel gets nothing more, and the signal still does not
// take its default action (TERM would end the test process).
func TestStopRelaysNothingMoreButKeepsTheHandler(t *testing.T) {
	t.Cleanup(func() { Reset() })
	kept, stopped := make(chan os.Signal, 4), make(chan os.Signal, 4)
	if err := Notify(kept, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := Notify(stopped, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	Stop(stopped)
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	receive(t, kept)
	noSignal(t, stopped, "a stopped channel")
}

// A flood of signals, faster than the reader takes them, neither blocks
// the process nor stops the relay: the next signal after it arrives.
func TestAFloodLeavesTheRelayWorking(t *testing.T) {
	t.Cleanup(func() { Reset() })
	c := make(chan os.Signal, 1)
	if err := Notify(c, syscall.SIGUSR1, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50000; i++ {
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
		}
	}()
	got := 0
	for flooding := true; flooding; {
		select {
		case <-c:
			got++
		case <-done:
			flooding = false
		}
	}
	if got == 0 {
		t.Fatal("no SIGUSR1 of 50000 relayed")
	}
	// What is still in the pipe drains; then USR2 comes through.
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case sig := <-c:
			if sig == syscall.SIGUSR2 {
				return
			}
		case <-deadline:
			t.Fatal("SIGUSR2 not relayed after the flood")
		}
	}
}

// With SIGPIPE ignored, a write to a closed stdout returns EPIPE and the
// process goes on; without it, the Go runtime ends the process with
// SIGPIPE. Run in a child process whose stdout is a pipe with no reader.
func TestIgnoredSIGPIPELetsAWriteToAClosedStdoutFail(t *testing.T) {
	if mode := os.Getenv("SIGNALPIPE_STDOUT"); mode != "" {
		if mode == "ignore" {
			if err := Ignore(syscall.SIGPIPE); err != nil {
				os.Exit(3)
			}
		}
		_, err := os.Stdout.Write([]byte("nobody reads this\n"))
		if errors.Is(err, syscall.EPIPE) {
			os.Exit(7)
		}
		os.Exit(4)
	}
	for _, c := range []struct {
		mode   string
		code   int
		signal syscall.Signal
	}{{"ignore", 7, 0}, {"default", -1, syscall.SIGPIPE}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(os.Args[0], "-test.run=^TestIgnoredSIGPIPELetsAWriteToAClosedStdoutFail$")
		cmd.Env = append(os.Environ(), "SIGNALPIPE_STDOUT="+c.mode)
		cmd.Stdout = w
		cmd.Run()
		w.Close()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		switch {
		case c.signal != 0 && (!ws.Signaled() || ws.Signal() != c.signal):
			t.Errorf("%s: %v, want the process ended by %v", c.mode, cmd.ProcessState, c.signal)
		case c.signal == 0 && ws.ExitStatus() != c.code:
			t.Errorf("%s: %v, want exit status %d (the write failed with EPIPE)", c.mode, cmd.ProcessState, c.code)
		}
	}
}

// A channel full of one signal still gets another kind that came while it
// was full, once it has room: the relay keeps it rather than drop it.
func TestAFullChannelGetsTheOtherKindLater(t *testing.T) {
	t.Cleanup(func() { Reset() })
	c := make(chan os.Signal, 1)
	if err := Notify(c, syscall.SIGUSR1, syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	// Until the USR1 is in c, c is not yet full.
	for deadline := time.Now().Add(10 * time.Second); len(c) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("SIGUSR1 not relayed")
		}
	}
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	time.Sleep(50 * time.Millisecond) // the relay finds c full
	if got := receive(t, c); got != syscall.SIGUSR1 {
		t.Fatalf("first: %v, want SIGUSR1", got)
	}
	if got := receive(t, c); got != syscall.SIGUSR2 {
		t.Fatalf("second: %v, want SIGUSR2", got)
	}
}

// With no descriptor left for the pipe, os/signal takes the signals:
// Notify still works, and a TERM still does not end the process. Run in a
// child process whose descriptors are used up.
func TestWithoutAPipeOSSignalTakesOver(t *testing.T) {
	if os.Getenv("SIGNALPIPE_NOFDS") == "1" {
		// Use up every descriptor; the process ends with the test.
		for {
			if _, err := syscall.Dup(0); err != nil {
				break
			}
		}
		c := make(chan os.Signal, 1)
		if err := Notify(c, syscall.SIGUSR1, syscall.SIGTERM); err != nil {
			os.Exit(3)
		}
		if err := Ignore(syscall.SIGPIPE); err != nil {
			os.Exit(4)
		}
		if pipeMade() {
			os.Exit(5) // the pipe was made after all: nothing tested
		}
		// No timer here: one would need a descriptor for Go's poller.
		// The parent gives up on a child that waits too long.
		for _, sig := range []syscall.Signal{syscall.SIGUSR1, syscall.SIGTERM} {
			syscall.Kill(os.Getpid(), sig)
			if got := <-c; got != sig {
				os.Exit(6)
			}
		}
		os.Exit(7)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestWithoutAPipeOSSignalTakesOver$")
	cmd.Env = append(os.Environ(), "SIGNALPIPE_NOFDS=1")
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("child: %v, want exit status 7 (3: Notify failed, 4: Ignore failed, 5: the pipe was made, 6: wrong signal; killed: none relayed in 30 s)", cmd.ProcessState)
	}
}
