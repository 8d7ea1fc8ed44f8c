package tests

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"tend/internal/nettest"
)

// startedAt returns the main program that writes the time it started
// (Unix nanoseconds) to a file, then sleeps, and the file.
func startedAt(t *testing.T) ([]string, string) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "started")
	return []string{"--", "sh", "-c", "date +%s%N > " + file + ".new && mv " + file + ".new " + file + "; exec sleep 600"}, file
}

// A service that starts listening 3 s after tend: meanwhile the main
// program is WAITING, `tend status` names the target, since when and why
// it did not answer, and readiness fails; it starts right after.
func TestMainWaitsForAListenerThatAppearsLate(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, pid1 bool) {
		addr := nettest.FreeAddr(t)
		args, started := startedAt(t)
		begin := time.Now()
		p := startTend(t, tendOptions{PID1: pid1, Args: args, Env: []string{"TEND_WAIT_FOR=tcp:" + addr}})

		st := waitStatus(t, p, 15*time.Second, "a failed check in the status", func(st statusDoc) bool {
			m := st.program(t, "main")
			return len(m.WaitingFor) == 1 && m.WaitingFor[0].LastError != ""
		})
		m := st.program(t, "main")
		w := m.WaitingFor[0]
		if m.State != "WAITING" || st.Ready || w.Target != "tcp:"+addr || w.LastError != "connection refused" || w.Since.Before(begin.Add(-time.Second)) {
			t.Errorf("status while waiting: ready %v, main %+v", st.Ready, m)
		}
		text := mustCtl(t, p, "status")
		if !strings.Contains(text, "main: waiting ") || !strings.Contains(text, "for tcp:"+addr+" (connection refused, ") {
			t.Errorf("tend status does not say what main waits for:\n%s", text)
		}
		if code, out, _ := ctl(t, p, "health"); code != 1 || !strings.Contains(out, "main WAITING (waiting ") {
			t.Errorf("tend health while waiting: exit %d, %q", code, out)
		}
		if _, err := os.Stat(started); err == nil {
			t.Fatal("main started before its outside service answered")
		}

		time.Sleep(time.Until(begin.Add(3 * time.Second)))
		nettest.Listen(t, addr)
		listening := time.Now()
		at, err := strconv.ParseInt(strings.TrimSpace(waitForFile(t, 15*time.Second, started)), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if time.Unix(0, at).Before(listening) {
			t.Errorf("main started at %v, before the listener at %v", time.Unix(0, at), listening)
		}
		waitStatus(t, p, 15*time.Second, "main ready", func(st statusDoc) bool { return st.Ready })
		p.Signal(syscall.SIGTERM)
		p.Wait(15 * time.Second)
	})
}

// An HTTP dependency answering 503 is not ready; the wait goes on, with
// the answer in the status, until it answers 200.
func TestMainWaitsThroughHTTP503For200(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	defer srv.Close()
	args, started := startedAt(t)
	p := startTend(t, tendOptions{Args: args, Env: []string{"TEND_WAIT_FOR=" + srv.URL + "/health"}})
	st := waitStatus(t, p, 15*time.Second, "the 503 in the status", func(st statusDoc) bool {
		m := st.program(t, "main")
		return len(m.WaitingFor) == 1 && m.WaitingFor[0].LastError != ""
	})
	if w := st.program(t, "main").WaitingFor[0]; w.LastError != "HTTP 503 Service Unavailable" || w.Target != srv.URL+"/health" {
		t.Errorf("wait state %+v", w)
	}
	if _, err := os.Stat(started); err == nil {
		t.Fatal("main started while its dependency answered 503")
	}
	up.Store(true)
	waitForFile(t, 15*time.Second, started)
	p.Signal(syscall.SIGTERM)
	p.Wait(15 * time.Second)
}

// Outside services that never answer within TEND_WAIT_TIMEOUT: tend
// exits 1, at the default event level naming each with why, and the main
// program never runs.
func TestWaitTimeoutExitsOneNamingEachDependency(t *testing.T) {
	t.Parallel()
	down := nettest.FreeAddr(t)
	up := nettest.Listen(t, "127.0.0.1:0")
	args, started := startedAt(t)
	code, _, stderr := runTend(t, tendOptions{Args: args, Env: []string{
		"TEND_WAIT_FOR=tcp:" + down + ",tcp:" + up + ",exec:sh -c 'echo no response from db; exit 2'",
		"TEND_WAIT_TIMEOUT=2s",
	}}, 20*time.Second)
	if code != 1 {
		t.Errorf("tend exited %d, want 1\nstderr:\n%s", code, stderr)
	}
	line := ""
	for _, l := range strings.Split(stderr, "\n") {
		if strings.Contains(l, "\tERROR\ttend\toutside services did not answer: the main program cannot start; tend exits 1\t") {
			line = l
		}
	}
	if line == "" {
		t.Fatalf("no error event says why tend exits:\n%s", stderr)
	}
	for _, want := range []string{"did not answer within 2s", "tcp:" + down + " (connection refused", "exec:sh -c 'echo no response from db; exit 2' (exited 2: no response from db"} {
		if !strings.Contains(line, want) {
			t.Errorf("the error event lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, up) {
		t.Errorf("the error event names the service that answered:\n%s", line)
	}
	if _, err := os.Stat(started); err == nil {
		t.Error("the main program ran")
	}
}

// A name that does not resolve is said to be one, and times out.
func TestWaitForANameThatDoesNotResolve(t *testing.T) {
	t.Parallel()
	const host = "tend-wait-test.invalid"
	var dnsErr *net.DNSError
	if _, err := net.DefaultResolver.LookupHost(context.Background(), host); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		// .invalid never resolves (RFC 6761), but without a resolver the
		// answer is a failure to ask, not "not found".
		skipOrFail(t, fmt.Sprintf("this test needs a resolver that answers NXDOMAIN for %s: %v", host, err))
	}
	code, _, stderr := runTend(t, tendOptions{Args: []string{"--", "sleep", "600"},
		Env: []string{"TEND_WAIT_FOR=tcp:" + host + ":5432", "TEND_WAIT_TIMEOUT=2s"}}, 20*time.Second)
	if code != 1 {
		t.Errorf("tend exited %d, want 1\nstderr:\n%s", code, stderr)
	}
	if want := `tcp:` + host + `:5432 (name \"` + host + `\" not found`; !strings.Contains(stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr)
	}
}

