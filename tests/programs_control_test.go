package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The control commands, against a running tend: status (text and JSON),
// health, restart, stop, start and signal of one side program.
func TestControlCommandsAgainstARunningTend(t *testing.T) {
	t.Parallel()
	events := filepath.Join(t.TempDir(), "events")
	conf := writeConfD(t, map[string]string{
		"svc.conf": fmt.Sprintf(`[program:svc]
command = sideprog -name svc -log %[1]s
startsecs = 0.1

[program:manual]
command = sideprog -name manual -log %[1]s
autostart = false

[program:broken]
command = /nonexistent/agent
autostart = false
startretries = 0
`, events),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sideprog", "-name", "main", "-log", events},
		Env:  []string{conf, "TEND_MAIN_STARTSECS=0.1"},
	})
	st := waitStatus(t, p, 10*time.Second, "svc and main running", func(st statusDoc) bool {
		return st.program(t, "svc").State == "RUNNING" && st.program(t, "main").State == "RUNNING"
	})

	// The socket is private to root (or whoever runs tend).
	if fi, err := os.Stat(p.socket()); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket: %v, %v; want a socket with mode 0600", fi.Mode(), err)
	}

	// status --json: every program, side programs in start order, main last.
	if len(st.Programs) != 4 || st.Programs[3].Name != "main" || !st.Programs[3].Main {
		t.Errorf("programs: %+v", st.Programs)
	}
	svc := st.program(t, "svc")
	if svc.Pid == 0 || !svc.Ready || svc.Restarts != 0 {
		t.Errorf("svc: %+v", svc)
	}
	if m := st.program(t, "manual"); m.State != "STOPPED" || m.Pid != 0 {
		t.Errorf("autostart=false program: %+v", m)
	}
	var raw map[string]any
	json.Unmarshal([]byte(mustCtl(t, p, "status", "--json")), &raw)
	for _, key := range []string{"ready", "stopping", "programs"} {
		if _, ok := raw[key]; !ok {
			t.Errorf("tend status --json has no %q: %v", key, raw)
		}
	}
	for _, prog := range raw["programs"].([]any) {
		prog := prog.(map[string]any)
		_, started := prog["started"]
		if running := prog["pid"] != nil; started != running {
			t.Errorf("program %v: \"started\" should be there exactly when it runs: %v", prog["name"], prog)
		}
	}

	// status: a table with a header and one line per program.
	text := mustCtl(t, p, "status")
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) < 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "STATE") ||
		!strings.Contains(lines[0], "RESTARTS") || !strings.Contains(lines[0], "LAST EXIT") {
		t.Fatalf("tend status:\n%s", text)
	}
	var svcLine string
	for _, l := range lines[1:] {
		if strings.HasPrefix(l, "svc ") {
			svcLine = l
		}
	}
	// NAME STATE SINCE READY PID ...
	if f := strings.Fields(svcLine); len(f) < 5 || f[1] != "RUNNING" || f[3] != "yes" || f[4] != fmt.Sprint(svc.Pid) {
		t.Errorf("svc line %q, want svc RUNNING, ready, with pid %d\n%s", svcLine, svc.Pid, text)
	}

	// health: ready.
	if code, out, _ := ctl(t, p, "health"); code != 0 || !strings.Contains(out, "ready") {
		t.Errorf("tend health: exit %d, %q", code, out)
	}

	// restart: a new process, the old one got its stop signal.
	mustCtl(t, p, "restart", "svc")
	st = status(t, p)
	restarted := st.program(t, "svc")
	if restarted.Pid == 0 || restarted.Pid == svc.Pid || restarted.Restarts != 1 {
		t.Errorf("after restart: %+v (before: pid %d)", restarted, svc.Pid)
	}
	evs := waitEvents(t, p, events, 5*time.Second, "svc to start again", func(evs []progEvent) bool {
		return len(find(evs, "svc", "start")) == 2
	})
	if len(find(evs, "svc", "signal TERM")) != 1 {
		t.Errorf("restart did not stop svc with its stopsignal: %v", evs)
	}

	// stop: the process is gone and stays gone.
	mustCtl(t, p, "stop", "svc")
	st = status(t, p)
	if s := st.program(t, "svc"); s.State != "STOPPED" || s.Pid != 0 {
		t.Errorf("after stop: %+v", s)
	}
	if err := syscall.Kill(restarted.Pid, 0); err == nil {
		t.Errorf("svc (pid %d) still runs after tend stop", restarted.Pid)
	}
	time.Sleep(300 * time.Millisecond)
	if s := status(t, p).program(t, "svc"); s.State != "STOPPED" {
		t.Errorf("svc came back after tend stop: %+v", s)
	}

	// start: it runs again; a program with autostart=false starts too.
	mustCtl(t, p, "start", "svc")
	mustCtl(t, p, "start", "manual")
	st = waitStatus(t, p, 10*time.Second, "svc and manual running", func(st statusDoc) bool {
		return st.program(t, "svc").State == "RUNNING" && st.program(t, "manual").Pid != 0
	})
	if code, _, errOut := ctl(t, p, "start", "svc"); code != 1 || !strings.Contains(errOut, "already running") {
		t.Errorf("start of a running program: exit %d, %q", code, errOut)
	}
	if code, _, errOut := ctl(t, p, "start", "broken"); code != 1 || !strings.Contains(errOut, "/nonexistent/agent") {
		t.Errorf("start of a program that cannot start: exit %d, %q", code, errOut)
	}

	// signal: delivered to the program.
	mustCtl(t, p, "signal", "svc", "HUP")
	mustCtl(t, p, "signal", "manual", "USR1")
	waitEvents(t, p, events, 5*time.Second, "svc to get HUP and manual USR1", func(evs []progEvent) bool {
		return len(find(evs, "svc", "signal HUP")) == 1 && len(find(evs, "manual", "signal USR1")) == 1
	})

	// Unknown programs and bad arguments.
	for _, args := range [][]string{{"stop", "nope"}, {"restart", "nope"}, {"signal", "nope", "HUP"}} {
		if code, _, errOut := ctl(t, p, args...); code != 1 || !strings.Contains(errOut, "no such program") {
			t.Errorf("tend %s: exit %d, %q", strings.Join(args, " "), code, errOut)
		}
	}
	for _, args := range [][]string{{"signal", "svc", "NOPE"}, {"stop"}, {"status", "--yaml"}} {
		if code, _, _ := ctl(t, p, args...); code != 2 {
			t.Errorf("tend %s: exit %d, want 2", strings.Join(args, " "), code)
		}
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(10 * time.Second); code != 0 {
		t.Errorf("exit code %d\nstderr:\n%s", code, p.Stderr())
	}
	if _, err := os.Lstat(p.socket()); !os.IsNotExist(err) {
		t.Errorf("the control socket is left behind: %v", err)
	}
}

