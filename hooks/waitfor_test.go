package hooks

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"tend/reaper"
)

// runningReaper returns a reaper whose loop runs until the test ends.
func runningReaper(t *testing.T) *reaper.Reaper {
	t.Helper()
	r := reaper.New(zap.NewNop())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// progressLog records what WaitFor reports.
type progressLog struct {
	mu     sync.Mutex
	states [][]DependencyState
}

func (p *progressLog) record(s []DependencyState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states = append(p.states, s)
}

// errors returns every LastError reported for dependency i, in order.
func (p *progressLog) errors(i int) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []string
	for _, s := range p.states {
		if e := s[i].LastError; e != "" && (len(errs) == 0 || errs[len(errs)-1] != e) {
			errs = append(errs, e)
		}
	}
	return errs
}

func (p *progressLog) last() []DependencyState {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.states) == 0 {
		return nil
	}
	return p.states[len(p.states)-1]
}

// closedPort returns a local TCP address that nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func mustParse(t *testing.T, s string) []Dependency {
	t.Helper()
	deps, err := ParseDependencies(s)
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

func TestParseDependenciesReadsEveryKind(t *testing.T) {
	got := mustParse(t, "tcp:db:5432, http://cfg:8888/health?probe=a,b ,https://[::1]:8443/ready,exec:pg_isready -h db -t 'a,b',tcp:[::1]:6379")
	want := []Dependency{
		{Spec: "tcp:db:5432", Kind: DependTCP, Address: "db:5432"},
		{Spec: "http://cfg:8888/health?probe=a,b", Kind: DependHTTP, Address: "http://cfg:8888/health?probe=a,b"},
		{Spec: "https://[::1]:8443/ready", Kind: DependHTTP, Address: "https://[::1]:8443/ready"},
		{Spec: "exec:pg_isready -h db -t 'a,b'", Kind: DependExec, Command: []string{"pg_isready", "-h", "db", "-t", "a,b"}},
		{Spec: "tcp:[::1]:6379", Kind: DependTCP, Address: "[::1]:6379"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if deps, err := ParseDependencies("  "); err != nil || deps != nil {
		t.Errorf("an empty list parses to %v, %v", deps, err)
	}
}

func TestParseDependenciesErrorsQuoteTheEntryAndTheForm(t *testing.T) {
	cases := map[string][]string{
		"tcp:db":                {`"tcp:db"`, "tcp:HOST:PORT"},
		"tcp::5432":             {`"tcp::5432"`, "tcp:HOST:PORT"},
		"tcp:db:99999":          {`"99999" is not a TCP port`, "tcp:HOST:PORT"},
		"tcp:db:5432,db:6379":   {`"db:6379": unknown kind`, "tcp:HOST:PORT, http://URL, https://URL or exec:COMMAND"},
		"tcp:a:1,,tcp:b:2":      {"entry 2 is empty", "comma-separated"},
		"exec:":                 {`"exec:": no command`, "exec:COMMAND"},
		"exec:echo 'unfinished": {`"exec:echo 'unfinished"`, "exec:COMMAND"},
		"http://":               {`"http://": not a valid URL`, "http://HOST"},
	}
	for in, wants := range cases {
		_, err := ParseDependencies(in)
		if err == nil {
			t.Errorf("%q parses", in)
			continue
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error %q lacks %q", in, err, want)
			}
		}
	}
}

func TestWaitForEndsRightAfterATCPListenerAppears(t *testing.T) {
	addr := closedPort(t)
	var appeared atomic.Int64
	go func() {
		time.Sleep(3 * time.Second)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		appeared.Store(time.Now().UnixNano())
		t.Cleanup(func() { l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var log progressLog
	err := WaitFor(context.Background(), mustParse(t, "tcp:"+addr), 0, runningReaper(t), log.record)
	if err != nil {
		t.Fatal(err)
	}
	last := log.last()
	if len(last) != 1 || !last[0].Answered || last[0].Attempts < 2 {
		t.Fatalf("last state %+v, want answered after several attempts", last)
	}
	if at := appeared.Load(); at == 0 || last[0].AnsweredAt.UnixNano() < at {
		t.Errorf("answered at %v, before the listener appeared", last[0].AnsweredAt)
	}
	if errs := log.errors(0); len(errs) != 1 || errs[0] != "connection refused" {
		t.Errorf("errors before the answer = %q, want connection refused", errs)
	}
}

func TestWaitForSaysWhenANameDoesNotResolve(t *testing.T) {
	const host = "tend-wait-test.invalid"
	var dnsErr *net.DNSError
	if _, err := net.DefaultResolver.LookupHost(context.Background(), host); !errors.As(err, &dnsErr) || !dnsErr.IsNotFound {
		// .invalid never resolves (RFC 6761), but without a resolver the
		// answer is a failure to ask, not "not found".
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but this machine's resolver does not answer NXDOMAIN for %s: %v", host, err)
		}
		t.Skipf("this test needs a resolver that answers NXDOMAIN for %s: %v", host, err)
	}
	err := WaitFor(context.Background(), mustParse(t, "tcp:"+host+":5432"), 2*time.Second, runningReaper(t), nil)
	if !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error = %v, want a timeout", err)
	}
	if want := `tcp:` + host + `:5432 (name "` + host + `" not found`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q lacks %q", err, want)
	}
}

func TestWaitForHTTPWaitsThrough503For200(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	var log progressLog
	if err := WaitFor(context.Background(), mustParse(t, srv.URL+"/health"), 0, runningReaper(t), log.record); err != nil {
		t.Fatal(err)
	}
	if last := log.last(); len(last) != 1 || !last[0].Answered || last[0].Attempts != 3 {
		t.Errorf("last state %+v, want answered at the third attempt", last)
	}
	if errs := log.errors(0); len(errs) != 1 || errs[0] != "HTTP 503 Service Unavailable" {
		t.Errorf("errors before the answer = %q, want HTTP 503", errs)
	}
}

func TestWaitForTimeoutNamesEveryDependencyThatNeverAnswered(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// The server would log every handshake the check refuses.
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	down := closedPort(t)
	deps := mustParse(t, "tcp:"+up.Addr().String()+",tcp:"+down+","+tlsSrv.URL+",exec:sh -c 'echo checking; echo no response from db >&2; exit 2'")
	var progress progressLog
	err = WaitFor(context.Background(), deps, 2*time.Second, runningReaper(t), progress.record)
	var werr *WaitError
	if !errors.As(err, &werr) || !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error = %v, want a *WaitError for the timeout", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"did not answer within 2s",
		"tcp:" + down + " (connection refused",
		tlsSrv.URL + " (TLS certificate signed by an unknown authority",
		"exec:sh -c 'echo checking; echo no response from db >&2; exit 2' (exited 2: no response from db",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "tcp:"+up.Addr().String()) {
		t.Errorf("error %q names the dependency that answered", msg)
	}
	if len(werr.Pending) != 3 {
		t.Errorf("pending = %+v, want 3", werr.Pending)
	}
	if last := progress.last(); !last[0].Answered || last[1].Answered {
		t.Errorf("last states %+v", last)
	}
}

