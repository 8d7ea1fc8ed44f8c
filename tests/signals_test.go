package tests

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// forwarded are the signals tend relays to the main program unchanged.
// (TERM and INT are not among them: they start the stop.)
var forwarded = []struct {
	name string
	sig  syscall.Signal
}{
	{"HUP", syscall.SIGHUP},
	{"QUIT", syscall.SIGQUIT},
	{"USR1", syscall.SIGUSR1},
	{"USR2", syscall.SIGUSR2},
	{"WINCH", syscall.SIGWINCH},
	{"TTIN", syscall.SIGTTIN},
	{"TTOU", syscall.SIGTTOU},
	{"TSTP", syscall.SIGTSTP},
	{"CONT", syscall.SIGCONT},
	{"ALRM", syscall.SIGALRM},
	{"VTALRM", syscall.SIGVTALRM},
	{"XCPU", syscall.SIGXCPU},
	{"XFSZ", syscall.SIGXFSZ},
	{"PWR", syscall.SIGPWR},
}

// recorder is a sigrecorder running as tend's main program.
type recorder struct {
	out, stop string
}

// startRecorder runs tend with sigrecorder as its main program and waits
// until the recorder's handlers are installed.
func startRecorder(t *testing.T, pid1 bool, env ...string) (*tendProcess, recorder) {
	t.Helper()
	dir := t.TempDir()
	r := recorder{out: filepath.Join(dir, "signals"), stop: filepath.Join(dir, "stop")}
	ready := filepath.Join(dir, "ready")
	p := startTend(t, tendOptions{
		PID1: pid1,
		Env:  env,
		Args: []string{"--", "sigrecorder", "-out", r.out, "-ready", ready, "-exit-on", "TERM", "-exit-code", "0", "-stop-file", r.stop},
	})
	waitFor(t, 10*time.Second, "sigrecorder to start", func() bool {
		if p.Exited() {
			t.Fatalf("tend exited with %d before sigrecorder was ready\nstderr:\n%s", p.Wait(0), p.Stderr())
		}
		_, err := os.Stat(ready)
		return err == nil
	})
	return p, r
}

// received returns the signal names recorded so far.
func (r recorder) received() []string {
	data, _ := os.ReadFile(r.out)
	return strings.Fields(string(data))
}

// TestForwardedSignalsReachMain sends each forwardable signal to tend, one
// at a time, and checks that the main program received exactly it. As PID
// 1 the kernel drops any signal tend has no handler for, so this also
// checks that every one of them has a handler.
func TestForwardedSignalsReachMain(t *testing.T) {
	bothModes(t, func(t *testing.T, pid1 bool) {
		p, r := startRecorder(t, pid1)
		var want []string
		for _, s := range forwarded {
			p.Signal(s.sig)
			want = append(want, s.name)
			// One at a time: signals of one kind pending together merge.
			deadline := time.Now().Add(5 * time.Second)
			for len(r.received()) < len(want) && time.Now().Before(deadline) && !p.Exited() {
				time.Sleep(5 * time.Millisecond)
			}
			if got := r.received(); !slices.Equal(got, want) {
				t.Fatalf("after sending %s to tend the main program received %v, want %v\nstderr:\n%s", s.name, got, want, p.Stderr())
			}
		}
		if err := os.WriteFile(r.stop, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if code := p.Wait(10 * time.Second); code != 0 {
			t.Errorf("tend exited with %d, want 0\nstderr:\n%s", code, p.Stderr())
		}
	})
}

// TestStopSignalsSendTermToMain: TERM and INT sent to tend start the stop;
// the main program receives its stop signal, TERM, and nothing else, and
// tend exits with its code.
func TestStopSignalsSendTermToMain(t *testing.T) {
	for _, s := range []struct {
		name string
		sig  syscall.Signal
	}{{"TERM", syscall.SIGTERM}, {"INT", syscall.SIGINT}} {
		t.Run(s.name, func(t *testing.T) {
			bothModes(t, func(t *testing.T, pid1 bool) {
				p, r := startRecorder(t, pid1)
				p.Signal(s.sig)
				if code := p.Wait(10 * time.Second); code != 0 {
					t.Errorf("tend exited with %d, want 0 (the recorder's code)\nstderr:\n%s", code, p.Stderr())
				}
				if got := r.received(); !slices.Equal(got, []string{"TERM"}) {
					t.Errorf("after %s to tend the main program received %v, want [TERM]", s.name, got)
				}
			})
		})
	}
}

// TestStopSignalIsConfigurable: with TEND_MAIN_STOPSIGNAL=USR2 a TERM to
// tend reaches the main program as USR2.
func TestStopSignalIsConfigurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "signals")
	ready := filepath.Join(dir, "ready")
	p := startTend(t, tendOptions{
		Env:  []string{"TEND_MAIN_STOPSIGNAL=USR2"},
		Args: []string{"--", "sigrecorder", "-out", out, "-ready", ready, "-exit-on", "USR2", "-exit-code", "3"},
	})
	waitForFile(t, 10*time.Second, ready)
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 3 {
		t.Errorf("tend exited with %d, want 3 (the recorder's code)\nstderr:\n%s", code, p.Stderr())
	}
	data, _ := os.ReadFile(out)
	if got := strings.Fields(string(data)); !slices.Equal(got, []string{"USR2"}) {
		t.Errorf("main program received %v, want [USR2]", got)
	}
}

// TestProgramsStartWithDefaultSignalHandling: tend catches or ignores
// every signal it forwards, TERM and INT, SIGPIPE and SIGCHLD, but a
// program it starts ignores and blocks none of them, as it would if
// started without tend: a program started with SIGPIPE ignored would, for
// example, go on writing into a closed pipe in a shell pipeline instead of
// ending. (What tend's own parent ignores, tend passes on, as any program
// does: only the signals tend takes are checked.)
func TestProgramsStartWithDefaultSignalHandling(t *testing.T) {
	taken := []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGPIPE, syscall.SIGCHLD}
	for _, s := range forwarded {
		taken = append(taken, s.sig)
	}
	bothModes(t, func(t *testing.T, pid1 bool) {
		code, stdout, stderr := runTend(t, tendOptions{PID1: pid1, Args: []string{"--", "cat", "/proc/self/status"}}, 30*time.Second)
		if code != 0 {
			t.Fatalf("tend exited with %d\nstderr:\n%s", code, stderr)
		}
		fields := map[string]string{}
		for _, line := range strings.Split(stdout, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				fields[k] = strings.TrimSpace(v)
			}
		}
		for _, k := range []string{"SigIgn", "SigBlk"} {
			mask, err := strconv.ParseUint(fields[k], 16, 64)
			if err != nil {
				t.Fatalf("the main program's %s: %q: %v\nstatus:\n%s", k, fields[k], err, stdout)
			}
			for _, sig := range taken {
				if mask&(1<<(sig-1)) != 0 {
					t.Errorf("the main program starts with %v in %s (%s), want its default", sig, k, fields[k])
				}
			}
		}
	})
}
