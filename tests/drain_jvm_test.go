package tests

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// jvmFlags start the example quickly; the service does not need a JIT at
// full strength to answer a few hundred requests.
var jvmFlags = []string{"-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"}

// drainEnv is the drain configuration of the example service on port:
// deregistration through its actuator endpoint, a drain delay longer than
// the load balancer's reaction, and the connection drain on its port.
func drainEnv(port int) []string {
	return []string{
		fmt.Sprintf(`TEND_PRESTOP_HTTP=PUT http://127.0.0.1:%d/actuator/service-registry {"status":"OUT_OF_SERVICE"}`, port),
		"TEND_DRAIN_DELAY=300ms",
		fmt.Sprintf("TEND_DRAIN_PORTS=%d", port),
	}
}

// exampleEnv is what the example service under tend needs in every test:
// its port, tend's HTTP endpoints on admin, readiness from the service's
// /health, and tend's events at info for the stop phases.
func exampleEnv(port, admin int) []string {
	return []string{
		fmt.Sprintf("PORT=%d", port),
		fmt.Sprintf("TEND_HTTP_ADDR=127.0.0.1:%d", admin),
		fmt.Sprintf("TEND_MAIN_READY=http://127.0.0.1:%d/health", port),
		"TEND_EVENT_LEVEL=info",
	}
}

// startLoad waits until the load balancer sees readiness, failing the
// test when dead reports that the service ended first, then starts it
// with 20 requests in flight and waits for the load to settle. The
// returned channel is closed once the load balancer has stopped routing
// and every request has ended.
func startLoad(t *testing.T, lb *lbClient, dead func() string) <-chan struct{} {
	t.Helper()
	waitFor(t, 60*time.Second, "readiness", func() bool {
		if why := dead(); why != "" {
			t.Fatalf("the service ended before it was ready: %s", why)
		}
		return lb.ready()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lb.run(ctx)
	}()
	waitFor(t, 15*time.Second, "20 requests in flight", func() bool {
		ok, _ := lb.results()
		return len(ok) >= 40 && len(lb.inFlightNow()) == 20
	})
	return done
}

// stopUnderLoad calls stop (which sends the TERM and returns once the
// service has exited), waits for the load balancer, and returns the
// requests in flight at the TERM and how long stop took.
func stopUnderLoad(t *testing.T, lb *lbClient, lbDone <-chan struct{}, stop func()) (inFlight []string, took time.Duration) {
	t.Helper()
	inFlight = lb.inFlightNow()
	begin := time.Now()
	stop()
	took = time.Since(begin)
	select {
	case <-lbDone:
	case <-time.After(15 * time.Second):
		t.Fatal("the load balancer did not stop")
	}
	notReady, stopped := lb.reaction(begin)
	ok, failed := lb.results()
	t.Logf("%d requests answered, %d failed; %d in flight at TERM; stop took %s",
		len(ok), len(failed), len(inFlight), took.Round(time.Millisecond))
	t.Logf("the load balancer saw readiness fail %s after TERM and stopped routing %s after TERM",
		notReady.Round(time.Millisecond), stopped.Round(time.Millisecond))
	return inFlight, took
}

// assertNothingLost checks a drained stop of the example service: no
// request failed, every request in flight at the TERM was answered, the
// pre-stop hook reached the service, and every request the client had
// answered is logged in out, as is the service's last line.
func assertNothingLost(t *testing.T, lb *lbClient, inFlight []string, out string) {
	t.Helper()
	ok, failed := lb.results()
	if len(failed) > 0 {
		t.Errorf("%d requests failed during the drain, want none: %s", len(failed), strings.Join(first(failed, 5), "; "))
	}
	answered := map[string]bool{}
	for _, id := range ok {
		answered[id] = true
	}
	for _, id := range inFlight {
		if !answered[id] {
			t.Errorf("request %s, in flight at TERM, was not answered", id)
		}
	}
	if !strings.Contains(out, "service registry status set to OUT_OF_SERVICE") {
		t.Errorf("the pre-stop HTTP hook did not reach the service:\n%s", tail(out))
	}
	logged := loggedRequests(out)
	for _, id := range ok {
		if !logged[id] {
			t.Errorf("request %s was answered but its log line is not in the output", id)
		}
	}
	if len(logged) != len(ok) {
		t.Errorf("the service logged %d requests, the client had %d answered", len(logged), len(ok))
	}
	if !strings.Contains(out, "shutdown: done") {
		t.Errorf("the service's last line is lost:\n%s", tail(out))
	}
}

// startExampleUnderLoad runs the example service under tend as PID 1 of
// its own PID namespace, with the budget and the extra settings env
// returns for the service's port, and puts it under load.
func startExampleUnderLoad(t *testing.T, budget time.Duration, keepAlive bool, env func(port int) []string) (*tendProcess, *lbClient, <-chan struct{}) {
	t.Helper()
	classes := compileExampleService(t)
	port, admin := freePort(t), freePort(t)
	args := append(append([]string{"--", "java"}, jvmFlags...), "-cp", classes, "Hello")
	all := append(exampleEnv(port, admin), "TEND_STOP_TIMEOUT="+budget.String(), "TEND_EXIT_CODE_MAP=143:0")
	p := startTend(t, tendOptions{PID1: true, Args: args, Env: append(all, env(port)...)})
	lb := newLBClient(fmt.Sprintf("http://127.0.0.1:%d/slow", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 20, keepAlive)
	done := startLoad(t, lb, func() string {
		if p.Exited() {
			return fmt.Sprintf("tend exited\nstdout:\n%s\nstderr:\n%s", p.Stdout(), p.Stderr())
		}
		return ""
	})
	return p, lb, done
}

// loggedRequests returns the ids of the /slow requests the service logged.
func loggedRequests(stdout string) map[string]bool {
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`GET /slow\?id=(r\d+) 200`).FindAllStringSubmatch(stdout, -1) {
		ids[m[1]] = true
	}
	return ids
}

// withoutGracefulShutdown configures the example service to stop at once
// on TERM, cutting the requests in flight, as a service without graceful
// shutdown does.
const withoutGracefulShutdown = "DRAIN_SECONDS=0"

// TestDrainLosesNoRequestOfTheJVMService is the rolling update of a real
// JVM service behind a load balancer: on TERM, tend withdraws readiness,
// deregisters the service through its actuator endpoint, waits for the
// balancer and for the connections in flight, then stops the JVM. No
// request fails, every request in flight completes, the exit code is
// mapped, the stop fits its budget and every line the service logged is
// in tend's output. That holds even for a service that cuts its requests
// in flight when it gets TERM: the connection drain waits for them first.
func TestDrainLosesNoRequestOfTheJVMService(t *testing.T) {
	for _, tc := range []struct {
		name      string
		keepAlive bool
		service   []string
	}{
		{"graceful service, connection per request", false, nil},
		{"graceful service, keep-alive", true, nil},
		{"service without graceful shutdown, keep-alive", true, []string{withoutGracefulShutdown}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireRoot(t)
			requireJava(t)
			testDrainLosesNoRequest(t, tc.keepAlive, tc.service)
		})
	}
}

