package tests

import (
	"bufio"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers for the tests of several programs in one container
// (programs_*_test.go): conf.d files, the control commands, and the
// events the sideprog helper records.

// writeConfD writes files into the conf.d directory of a new
// TEND_CONFIG_DIR and returns the variable to pass in tendOptions.Env.
func writeConfD(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, "conf.d", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return "TEND_CONFIG_DIR=" + dir
}

// envOf returns the value of key in tend's environment.
func (p *tendProcess) envOf(key string) string {
	v := ""
	for _, kv := range p.cmd.Env {
		if val, ok := strings.CutPrefix(kv, key+"="); ok {
			v = val
		}
	}
	return v
}

// socket returns the control socket of this tend.
func (p *tendProcess) socket() string { return p.envOf("TEND_SOCKET") }

// ctl runs a control command (tend status, stop NAME, ...) against p and
// returns its exit code and output.
func ctl(t testing.TB, p *tendProcess, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(tendPath(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TEND_SOCKET=" + p.socket()}
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("tend %s: %v", strings.Join(args, " "), err)
		}
	}
	return exitCodeOf(cmd.ProcessState, err), out.String(), errb.String()
}

// mustCtl is ctl that fails the test unless the command exits 0.
func mustCtl(t testing.TB, p *tendProcess, args ...string) string {
	t.Helper()
	code, out, errs := ctl(t, p, args...)
	if code != 0 {
		t.Fatalf("tend %s: exit %d\nstdout: %s\nstderr: %s\ntend's stderr:\n%s", strings.Join(args, " "), code, out, errs, p.Stderr())
	}
	return out
}

// statusDoc is `tend status --json`, the fields these tests read.
type statusDoc struct {
	Ready    bool         `json:"ready"`
	Stopping bool         `json:"stopping"`
	Holding  bool         `json:"holding"`
	Programs []programDoc `json:"programs"`
}

type programDoc struct {
	Name     string `json:"name"`
	Main     bool   `json:"main"`
	State    string `json:"state"`
	Ready    bool   `json:"ready"`
	Pid      int    `json:"pid"`
	Restarts int    `json:"restarts"`
	LastExit *struct {
		Code   int    `json:"code"`
		Signal string `json:"signal"`
		Reason string `json:"reason"`
	} `json:"last_exit"`
	OOMKills   int            `json:"oom_kills"`
	WaitingFor []waitStateDoc `json:"waiting_for"`
	Reason     string         `json:"reason"`
	LastLines  []string       `json:"last_lines"`
}

// waitStateDoc is one outside service a WAITING program waits for.
type waitStateDoc struct {
	Target    string    `json:"target"`
	Since     time.Time `json:"since"`
	Attempts  int       `json:"attempts"`
	Answered  bool      `json:"answered"`
	LastError string    `json:"last_error"`
}

// program returns the status of the program called name.
func (s statusDoc) program(t testing.TB, name string) programDoc {
	t.Helper()
	for _, p := range s.Programs {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no program %s in status %+v", name, s)
	return programDoc{}
}

// status runs `tend status --json` against p.
func status(t testing.TB, p *tendProcess) statusDoc {
	t.Helper()
	out := mustCtl(t, p, "status", "--json")
	var st statusDoc
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("tend status --json: %v\n%s", err, out)
	}
	return st
}

// waitStatus polls `tend status --json` until cond holds.
func waitStatus(t testing.TB, p *tendProcess, timeout time.Duration, what string, cond func(statusDoc) bool) statusDoc {
	t.Helper()
	var st statusDoc
	deadline := time.Now().Add(timeout)
	for {
		if p.Exited() {
			t.Fatalf("tend exited (code %d) while waiting for %s\nstderr:\n%s", p.Wait(0), what, p.Stderr())
		}
		// The socket exists shortly after tend starts.
		if _, err := os.Stat(p.socket()); err == nil {
			st = status(t, p)
			if cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last status: %+v\nstderr:\n%s", timeout, what, st, p.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// progEvent is one line sideprog recorded.
type progEvent struct {
	At   time.Time
	Name string
	What string // "start", "listening", "signal TERM", "exit 0", ...
}

// readEvents returns what the sideprogs sharing path recorded so far.
func readEvents(t testing.TB, path string) []progEvent {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []progEvent
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) != 3 {
			t.Fatalf("malformed event line %q in %s", sc.Text(), path)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("malformed event line %q in %s", sc.Text(), path)
		}
		evs = append(evs, progEvent{At: time.Unix(0, ns), Name: f[1], What: f[2]})
	}
	return evs
}

// find returns the events of program name whose What is what.
func find(evs []progEvent, name, what string) []progEvent {
	var out []progEvent
	for _, e := range evs {
		if e.Name == name && e.What == what {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents polls path until cond holds for its events.
func waitEvents(t testing.TB, p *tendProcess, path string, timeout time.Duration, what string, cond func([]progEvent) bool) []progEvent {
	t.Helper()
	var evs []progEvent
	waitFor(t, timeout, what, func() bool {
		evs = readEvents(t, path)
		return cond(evs) || p.Exited()
	})
	if !cond(evs) {
		t.Fatalf("tend exited (code %d) before %s; events: %v\nstderr:\n%s", p.Wait(0), what, evs, p.Stderr())
	}
	return evs
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tendEvent is one of tend's own event lines with TEND_EVENT_FORMAT=json.
type tendEvent map[string]any

func (e tendEvent) str(key string) string { s, _ := e[key].(string); return s }

// num returns a number field of an event (0 when absent).
func (e tendEvent) num(key string) int64 { f, _ := e[key].(float64); return int64(f) }

// tendEvents parses the JSON event lines in tend's stderr; other lines
// (the programs' own stderr) are skipped.
func tendEvents(stderr string) []tendEvent {
	var out []tendEvent
	for _, line := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e tendEvent
		if json.Unmarshal([]byte(line), &e) == nil && e.str("logger") == "tend" {
			out = append(out, e)
		}
	}
	return out
}

// startedOrder returns the programs in the order tend reported starting
// them ("started" events), each once.
func startedOrder(stderr string) []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range tendEvents(stderr) {
		if name := e.str("program"); e.str("event") == "started" && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}
