package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
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
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(sup, fakeProfiler{}, zap.NewNop())
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

// The socket is private whatever the umask, and taking it leaves the
// process's umask alone: files other goroutines create meanwhile (log
// files) keep their modes.
func TestSocketIsPrivateUnderAnOpenUmaskWhichItLeavesAlone(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "tend.sock")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Serve(&fakeSupervisor{}, fakeProfiler{}, zap.NewNop())
	if now := syscall.Umask(0); now != 0 {
		t.Errorf("umask after Listen = %o, want 0 as set", now)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode != 0o600 {
		t.Errorf("socket mode under umask 0 = %o, want 600", mode)
	}
	if resp := call(t, path, Request{Cmd: "health"}); resp == nil {
		t.Error("no answer on the socket")
	}
	s.Close(context.Background())
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind after Close: %v", err)
	}
}

func TestListenRefusesAnythingButAStaleSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep me"), 0o644)
	if _, err := Listen(file); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Listen on a regular file: %v, want ErrNotSocket", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "keep me" {
		t.Error("the regular file was changed")
	}
	if _, err := Listen(dir); !errors.Is(err, ErrNotSocket) {
		t.Errorf("Listen on a directory: %v, want ErrNotSocket", err)
	}
	_, live := listen(t, &fakeSupervisor{})
	if _, err := Listen(live); !errors.Is(err, ErrInUse) || !strings.Contains(err.Error(), "running tend") {
		t.Errorf("Listen on a live socket: %v, want ErrInUse", err)
	}
	if resp := call(t, live, Request{Cmd: "status"}); !resp.OK {
		t.Error("the live tend no longer answers")
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	s, path := listen(t, &fakeSupervisor{})
	s.ln.Listener.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	s.ln.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket not left behind: %v", err)
	}
	if err := CheckSocket(path); err != nil {
		t.Errorf("CheckSocket on a stale socket: %v", err)
	}
	s2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	s2.Serve(&fakeSupervisor{ready: true}, fakeProfiler{}, zap.NewNop())
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

func TestRequestLongerThanTheLimitIsAnsweredAndClosed(t *testing.T) {
	_, path := listen(t, &fakeSupervisor{ready: true})
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	// 1 MiB without a newline; the writes fail once tend has closed.
	go func() {
		chunk := bytes.Repeat([]byte("x"), 64<<10)
		for i := 0; i < 16; i++ {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	}()
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if resp.OK || !strings.Contains(resp.Error, "longer than 8192 bytes") {
		t.Errorf("answer %+v", resp)
	}
	if resp := call(t, path, Request{Cmd: "status"}); !resp.OK {
		t.Errorf("status after a long request: %+v", resp)
	}
}

// endless is an endless stream of 'x' that counts what was read.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

func TestReadRequestReadsNoMoreThanTheLimit(t *testing.T) {
	r := &endless{}
	if _, err := readRequest(r); !errors.Is(err, ErrRequestTooLong) {
		t.Errorf("err = %v, want ErrRequestTooLong", err)
	}
	if r.n > MaxRequest {
		t.Errorf("read %d bytes, more than the limit of %d", r.n, MaxRequest)
	}
	line := `{"cmd":"signal","name":"main","signal":"` + strings.Repeat("A", MaxRequest-60) + `"}` + "\n"
	if len(line) > MaxRequest {
		t.Fatalf("line of %d bytes", len(line))
	}
	if req, err := readRequest(strings.NewReader(line)); err != nil || req.Cmd != "signal" {
		t.Errorf("a request just under the limit: %+v, %v", req, err)
	}
}

func TestSilentClientsDoNotLockOutTheControlSocket(t *testing.T) {
	_, path := listen(t, &fakeSupervisor{ready: true})
	var silent []net.Conn
	for i := 0; i < 4*maxControlConns; i++ {
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	defer func() {
		for _, c := range silent {
			c.Close()
		}
	}()
	start := time.Now()
	if resp := call(t, path, Request{Cmd: "status"}); !resp.OK {
		t.Errorf("status: %+v", resp)
	}
	// Without the silent clients being closed to make room, the call
	// would wait for their request timeout, 5s, at least.
	t.Logf("status answered after %v with %d silent clients", time.Since(start), len(silent))
}

func TestIdleHTTPClientsHoldAtMostTheCap(t *testing.T) {
	sup := &fakeSupervisor{ready: true}
	h, err := ServeHTTP("127.0.0.1:0", sup, func() []Metric { return nil }, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	const clients = 300
	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", h.Addr)
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: tend\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// A new client is answered while the idle ones stay connected.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + h.Addr + "/healthz")
	if err != nil {
		t.Fatalf("a new /healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/healthz = %d", resp.StatusCode)
	}
	// tend closes all but at most MaxHTTPConns of them: a read on a closed
	// one ends (after the answer to its request), on an open one it waits.
	// Clients still in the accept queue look open too, until tend has
	// worked through the queue.
	open := idle
	for deadline := time.Now().Add(10 * time.Second); len(open) > MaxHTTPConns && time.Now().Before(deadline); {
		var still []net.Conn
		wait := time.Now().Add(200 * time.Millisecond)
		for _, c := range open {
			c.SetReadDeadline(wait)
			if _, err := io.Copy(io.Discard, c); err != nil {
				still = append(still, c)
			}
		}
		open = still
	}
	if len(open) > MaxHTTPConns {
		t.Errorf("%d of %d idle clients still connected, more than the cap of %d", len(open), clients, MaxHTTPConns)
	}
}

func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"status"}` + "\n", `{"cmd":"signal","name":"main","signal":"HUP"}`, "", "\n", "{", `{"cmd":1}` + "\n",
		`{"cmd":"drain","wait":true}` + "\n" + `{"cmd":"status"}` + "\n", strings.Repeat("x", MaxRequest+1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &countingReader{r: bytes.NewReader(b)}
		req, err := readRequest(r)
		if r.n > MaxRequest {
			t.Fatalf("read %d bytes, more than the limit of %d", r.n, MaxRequest)
		}
		line, _, _ := bytes.Cut(b, []byte("\n"))
		if len(line) >= MaxRequest && !errors.Is(err, ErrRequestTooLong) {
			t.Fatalf("a line of %d bytes gave %v, want ErrRequestTooLong", len(line), err)
		}
		if err != nil {
			return
		}
		// What was read survives encoding and reading again.
		enc, _ := json.Marshal(req)
		if len(enc) >= MaxRequest {
			return // escapes (such as < to \u003c) made it longer
		}
		again, err := readRequest(bytes.NewReader(append(enc, '\n')))
		if err != nil || again != req {
			t.Fatalf("%+v -> %s -> %+v, %v", req, enc, again, err)
		}
	})
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}