func testDrainLosesNoRequest(t *testing.T, keepAlive bool, service []string) {
	const budget = 10 * time.Second
	p, lb, lbDone := startExampleUnderLoad(t, budget, keepAlive, func(port int) []string {
		return append(drainEnv(port), service...)
	})
	var code int
	inFlight, took := stopUnderLoad(t, lb, lbDone, func() {
		p.Signal(syscall.SIGTERM)
		code = p.Wait(budget + 10*time.Second)
	})
	assertNothingLost(t, lb, inFlight, p.Stdout())
	if code != 0 {
		t.Errorf("tend exited %d, want 0 (the JVM's 143 mapped by TEND_EXIT_CODE_MAP)\n%s", code, p.Stderr())
	}
	if took > budget {
		t.Errorf("the stop took %s, over its %s budget", took, budget)
	}
	for _, phase := range []string{"pre-stop hooks", "drain delay", "connection drain", "stop main"} {
		t.Logf("%s: %s", phase, phaseTook(t, p.Stderr(), phase))
	}
}

// TestWithoutDrainRequestsFail is the last case of the test above with the
// drain off (no deregistration, no delay, no connection drain): the TERM
// reaches the JVM at once, which cuts the requests in flight, and the
// balancer still routes new ones to the closed port until it notices.
// It shows that the drain, not luck, keeps the other test clean.
func TestWithoutDrainRequestsFail(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireJava(t)
	const budget = 10 * time.Second
	p, lb, lbDone := startExampleUnderLoad(t, budget, true, func(int) []string {
		return []string{withoutGracefulShutdown}
	})
	var code int
	inFlight, _ := stopUnderLoad(t, lb, lbDone, func() {
		p.Signal(syscall.SIGTERM)
		code = p.Wait(budget + 10*time.Second)
	})
	_, failed := lb.results()
	cut := 0
	for _, f := range failed {
		id, _, _ := strings.Cut(f, ":")
		if slices.Contains(inFlight, id) {
			cut++
		}
	}
	t.Logf("%d of the %d requests in flight at TERM were cut", cut, len(inFlight))
	if len(failed) == 0 {
		t.Errorf("no request failed without the drain; the drain test proves nothing")
	} else {
		t.Logf("failures: %s", strings.Join(first(failed, 3), "; "))
	}
	if code != 0 {
		t.Errorf("tend exited %d, want 0\n%s", code, p.Stderr())
	}
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }

