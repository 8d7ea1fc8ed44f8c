package hooks

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"tend/config"
	"tend/reaper"
)

// probeTimeout bounds one probe attempt.
const probeTimeout = 5 * time.Second

// Probe makes one readiness check and returns nil when it passes: a TCP
// connection is accepted, an HTTP GET answers 2xx or 3xx, or a command
// exits 0.
func Probe(ctx context.Context, p config.Probe, r *reaper.Reaper) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	switch p.Kind {
	case config.ProbeTCP:
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", p.Address)
		if err != nil {
			return fmt.Errorf("tcp probe: %w", err)
		}
		return conn.Close()
	case config.ProbeHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.Address, nil)
		if err != nil {
			return fmt.Errorf("http probe: %w", err)
		}
		resp, err := newProbeClient().Do(req)
		if err != nil {
			return fmt.Errorf("http probe: %w", err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("http probe: %s answered %s", p.Address, resp.Status)
		}
		return nil
	case config.ProbeExec:
		code, err := Run(ctx, r, reaper.Spec{Argv: p.Command, Env: os.Environ()})
		if err != nil {
			return fmt.Errorf("exec probe: %w", err)
		}
		if code != 0 {
			return fmt.Errorf("exec probe: %s exited %d", p.Command[0], code)
		}
		return nil
	}
	return nil
}

// newProbeClient returns a client that takes a redirect as an answer (a
// login page is still a live server) and keeps no idle connection open to
// the probed program.
func newProbeClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