// TERM while the main program waits stops tend at once, long before the
// wait's timeout, with nothing started.
func TestTermWhileWaitingExitsPromptly(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, pid1 bool) {
		args, started := startedAt(t)
		p := startTend(t, tendOptions{PID1: pid1, Args: args, Env: []string{
			"TEND_WAIT_FOR=tcp:127.0.0.1:" + strconv.Itoa(freePort(t)) + ",exec:sleep 600", "TEND_WAIT_TIMEOUT=10m",
		}})
		waitStatus(t, p, 15*time.Second, "main to wait", func(st statusDoc) bool { return st.program(t, "main").State == "WAITING" })
		p.Signal(syscall.SIGTERM)
		// The wait's timeout is ten minutes; the stop budget ten seconds.
		p.Wait(15 * time.Second)
		if _, err := os.Stat(started); err == nil {
			t.Error("the main program ran")
		}
		if strings.Contains(p.Stderr(), "did not answer") {
			t.Errorf("the wait ran out instead of being cut:\n%s", p.Stderr())
		}
	})
}

// A side program waits for its own outside services, the main program
// for its own and TEND_WAIT_FOR; a side program's that never answer make
// it FATAL and the container goes on.
func TestSideProgramWaitForIsItsOwn(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	conf := writeConfD(t, map[string]string{
		"agent.conf": fmt.Sprintf("[program:agent]\ncommand = sleep 600\nwait_for = tcp:127.0.0.1:%d\n", port),
	})
	p := startTend(t, tendOptions{Args: []string{"--", "sleep", "600"}, Env: []string{conf, "TEND_WAIT_TIMEOUT=2s"}})
	st := waitStatus(t, p, 15*time.Second, "agent FATAL", func(st statusDoc) bool { return st.program(t, "agent").State == "FATAL" })
	if a := st.program(t, "agent"); !strings.Contains(a.Reason, fmt.Sprintf("did not answer within 2s: tcp:127.0.0.1:%d (connection refused", port)) {
		t.Errorf("agent: %+v", a)
	}
	if m := st.program(t, "main"); m.State == "FATAL" || m.State == "EXITED" {
		t.Errorf("main: %+v", m)
	}
	waitStatus(t, p, 15*time.Second, "main running", func(st statusDoc) bool { return st.program(t, "main").State == "RUNNING" })
	p.Signal(syscall.SIGTERM)
	if code := p.Wait(15 * time.Second); code == 1 {
		t.Errorf("tend exited 1 for a side program that is not critical\nstderr:\n%s", p.Stderr())
	}
}

// A dependency in a form tend does not know is refused before anything
// starts: exit 2, naming the variable or file:line, the value and the
// form.
func TestBadWaitForIsRefusedBeforeAnythingStarts(t *testing.T) {
	t.Parallel()
	args, started := startedAt(t)
	code, _, stderr := runTend(t, tendOptions{Args: args, Env: []string{"TEND_WAIT_FOR=db:5432"}}, 10*time.Second)
	if code != 2 || !strings.Contains(stderr, `TEND_WAIT_FOR="db:5432": "db:5432": unknown kind of dependency; expected a comma-separated list of tcp:HOST:PORT`) {
		t.Errorf("exit %d\nstderr:\n%s", code, stderr)
	}
	conf := writeConfD(t, map[string]string{"agent.conf": "[program:agent]\ncommand = sleep 600\nwait_for = tcp:vault\n"})
	code, _, stderr = runTend(t, tendOptions{Args: args, Env: []string{conf}}, 10*time.Second)
	if code != 2 || !strings.Contains(stderr, `agent.conf:3="tcp:vault": "tcp:vault": no HOST:PORT after the tcp: prefix; expected`) {
		t.Errorf("exit %d\nstderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(started); err == nil {
		t.Error("the main program ran")
	}
}
