package tests

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStatusTextSaysWhyEachProgramIsInItsState: `tend status` prints, for
// every program whose state has a reason, that reason (not only for
// EXITED and FATAL), and how long each program has been in its state.
func TestStatusTextSaysWhyEachProgramIsInItsState(t *testing.T) {
	t.Parallel()
	conf := writeConfD(t, map[string]string{
		"progs.conf": `[program:db]
command = sleep 600
ready = exec:false

[program:app]
command = sleep 600
depends_on = db

[program:flaky]
command = sh -c "exit 1"
startsecs = 0
autorestart = true

[program:paused]
command = sleep 600
startsecs = 0
`,
	})
	p := startTend(t, tendOptions{Args: []string{"--", "sleep", "600"}, Env: []string{conf}})
	st := waitStatus(t, p, 20*time.Second, "paused running and flaky backing off", func(st statusDoc) bool {
		return st.program(t, "paused").State == "RUNNING" && st.program(t, "flaky").State == "BACKOFF"
	})
	// A process stopped by a signal stays RUNNING, with a reason.
	if err := syscall.Kill(st.program(t, "paused").Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(st.program(t, "paused").Pid, syscall.SIGCONT)
	wants := map[string]string{
		"app":    "app: waiting for db to be ready",
		"main":   "main: waiting for the side programs to start",
		"flaky":  "flaky: exited with code 1; restarting in",
		"paused": "paused: process stopped by a signal",
	}
	var text string
	waitFor(t, 20*time.Second, "tend status to give every reason", func() bool {
		text = mustCtl(t, p, "status")
		st := status(t, p)
		for name, want := range wants {
			// flaky may be between two starts; paused needs a look at /proc.
			if st.program(t, name).Reason == "" || !strings.Contains(text, want) {
				return false
			}
		}
		return true
	})
	for _, want := range wants {
		if !strings.Contains(text, want) {
			t.Errorf("tend status lacks %q:\n%s", want, text)
		}
	}

	// SINCE: the time in the state, as a duration.
	lines := strings.Split(text, "\n")
	header := strings.Fields(lines[0])
	if len(header) < 3 || header[1] != "STATE" || header[2] != "SINCE" {
		t.Fatalf("header %q, want NAME STATE SINCE ...\n%s", lines[0], text)
	}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] != "app" {
			continue
		}
		if d, err := time.ParseDuration(f[2]); err != nil || d < 0 || d > time.Hour {
			t.Errorf("app has been %s for %q, want a duration (%v)\n%s", f[1], f[2], err, text)
		}
		return
	}
	t.Errorf("no line for app:\n%s", text)
}
