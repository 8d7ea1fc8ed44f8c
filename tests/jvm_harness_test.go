package tests

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// compileJava compiles the Java sources at paths (relative to the module
// root) with javac into a new temporary directory and returns it, for
// `java -cp DIR`. Call requireJava first.
func compileJava(t testing.TB, paths ...string) string {
	t.Helper()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	args := []string{"-d", out}
	for _, p := range paths {
		args = append(args, filepath.Join(root, p))
	}
	cmd := exec.Command("javac", args...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("javac %s: %v\n%s", strings.Join(paths, " "), err, b)
	}
	return out
}

// lbClient plays a load balancer in front of one instance: it keeps
// inFlight requests to target in flight and polls readyz every 20ms. Once
// readyz fails it keeps routing for lag (what endpoint propagation costs;
// poll plus lag stay within 100ms), then sends no new request, lets the
// ones in flight finish, and closes its idle connections to the instance,
// as a balancer removing a backend does. With keepAlive it reuses
// connections; without, every request opens its own (as clients behind
// kube-proxy or an L4 balancer often do) and a worker whose request fails
// sends the next at once.
type lbClient struct {
	target, readyz string
	inFlight       int
	lag            time.Duration

	client *http.Client
	next   atomic.Int64
	routed atomic.Bool // true while new requests may be sent

	mu       sync.Mutex
	ok       []string // ids answered 200
	failed   []string // "id: error"
	inFlyNow map[string]bool
	notReady time.Time // when readyz was first seen failing
	stopped  time.Time // when routing stopped
}

func newLBClient(target, readyz string, inFlight int, keepAlive bool) *lbClient {
	c := &lbClient{
		target: target, readyz: readyz, inFlight: inFlight, lag: 75 * time.Millisecond,
		client: &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				DisableKeepAlives:   !keepAlive,
				MaxIdleConnsPerHost: inFlight,
				// A dial that hangs counts as a failure, not a wait.
				DialContext: (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			},
		},
		inFlyNow: map[string]bool{},
	}
	c.routed.Store(true)
	return c
}

// run sends requests until routing stops and every request has ended.
func (c *lbClient) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.watchReadiness(ctx) })
	var workers sync.WaitGroup
	for i := range c.inFlight {
		workers.Go(func() {
			// Stagger the workers so requests start evenly over time,
			// not in bursts every 300ms.
			time.Sleep(time.Duration(i) * 15 * time.Millisecond)
			for c.routed.Load() && ctx.Err() == nil {
				if !c.send(ctx) {
					// A balancer retries a failed backend after a pause,
					// not in a tight loop.
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	workers.Wait()
	c.client.CloseIdleConnections()
	wg.Wait()
}

// send sends one request and reports whether it was answered.
func (c *lbClient) send(ctx context.Context) bool {
	id := fmt.Sprintf("r%d", c.next.Add(1))
	c.mu.Lock()
	c.inFlyNow[id] = true
	c.mu.Unlock()
	err := c.get(ctx, c.target+"?id="+id)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.inFlyNow, id)
	if err != nil {
		c.failed = append(c.failed, id+": "+err.Error())
	} else {
		c.ok = append(c.ok, id)
	}
	if !c.routed.Load() {
		// Removed from the pool: an idle connection to the instance is
		// closed rather than kept.
		c.client.CloseIdleConnections()
	}
	return err == nil
}

func (c *lbClient) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// watchReadiness polls readyz every 20ms until it fails, then stops
// routing after the lag.
func (c *lbClient) watchReadiness(ctx context.Context) {
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for ctx.Err() == nil {
		resp, err := probe.Get(c.readyz)
		ready := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			resp.Body.Close()
		}
		if !ready {
			c.mu.Lock()
			c.notReady = time.Now()
			c.mu.Unlock()
			time.Sleep(c.lag)
			c.mu.Lock()
			c.stopped = time.Now()
			c.routed.Store(false)
			c.mu.Unlock()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// inFlightNow returns the ids of the requests in flight, sorted.
func (c *lbClient) inFlightNow() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ids []string
	for id := range c.inFlyNow {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// results returns the answered and the failed requests.
func (c *lbClient) results() (ok, failed []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.ok...), append([]string{}, c.failed...)
}

// ready reports whether readyz answers 200.
func (c *lbClient) ready() bool {
	resp, err := http.Get(c.readyz)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// reaction returns when, after t, readyz was first seen failing and
// when routing stopped.
func (c *lbClient) reaction(t time.Time) (notReady, stopped time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.notReady.Sub(t), c.stopped.Sub(t)
}
