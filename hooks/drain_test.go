package hooks

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"tend/config"
	"tend/reaper"
)

// captured collects what a Capturer is given, per program and stream.
type captured struct {
	mu  sync.Mutex
	wg  sync.WaitGroup
	out map[string]*bytes.Buffer
}

func (c *captured) Capture(program, stream string, r *os.File) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer r.Close()
		b, _ := io.ReadAll(r)
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.out == nil {
			c.out = map[string]*bytes.Buffer{}
		}
		key := program + "/" + stream
		if c.out[key] == nil {
			c.out[key] = &bytes.Buffer{}
		}
		c.out[key].Write(b)
	}()
}

// text waits for every capture to reach EOF and returns what it read.
func (c *captured) text(key string) string {
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.out[key] == nil {
		return ""
	}
	return c.out[key].String()
}

// runningReaper returns a reaper logging to log whose loop runs until the
// test ends.
func runningReaper(t *testing.T, log *zap.Logger) *reaper.Reaper {
	t.Helper()
	r := reaper.New(log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// newTestDrainer returns a Drainer for cfg with a running reaper, a
// capturer and an observed log.
func newTestDrainer(t *testing.T, cfg config.Stop) (*Drainer, *captured, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	r := runningReaper(t, log)
	if cfg.PrestopTimeout == 0 {
		cfg.PrestopTimeout = 5 * time.Second
	}
	out := &captured{}
	return NewDrainer(cfg, r, out, os.Environ(), log), out, logs
}

func warnings(logs *observer.ObservedLogs) []string {
	var msgs []string
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
		msgs = append(msgs, e.Message)
	}
	return msgs
}

func TestPreStopCommandOutputIsLoggedAsPrestop(t *testing.T) {
	d, out, logs := newTestDrainer(t, config.Stop{
		Prestop: []string{"sh", "-c", "echo deregistered; echo careful >&2"},
	})
	d.PreStop(context.Background())
	if got := out.text("prestop/stdout"); got != "deregistered\n" {
		t.Errorf("prestop stdout = %q", got)
	}
	if got := out.text("prestop/stderr"); got != "careful\n" {
		t.Errorf("prestop stderr = %q", got)
	}
	if logs.FilterMessage("pre-stop command done").Len() != 1 {
		t.Errorf("no success logged; warnings: %v", warnings(logs))
	}
}

func TestPreStopCommandFailureIsLoggedAndTheStopGoesOn(t *testing.T) {
	d, _, logs := newTestDrainer(t, config.Stop{Prestop: []string{"sh", "-c", "exit 3"}})
	d.PreStop(context.Background())
	e := logs.FilterMessageSnippet("exited non-zero").All()
	if len(e) != 1 || e[0].Level != zapcore.WarnLevel || e[0].ContextMap()["code"] != int64(3) {
		t.Errorf("want one warning with code 3, got %+v", e)
	}

	d, _, logs = newTestDrainer(t, config.Stop{Prestop: []string{"no-such-command-anywhere"}})
	d.PreStop(context.Background())
	if logs.FilterMessageSnippet("pre-stop command failed").Len() != 1 {
		t.Errorf("a command that cannot start is not logged as failed; warnings: %v", warnings(logs))
	}
}

func TestPreStopHangingCommandIsKilledAtItsTimeout(t *testing.T) {
	d, out, logs := newTestDrainer(t, config.Stop{
		// The child keeps the output pipe open: only killing the group
		// lets the capture end.
		Prestop:        []string{"sh", "-c", "sleep 1000 & wait"},
		PrestopTimeout: 300 * time.Millisecond,
	})
	begin := time.Now()
	d.PreStop(context.Background())
	took := time.Since(begin)
	if took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("PreStop took %s, want about its 300ms timeout", took)
	}
	// The capture ends: nothing holds the output pipe any more.
	out.text("prestop/stdout")
	if logs.FilterMessageSnippet("pre-stop command failed").Len() != 1 {
		t.Errorf("the cut is not logged; warnings: %v", warnings(logs))
	}
}

