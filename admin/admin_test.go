package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"tend/logship"
	"tend/resources"
	"tend/supervisor"
)

// fakeSupervisor records control calls. The admin package only relays
// requests, so a recorder shows what reached the supervisor.
type fakeSupervisor struct {
	mu      sync.Mutex
	calls   []string
	ready   bool
	stopped chan struct{}
}

func (f *fakeSupervisor) record(s string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
	if strings.HasSuffix(s, " nope") {
		return errors.New("no such program: nope")
	}
	return nil
}
func (f *fakeSupervisor) Status() supervisor.Status {
	return supervisor.Status{Ready: f.ready, Programs: []supervisor.ProgramStatus{{Name: "main", State: supervisor.Running}}}
}
func (f *fakeSupervisor) Ready() bool                                   { return f.ready }
func (f *fakeSupervisor) Start(_ context.Context, n string) error       { return f.record("start " + n) }
func (f *fakeSupervisor) StopProgram(_ context.Context, n string) error { return f.record("stop " + n) }
func (f *fakeSupervisor) Restart(_ context.Context, n string) error     { return f.record("restart " + n) }
func (f *fakeSupervisor) Signal(n string, sig syscall.Signal) error {
	return f.record(fmt.Sprintf("signal %s %d", n, sig))
}
func (f *fakeSupervisor) Drain() <-chan struct{} { f.record("drain"); return f.stopped }

type fakeProfiler struct{}

func (fakeProfiler) Profile() resources.Profile { return resources.Profile{Kind: "light"} }

func listen(t *testing.T, sup Supervisor) (*Server, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tend.sock")
	s, err := Listen(path, sup, fakeProfiler{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, path
}

func call(t *testing.T, path string, req Request) *Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := Call(ctx, path, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestSocketIsPrivate(t *testing.T) {
	_, path := listen(t, &fakeSupervisor{})
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("socket mode = %o, want 600", mode)
	}
}

func TestListenRefusesAnythingButAStaleSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o644)
	if _, err := Listen(file, &fakeSupervisor{}, fakeProfiler{}, zap.NewNop()); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Listen on a regular file: %v, want ErrNotSocket", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("the regular file was changed")
	}
	if _, err := Listen(dir, &fakeSupervisor{}, fakeProfiler{}, zap.NewNop()); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Listen on a directory: %v, want ErrNotSocket", err)
	}
	_, live := listen(t, &fakeSupervisor{})
	if _, err := Listen(live, &fakeSupervisor{}, fakeProfiler{}, zap.NewNop()); err == nil || !strings.Contains(err.Error(), "another tend") {
		t.Errorf("Listen on a live socket: %v, want refusal", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	s, path := listen(t, &fakeSupervisor{})
	s.ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	s.ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	s2, err := Listen(path, &fakeSupervisor{ready: true}, fakeProfiler{}, zap.NewNop())
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer s2.Close(context.Background())
	if resp := call(t, path, Request{Cmd: "health"}); !resp.OK {
		t.Error("new server does not answer")
	}
}

func TestControlCommandsReachTheSupervisor(t *testing.T) {
	sup := &fakeSupervisor{ready: true, stopped: make(chan struct{})}
	_, path := listen(t, sup)
	for _, req := range []Request{
		{Cmd: "start", Name: "agent"},
		{Cmd: "stop", Name: "agent"},
		{Cmd: "restart", Name: "agent"},
		{Cmd: "signal", Name: "main", Signal: "USR1"},
		{Cmd: "drain"},
	} {
		if resp := call(t, path, req); !resp.OK {
			t.Errorf("%+v: %s", req, resp.Error)
		}
	}
	want := []string{"start agent", "stop agent", "restart agent", "signal main 10", "drain"}
	if got := strings.Join(sup.calls, ","); got != strings.Join(want, ",") {
		t.Errorf("calls = %s, want %s", got, strings.Join(want, ","))
	}
	if resp := call(t, path, Request{Cmd: "restart", Name: "nope"}); resp.OK || !strings.Contains(resp.Error, "nope") {
		t.Errorf("unknown program answered %+v", resp)
	}
	if resp := call(t, path, Request{Cmd: "signal", Name: "main", Signal: "BOGUS"}); resp.OK {
		t.Error("bad signal accepted")
	}
	if resp := call(t, path, Request{Cmd: "profile"}); !resp.OK || resp.Profile == nil || resp.Profile.Kind != "light" {
		t.Errorf("profile answered %+v", resp)
	}
}

func TestDrainWaitAnswersWhenTheStopHasFinished(t *testing.T) {
	sup := &fakeSupervisor{stopped: make(chan struct{})}
	_, path := listen(t, sup)
	answered := make(chan *Response, 1)
	go func() { answered <- call(t, path, Request{Cmd: "drain", Wait: true}) }()
	select {
	case <-answered:
		t.Fatal("drain --wait answered before the stop finished")
	case <-time.After(200 * time.Millisecond):
	}
	close(sup.stopped)
	select {
	case resp := <-answered:
		if !resp.OK {
			t.Errorf("drain answered %+v", resp)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain --wait did not answer once the stop finished")
	}
}

func TestHTTPEndpoints(t *testing.T) {
	sup := &fakeSupervisor{ready: true}
	h, err := ServeHTTP("127.0.0.1:0", sup, func() []Metric { return StatusMetrics(sup.Status()) }, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + h.Addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d while ready", code)
	}
	sup.ready = false
	if code, _ := get("/readyz"); code != 503 {
		t.Errorf("/readyz = %d while not ready, want 503", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := get("/status"); code != 200 || !strings.Contains(body, `"name": "main"`) {
		t.Errorf("/status = %d %s", code, body)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "# TYPE tend_program_restarts_total counter") ||
		!strings.Contains(body, `tend_program_state{program="main",state="RUNNING"} 1`) || !strings.Contains(body, "tend_ready 0") {
		t.Errorf("/metrics = %d\n%s", code, body)
	}
}

func TestMetricsCountLogDrops(t *testing.T) {
	st := supervisor.Status{
		Logs: &logship.Status{DiskUsed: 1234, CleanupsTotal: 2},
		Programs: []supervisor.ProgramStatus{{Name: "main", State: supervisor.Running,
			Logs: &logship.ProgramStats{Lines: 10, RateDropped: logship.Drops{Lines: 3, Bytes: 30}}}},
	}
	var b strings.Builder
	writeMetrics(&b, StatusMetrics(st))
	for _, want := range []string{
		`tend_log_lines_total{program="main"} 10`,
		`tend_log_dropped_lines_total{program="main",reason="rate"} 3`,
		`tend_log_disk_used_bytes 1234`,
		`tend_log_cleanups_total 2`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, b.String())
		}
	}
}
