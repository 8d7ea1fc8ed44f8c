package tests

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// compileExampleService compiles examples/java with javac into a temporary
// directory and returns it (the class path).
func compileExampleService(t *testing.T) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	srcs, _ := filepath.Glob(filepath.Join(root, "examples", "java", "src", "*.java"))
	if len(srcs) == 0 {
		t.Fatal("no Java sources in examples/java/src")
	}
	for i, src := range srcs {
		srcs[i], _ = filepath.Rel(root, src)
	}
	return compileJava(t, srcs...)
}

// httpDo sends one request and returns the status and body.
func httpDo(method, url, body string) (int, string, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestJavaServiceDrainsInFlightRequestOnTerm runs the example service, a
// real JVM, under tend (as PID 1 when root): it serves, records a service
// registry status, prints a thread dump on QUIT and keeps serving, and on
// TERM finishes the request in flight before it exits. TEND_EXIT_CODE_MAP
// turns the JVM's 143 into 0.
func TestJavaServiceDrainsInFlightRequestOnTerm(t *testing.T) {
	t.Parallel()
	requireJava(t)
	classes := compileExampleService(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	pid1 := os.Geteuid() == 0
	p := startTend(t, tendOptions{
		PID1: pid1,
		Env:  []string{fmt.Sprintf("PORT=%d", port), "TEND_EXIT_CODE_MAP=143:0", "TEND_STOP_TIMEOUT=20s"},
		Args: []string{"--", "java", "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", classes, "Hello"},
	})
	waitFor(t, 60*time.Second, "the service to answer /health", func() bool {
		if p.Exited() {
			t.Fatalf("tend exited with %d before the service was up\nstdout:\n%s\nstderr:\n%s", p.Wait(0), p.Stdout(), p.Stderr())
		}
		code, _, err := httpDo("GET", base+"/health", "")
		return err == nil && code == 200
	})

	if code, body, err := httpDo("GET", base+"/", ""); err != nil || code != 200 || !strings.Contains(body, "hello") {
		t.Errorf("GET / = %d %q (%v), want 200 and a hello", code, body, err)
	}
	if code, body, err := httpDo("PUT", base+"/actuator/service-registry", `{"status":"OUT_OF_SERVICE"}`); err != nil || code != 200 {
		t.Errorf("PUT /actuator/service-registry = %d %q (%v), want 200", code, body, err)
	}
	waitFor(t, 5*time.Second, "the registry status in the service's log", func() bool {
		return strings.Contains(p.Stdout(), "service registry status set to OUT_OF_SERVICE")
	})

	// QUIT is forwarded: the JVM prints a thread dump to stdout and runs on.
	p.Signal(syscall.SIGQUIT)
	waitFor(t, 10*time.Second, "a thread dump after QUIT", func() bool {
		return strings.Contains(p.Stdout(), "Full thread dump")
	})
	if code, _, err := httpDo("GET", base+"/health", ""); err != nil || code != 200 {
		t.Fatalf("after QUIT /health = %d (%v), want 200: the JVM should still run", code, err)
	}

	// A request in flight when TERM arrives is answered in full.
	type result struct {
		code int
		body string
		err  error
	}
	slow := make(chan result, 1)
	go func() {
		code, body, err := httpDo("GET", base+"/slow?ms=1500", "")
		slow <- result{code, body, err}
	}()
	time.Sleep(500 * time.Millisecond)
	p.Signal(syscall.SIGTERM)
	r := <-slow
	if r.err != nil || r.code != 200 || !strings.Contains(r.body, "slow hello") {
		t.Errorf("the request in flight at TERM got %d %q (%v), want 200 and its body", r.code, r.body, r.err)
	}
	if code := p.Wait(30 * time.Second); code != 0 {
		t.Errorf("tend exited with %d, want 0 (143 mapped by TEND_EXIT_CODE_MAP)\nstderr:\n%s", code, p.Stderr())
	}
	out := p.Stdout()
	for _, want := range []string{
		"shutdown: stop accepting connections; 1 request(s) in flight",
		"GET /slow?ms=1500 200",
		"shutdown: all requests finished",
		"shutdown: done",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the service's log lacks %q:\n%s", want, tail(out))
		}
	}
}