func TestPreStopIsCutWhenTheDrainDeadlineComesFirst(t *testing.T) {
	d, _, _ := newTestDrainer(t, config.Stop{
		Prestop:        []string{"sleep", "1000"},
		PrestopTimeout: time.Minute,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	begin := time.Now()
	d.PreStop(ctx)
	if took := time.Since(begin); took > 1500*time.Millisecond {
		t.Errorf("PreStop took %s past a 200ms deadline", took)
	}
}

func TestPreStopHTTPSendsMethodBodyAndJSONType(t *testing.T) {
	type seen struct{ method, path, ctype, body string }
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.Header.Get("Content-Type"), string(b)}
	}))
	defer srv.Close()
	d, _, logs := newTestDrainer(t, config.Stop{PrestopHTTP: &config.HTTPRequest{
		Method: "PUT", URL: srv.URL + "/actuator/service-registry", Body: `{"status":"OUT_OF_SERVICE"}`,
	}})
	d.PreStop(context.Background())
	want := seen{"PUT", "/actuator/service-registry", "application/json", `{"status":"OUT_OF_SERVICE"}`}
	if s := <-got; s != want {
		t.Errorf("server saw %+v, want %+v", s, want)
	}
	if logs.FilterMessage("pre-stop request done").Len() != 1 {
		t.Errorf("no success logged; warnings: %v", warnings(logs))
	}
}

func TestPreStopHTTPErrorStatusIsLogged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "registry down", http.StatusBadGateway)
	}))
	defer srv.Close()
	d, _, logs := newTestDrainer(t, config.Stop{PrestopHTTP: &config.HTTPRequest{Method: "POST", URL: srv.URL}})
	d.PreStop(context.Background())
	e := logs.FilterMessageSnippet("answered with an error").All()
	if len(e) != 1 || e[0].ContextMap()["status"] != int64(502) || e[0].ContextMap()["body"] != "registry down" {
		t.Errorf("want one warning with status 502 and the body, got %+v", e)
	}
}