func TestWaitForExecAnswersWhenTheCommandSucceeds(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "ready")
	go func() {
		time.Sleep(time.Second)
		os.WriteFile(flag, nil, 0o644)
	}()
	var log progressLog
	if err := WaitFor(context.Background(), mustParse(t, "exec:test -e "+flag), 0, runningReaper(t), log.record); err != nil {
		t.Fatal(err)
	}
	if errs := log.errors(0); len(errs) != 1 || errs[0] != "exited 1" {
		t.Errorf("errors before the answer = %q, want exited 1", errs)
	}
}

// TERM while waiting cancels the context: WaitFor returns then, not at
// its timeout, and the check command in flight is killed.
func TestWaitForReturnsWhenCancelledAndKillsItsCommand(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	deps := mustParse(t, "tcp:"+closedPort(t)+",exec:sh -c 'echo $$ > "+pidFile+"; exec sleep 60'")
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if _, err := os.Stat(pidFile); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
	}()
	err := WaitFor(ctx, deps, 0, runningReaper(t), nil)
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error = %v, want cancelled", err)
	}
	if !strings.Contains(err.Error(), "cut short") {
		t.Errorf("error %q does not say the wait was cut short", err)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if pid <= 0 {
		t.Fatalf("no pid in %q", b)
	}
	// Run waits for the reaper to collect the killed command, so the
	// PID is gone, not a zombie.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("the check command (pid %d) outlived the wait: kill -0 says %v", pid, err)
	}
}

// A list that parses is the list of its entries: joined again with
// commas, the entries parse to the same dependencies.
func FuzzParseDependencies(f *testing.F) {
	for _, s := range []string{
		"tcp:db:5432", "tcp:db:5432, http://cfg:8888/health?probe=a,b ,https://[::1]:8443/ready",
		"exec:pg_isready -h db -t 'a,b',tcp:[::1]:6379", "exec:sh -c \"a, b\"", "tcp:a:1,,tcp:b:2", "db:5432",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := ParseDependencies(s)
		if err != nil {
			return
		}
		var specs []string
		for _, d := range deps {
			switch d.Kind {
			case DependTCP, DependHTTP:
				if d.Address == "" {
					t.Fatalf("%q: %+v has no address", s, d)
				}
			case DependExec:
				if len(d.Command) == 0 {
					t.Fatalf("%q: %+v has no command", s, d)
				}
			default:
				t.Fatalf("%q: %+v has no kind", s, d)
			}
			specs = append(specs, d.Spec)
		}
		again, err := ParseDependencies(strings.Join(specs, ","))
		if err != nil || !reflect.DeepEqual(again, deps) {
			t.Fatalf("%q parses to %+v; its entries joined parse to %+v, %v", s, deps, again, err)
		}
	})
}
