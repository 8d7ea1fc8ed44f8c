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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/internal/nettest"
)

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

func mustParse(t *testing.T, s string) []config.Dependency {
	t.Helper()
	deps, err := config.ParseDependencies(s)
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

func TestWaitForEndsRightAfterATCPListenerAppears(t *testing.T) {
	addr := nettest.FreeAddr(t)
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
	err := WaitFor(context.Background(), mustParse(t, "tcp:"+addr), 0, runningReaper(t, zap.NewNop()), log.record)
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
	err := WaitFor(context.Background(), mustParse(t, "tcp:"+host+":5432"), 2*time.Second, runningReaper(t, zap.NewNop()), nil)
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
	if err := WaitFor(context.Background(), mustParse(t, srv.URL+"/health"), 0, runningReaper(t, zap.NewNop()), log.record); err != nil {
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
	up := nettest.Listen(t, "127.0.0.1:0")
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	// The server would log every handshake the check refuses.
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	down := nettest.FreeAddr(t)
	deps := mustParse(t, "tcp:"+up+",tcp:"+down+","+tlsSrv.URL+",exec:sh -c 'echo checking; echo no response from db >&2; exit 2'")
	var progress progressLog
	err := WaitFor(context.Background(), deps, 5*time.Second, runningReaper(t, zap.NewNop()), progress.record)
	var werr *WaitError
	if !errors.As(err, &werr) || !errors.Is(err, ErrWaitTimeout) {
		t.Fatalf("error = %v, want a *WaitError for the timeout", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"did not answer within 5s",
		"tcp:" + down + " (connection refused",
		tlsSrv.URL + " (TLS certificate signed by an unknown authority",
		"exec:sh -c 'echo checking; echo no response from db >&2; exit 2' (exited 2: no response from db",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "tcp:"+up) {
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
	if err := WaitFor(context.Background(), mustParse(t, "exec:test -e "+flag), 0, runningReaper(t, zap.NewNop()), log.record); err != nil {
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
	deps := mustParse(t, "tcp:"+nettest.FreeAddr(t)+",exec:sh -c 'echo $$ > "+pidFile+"; exec sleep 60'")
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
	err := WaitFor(ctx, deps, 0, runningReaper(t, zap.NewNop()), nil)
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
