package tests

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"tend/internal/fluentdtest"
	"tend/internal/nettest"
)

// `tend -- echo hi` with nothing listening at TEND_FLUENT_ADDR exits after
// the 2 s tend waits for a receiver that refuses, not after the stop
// budget (10 s by default), and its exit event says the record never
// arrived.
func TestFluentUnreachableReceiverDoesNotHoldTheExit(t *testing.T) {
	t.Parallel()
	addr := nettest.FreeAddr(t)
	tendPath(t) // built before the clock starts
	start := time.Now()
	code, stdout, stderr := runTend(t, tendOptions{
		Env:  []string{"TEND_FLUENT_ADDR=" + addr, "TEND_EVENT_FORMAT=json"},
		Args: []string{"--", "echo", "hi"},
	}, 30*time.Second)
	took := time.Since(start)
	if code != 0 || stdout != "hi\n" {
		t.Fatalf("tend exited %d with stdout %q\n%s", code, stdout, stderr)
	}
	t.Logf("tend took %s", took.Round(time.Millisecond))
	// The stop budget is 10 s; the wait for a receiver that refuses, 2 s.
	if took >= 6*time.Second {
		t.Errorf("tend took %s to exit with the receiver unreachable; it waits 2 s for it, not the stop budget", took.Round(time.Millisecond))
	}
	ev := exitEvent(t, stderr)
	if ev.str("event") != "not every record reached fluentd" || ev.num("records_never_arrived") != 1 || ev.num("dropped_stop") != 1 {
		t.Errorf("exit event %v; want the one record counted as never arrived", ev)
	}
}

// A receiver that accepts connections but never reads nor acknowledges
// holds tend's stop no longer than TEND_STOP_TIMEOUT (the default, 10 s);
// the records left are counted and named in the exit event.
func TestFluentStalledReceiverDoesNotHoldTheStop(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var conns []net.Conn
		for {
			c, err := l.Accept()
			if err != nil {
				for _, c := range conns {
					c.Close()
				}
				return
			}
			conns = append(conns, c) // held, never read
		}
	}()
	done := filepath.Join(t.TempDir(), "done")
	p := startTend(t, tendOptions{
		Env:    []string{"TEND_FLUENT_ADDR=" + l.Addr().String(), "TEND_FLUENT_ACK=true", "TEND_EVENT_FORMAT=json"},
		Args:   []string{"--", logsgenPath(t), "-n", "200000", "-done", done, "-hold"},
		Stdout: devNull(t),
	})
	waitForFile(t, 60*time.Second, done)
	st := fluentState(t, p)
	p.Signal(syscall.SIGTERM)
	start := time.Now()
	code := p.Wait(30 * time.Second)
	took := time.Since(start)
	t.Logf("status before the stop: %+v; the stop took %s", st, took.Round(time.Millisecond))
	if code != 0 {
		t.Errorf("tend exited %d", code)
	}
	if took > 11*time.Second {
		t.Errorf("tend took %s to stop with TEND_STOP_TIMEOUT=10s and a receiver that never answers", took.Round(time.Millisecond))
	}
	if st.Dropped.Lines == 0 {
		t.Errorf("nothing dropped before the stop: 200,000 records do not fit the 8 MiB buffer of a receiver that takes nothing")
	}
	ev := exitEvent(t, p.Stderr())
	if ev.num("records_never_arrived") < st.Dropped.Lines+st.Buffered || ev.num("records_sent") != 0 {
		t.Errorf("exit event %v; before the stop %d records were dropped and %d buffered", ev, st.Dropped.Lines, st.Buffered)
	}
}

// Over TLS with a shared key, against Fluentd's own TLS input: every record
// arrives. A CA file that does not exist is refused before anything
// starts: exit 2, the variable named.
func TestFluentdOverTLSWithSharedKey(t *testing.T) {
	t.Parallel()
	cert, key := fluentdtest.WriteCert(t, t.TempDir(), "fluentd")
	fd := fluentdtest.Start(t, "--tls", cert, key, "--shared-key", "s3cret")
	const total = 20_000
	env := []string{
		"TEND_FLUENT_ADDR=" + fd.Addr,
		"TEND_FLUENT_TLS=true",
		"TEND_FLUENT_TLS_CA=" + cert,
		"TEND_FLUENT_SHARED_KEY=s3cret",
		"TEND_FLUENT_ACK=true",
		"TEND_EVENT_FORMAT=json", "TEND_EVENT_LEVEL=info",
	}
	code, _, stderr := runTend(t, tendOptions{Env: env, Args: []string{"--", logsgenPath(t), "-n", strconv.Itoa(total)}, Stdout: devNull(t)}, time.Minute)
	if code != 0 {
		t.Fatalf("tend exited %d\n%s", code, stderr)
	}
	if ev := exitEvent(t, stderr); ev.str("event") != "every record reached fluentd" || ev.num("records_sent") != total {
		t.Errorf("exit event %v", ev)
	}
	fd.Stop()
	if recs := fd.Records(); len(recs) != total {
		t.Errorf("Fluentd has %d records of %d", len(recs), total)
	}

	marker := filepath.Join(t.TempDir(), "started")
	missing := filepath.Join(t.TempDir(), "missing.pem")
	code, _, stderr = runTend(t, tendOptions{
		Env:  append(env, "TEND_FLUENT_TLS_CA="+missing),
		Args: []string{"--", "touch", marker},
	}, 30*time.Second)
	if code != 2 || !strings.Contains(stderr, "TEND_FLUENT_TLS_CA") || !strings.Contains(stderr, missing) {
		t.Errorf("tend exited %d with a missing CA file; want 2 and TEND_FLUENT_TLS_CA named:\n%s", code, stderr)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("the main program ran although the configuration was refused")
	}
}