// tend health fails while a program that should run is not ready yet,
// and passes once it is.
func TestHealthWaitsForReadiness(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	flag := filepath.Join(dir, "ready")
	conf := writeConfD(t, map[string]string{
		"db.conf": fmt.Sprintf("[program:db]\ncommand = sideprog -name db -log %s\nready = exec:test -f %s\n", filepath.Join(dir, "events"), flag),
	})
	p := startTend(t, tendOptions{
		Args: []string{"--", "sleep", "60"},
		Env:  []string{conf, "TEND_MAIN_STARTSECS=0.1"},
	})
	waitStatus(t, p, 10*time.Second, "db to run", func(st statusDoc) bool { return st.program(t, "db").Pid != 0 })
	if code, out, _ := ctl(t, p, "health"); code != 1 || !strings.Contains(out, "db") {
		t.Errorf("tend health before db is ready: exit %d, %q", code, out)
	}
	os.WriteFile(flag, nil, 0o644)
	waitFor(t, 10*time.Second, "tend health to pass", func() bool {
		code, _, _ := ctl(t, p, "health")
		return code == 0
	})
}

// tend refuses to start when TEND_SOCKET names something that is not a
// socket, before it starts any program, and leaves the file alone.
func TestSocketPathThatIsARegularFileIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sock := filepath.Join(dir, "tend.sock")
	if err := os.WriteFile(sock, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	conf := writeConfD(t, map[string]string{
		"side.conf": fmt.Sprintf("[program:side]\ncommand = touch %s\n", filepath.Join(dir, "side-ran")),
	})
	code, _, stderr := runTend(t, tendOptions{
		Args: []string{"--", "touch", filepath.Join(dir, "main-ran")},
		Env:  []string{conf, "TEND_SOCKET=" + sock},
	}, 10*time.Second)
	if code != 2 {
		t.Errorf("exit code %d, want 2\nstderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "TEND_SOCKET") || !strings.Contains(stderr, "not a socket") {
		t.Errorf("stderr does not say what is wrong:\n%s", stderr)
	}
	time.Sleep(200 * time.Millisecond)
	for _, f := range []string{"main-ran", "side-ran"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists: a program was started", f)
		}
	}
	if data, _ := os.ReadFile(sock); string(data) != "precious" {
		t.Errorf("the file at TEND_SOCKET was changed: %q", data)
	}
}