func TestPreStopRunsCommandAndRequestConcurrently(t *testing.T) {
	// Each hook waits for a sign that the other has started: run one
	// after the other, the first would wait in vain and fail.
	dir := t.TempDir()
	cmdStarted, reqStarted := filepath.Join(dir, "command-started"), filepath.Join(dir, "request-started")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := os.WriteFile(reqStarted, nil, 0o644); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for deadline := time.Now().Add(4 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(cmdStarted); err == nil {
				return
			}
		}
		http.Error(w, "the pre-stop command never started", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	d, _, logs := newTestDrainer(t, config.Stop{
		Prestop: []string{"sh", "-c", `touch "$1"; i=0; while [ ! -e "$2" ] && [ $i -lt 400 ]; do sleep 0.01; i=$((i+1)); done; [ -e "$2" ]`,
			"hook", cmdStarted, reqStarted},
		PrestopHTTP:    &config.HTTPRequest{Method: "GET", URL: srv.URL},
		PrestopTimeout: 10 * time.Second,
	})
	d.PreStop(context.Background())
	if n := len(warnings(logs)); n != 0 {
		t.Errorf("the hooks did not run at the same time; warnings: %v", warnings(logs))
	}
}

func TestPreStopHTTPLeavesNoConnectionOpen(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	port := uint16(srv.Listener.Addr().(*net.TCPAddr).Port)
	d, _, _ := newTestDrainer(t, config.Stop{PrestopHTTP: &config.HTTPRequest{Method: "PUT", URL: srv.URL}})
	d.PreStop(context.Background())
	deadline := time.Now().Add(2 * time.Second)
	for countOn(t, port) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the hook's connection to the service is still open: it would hold the connection drain")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDelayWaitsOrEndsWithContext(t *testing.T) {
	d, _, _ := newTestDrainer(t, config.Stop{DrainDelay: 200 * time.Millisecond})
	begin := time.Now()
	d.Delay(context.Background())
	if took := time.Since(begin); took < 200*time.Millisecond {
		t.Errorf("Delay took %s, want 200ms", took)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin = time.Now()
	d.Delay(ctx)
	if took := time.Since(begin); took > 500*time.Millisecond {
		t.Errorf("Delay took %s past a 50ms deadline", took)
	}
}

func TestWaitConnectionsEndsWhenTheLastConnectionCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		conns = append(conns, c)
	}
	// The clients finish one after another, the last at 300ms.
	for i, c := range conns {
		time.AfterFunc(time.Duration(i+1)*100*time.Millisecond, func() { c.Close() })
	}
	d, _, logs := newTestDrainer(t, config.Stop{DrainPorts: []int{port}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	d.WaitConnections(ctx)
	took := time.Since(begin)
	if took < 300*time.Millisecond || took > time.Second {
		t.Errorf("WaitConnections took %s, want just over 300ms", took)
	}
	e := logs.FilterMessage("waiting for connections to close").All()
	if len(e) != 1 || e[0].ContextMap()["open"] != int64(3) {
		t.Errorf("want a start line with 3 open, got %+v", e)
	}
}

func TestWaitConnectionsCountsIdleKeepAliveUntilTheDeadline(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	// One finished request leaves the client's connection open and idle.
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	d, _, logs := newTestDrainer(t, config.Stop{DrainPorts: []int{port}})
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	begin := time.Now()
	d.WaitConnections(ctx)
	if took := time.Since(begin); took < 400*time.Millisecond {
		t.Errorf("WaitConnections ended after %s with an idle keep-alive connection open", took)
	}
	if logs.FilterMessageSnippet("still open").Len() != 1 {
		t.Errorf("the open connection at the deadline is not logged; warnings: %v", warnings(logs))
	}

	// When the client closes its idle connection, as a load balancer
	// removing the backend does, the wait ends at once.
	time.AfterFunc(200*time.Millisecond, srv.Client().CloseIdleConnections)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin = time.Now()
	d.WaitConnections(ctx)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("WaitConnections took %s after the client closed its idle connection", took)
	}
}

func TestWaitConnectionsIgnoresOtherPortsAndNoPorts(t *testing.T) {
	port, _ := openConns(t, "tcp4", "127.0.0.1:0", 2)
	d, _, _ := newTestDrainer(t, config.Stop{DrainPorts: []int{int(port) ^ 1}})
	begin := time.Now()
	d.WaitConnections(context.Background())
	d, _, _ = newTestDrainer(t, config.Stop{})
	d.WaitConnections(context.Background())
	// One reading of the tables, no polling.
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %s with no connection on the drained ports", took)
	}
}

func TestWaitConnectionsGivesUpWhenTablesAreUnreadable(t *testing.T) {
	d, _, logs := newTestDrainer(t, config.Stop{DrainPorts: []int{8080}})
	bad := t.TempDir() + "/tcp"
	if err := os.WriteFile(bad, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.tables = []string{bad}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	begin := time.Now()
	d.WaitConnections(ctx)
	if took := time.Since(begin); took > time.Second {
		t.Errorf("took %s on an unreadable table", took)
	}
	if logs.FilterMessageSnippet("cannot read the socket tables").Len() != 1 {
		t.Errorf("not logged; warnings: %v", warnings(logs))
	}
}

// alive reports whether pid runs; a zombie waiting for whoever inherited
// it has been killed already.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(stat), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}

func TestPreStopCutKillsTheHooksChildren(t *testing.T) {
	d, out, _ := newTestDrainer(t, config.Stop{
		Prestop: []string{"sh", "-c", "sleep 1000 & echo $!; wait"},
		// Long enough for the shell to print on a busy machine.
		PrestopTimeout: time.Second,
	})
	d.PreStop(context.Background())
	pid := strings.TrimSpace(out.text("prestop/stdout"))
	n, err := strconv.Atoi(pid)
	if err != nil {
		t.Fatalf("no pid printed: %q", pid)
	}
	deadline := time.Now().Add(2 * time.Second)
	for alive(n) {
		if time.Now().After(deadline) {
			t.Fatalf("the hook's child %d still runs", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