// TestStopDumpsThreadsOfAJVMIgnoringTerm: a JVM that ignores TERM gets QUIT
// before the forced kill with TEND_DUMP_ON_TIMEOUT, so its thread dump,
// the stuck thread included, is in the log; tend still exits inside
// TEND_STOP_TIMEOUT.
func TestStopDumpsThreadsOfAJVMIgnoringTerm(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireJava(t)
	const budget = 4 * time.Second
	classes := compileJava(t, "tests/testdata/java/IgnoreTerm.java")
	args := append(append([]string{"--", "java"}, jvmFlags...), "-cp", classes, "IgnoreTerm")
	p := startTend(t, tendOptions{PID1: true, Args: args, Env: []string{
		"TEND_STOP_TIMEOUT=" + budget.String(),
		"TEND_STOP_FLUSH_RESERVE=1s",
		"TEND_DUMP_ON_TIMEOUT=true",
		"TEND_EVENT_LEVEL=info",
	}})
	waitFor(t, 30*time.Second, "the JVM to start", func() bool { return strings.Contains(p.Stdout(), "started") })
	begin := p.SignalAt(syscall.SIGTERM)
	code := p.Wait(budget + 10*time.Second)
	took := p.TookSince(begin)
	out, events := p.Stdout(), p.Stderr()
	t.Logf("tend exited %d after %s of a %s budget", code, took.Round(time.Millisecond), budget)

	if !strings.Contains(out, "ignoring TERM") {
		t.Errorf("the JVM did not get the TERM:\n%s", tail(out))
	}
	dump := strings.Index(out, "Full thread dump")
	if dump < 0 {
		t.Fatalf("no thread dump in tend's output:\n%s\nevents:\n%s", tail(out), events)
	}
	// The dump is complete: the stuck thread and the dump's last section
	// were written before the kill.
	for _, want := range []string{`"stuck-request-worker"`, "JNI global refs"} {
		if !strings.Contains(out[dump:], want) {
			t.Errorf("the thread dump lacks %q: cut by the kill?\n%s", want, tail(out))
		}
	}
	quit, kill := strings.Index(events, "sending QUIT for a thread dump"), strings.Index(events, "\tkilling\t")
	if quit < 0 || kill < 0 || quit > kill {
		t.Errorf("want QUIT, then the kill, in tend's events:\n%s", events)
	}
	if code != 137 {
		t.Errorf("tend exited %d, want 137 (the JVM killed)", code)
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("tend exited %s after TERM; the budget is %s (%s); tend's events (which phase overran):\n%s", took, budget, p.Timeline(begin), events)
	}
}

// TestIdleKeepAliveConnectionHoldsTheDrainUntilItsDeadline: an idle
// keep-alive connection that its client never closes counts as open, so
// the connection drain lasts until its deadline; the JVM then still gets
// its TERM and the time to shut down gracefully (its 143 mapped to 0, its
// last line in the output), all inside the budget.
func TestIdleKeepAliveConnectionHoldsTheDrainUntilItsDeadline(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	requireJava(t)
	const budget = 6 * time.Second
	classes := compileExampleService(t)
	port, admin := freePort(t), freePort(t)
	args := append(append([]string{"--", "java"}, jvmFlags...), "-cp", classes, "Hello")
	env := append(exampleEnv(port, admin), "TEND_STOP_TIMEOUT="+budget.String(), "TEND_EXIT_CODE_MAP=143:0",
		fmt.Sprintf("TEND_DRAIN_PORTS=%d", port))
	p := startTend(t, tendOptions{PID1: true, Args: args, Env: env})
	lb := newLBClient(fmt.Sprintf("http://127.0.0.1:%d/slow", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 1, true)
	waitFor(t, 60*time.Second, "readiness", func() bool { return !p.Exited() && lb.ready() })
	// One request, then the connection stays open and idle.
	if !lb.send(context.Background()) {
		t.Fatalf("the first request failed: %v", lb.failed)
	}
	defer lb.client.CloseIdleConnections()

	begin := p.SignalAt(syscall.SIGTERM)
	code := p.Wait(budget + 10*time.Second)
	took := p.TookSince(begin)
	events := p.Stderr()
	drain := phaseTook(t, events, "connection drain")
	t.Logf("connection drain %s; stop took %s of a %s budget; exit %d", drain, took.Round(time.Millisecond), budget, code)
	if drain < 2*time.Second {
		t.Errorf("the connection drain ended after %s with an idle keep-alive connection open", drain)
	}
	if !strings.Contains(events, "connection drain ended with connections still open") {
		t.Errorf("the connection left open is not reported:\n%s", events)
	}
	if code != 0 || !strings.Contains(p.Stdout(), "shutdown: done") {
		t.Errorf("exit %d, want 0: the JVM did not get to shut down gracefully after the drain\n%s\n%s", code, tail(p.Stdout()), events)
	}
	if took > budget+500*time.Millisecond {
		t.Errorf("the stop took %s, over its %s budget (%s); events:\n%s", took, budget, p.Timeline(begin), events)
	}
}
