package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Program states as `tend status` shows them, and the control commands
// on the main program, through the real binary.

// A program waiting for its dependencies is WAITING, with what it waits
// for and since when, and readiness fails until it runs.
func TestWaitingProgramShowsWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flag := filepath.Join(dir, "db-ready")
	conf := writeConfD(t, map[string]string{
		"db.conf": fmt.Sprintf("[program:db]\ncommand = sideprog -name db -log %s\nready = exec:test -f %s\npriority = 1\n",
			filepath.Join(dir, "events"), flag),
		"app.conf": fmt.Sprintf("[program:app]\ncommand = sideprog -name app -log %s\ndepends_on = db\npriority = 2\n",
			filepath.Join(dir, "events")),
	})
	p := startTend(t, tendOptions{Args: []string{"--", "sleep", "600"}, Env: []string{conf}})
	st := waitStatus(t, p, 15*time.Second, "app waiting", func(st statusDoc) bool { return st.program(t, "app").State == "WAITING" })
	if app := st.program(t, "app"); app.Reason != "waiting for db to be ready" || app.Pid != 0 {
		t.Errorf("app: %+v", app)
	}
	out := mustCtl(t, p, "status", "--json")
	if !strings.Contains(out, `"since"`) {
		t.Errorf("tend status --json does not say since when: %s", out)
	}
	if code, out, _ := ctl(t, p, "health"); code != 1 || !strings.Contains(out, "app WAITING (waiting for db to be ready)") {
		t.Errorf("tend health while app waits: exit %d, %q", code, out)
	}
	if err := os.WriteFile(flag, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, p, 15*time.Second, "app running and every program ready", func(st statusDoc) bool {
		return st.program(t, "app").State == "RUNNING" && st.Ready
	})
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code != 143 {
		t.Errorf("exit code %d, want sleep's 143\nstderr:\n%s", code, p.Stderr())
	}
}
