package hooks

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/reaper"
)

// hookBodyLimit bounds how much of a failed HTTP hook's answer is logged.
const hookBodyLimit = 512

// PreStop runs the pre-stop hooks: the command TEND_PRESTOP and the
// request TEND_PRESTOP_HTTP. They run concurrently, as they are
// independent (typically a script and a deregistration), so the drain
// spends the longer of the two rather than their sum. Each is cut at
// TEND_PRESTOP_TIMEOUT or when ctx ends, whichever comes first; a command
// that is cut is killed with its process group. A hook that fails, answers
// an error or is cut is logged as a warning, and PreStop returns anyway:
// the stop goes on.
func (d *Drainer) PreStop(ctx context.Context) {
	var wg sync.WaitGroup
	if len(d.cfg.Prestop) > 0 {
		wg.Go(func() { d.runCommand(ctx) })
	}
	if d.cfg.PrestopHTTP != nil {
		wg.Go(func() { d.sendRequest(ctx) })
	}
	wg.Wait()
}

// runCommand runs the pre-stop command through the reaper, its output
// logged as program "prestop".
func (d *Drainer) runCommand(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.PrestopTimeout)
	defer cancel()
	log := d.log.With(zap.Strings("command", d.cfg.Prestop))
	spec := reaper.Spec{Argv: d.cfg.Prestop, Env: d.env}
	if d.out != nil {
		stdout, err := d.pipe("stdout")
		if err != nil {
			log.Warn("pre-stop command output not captured", zap.Error(err))
		} else {
			defer stdout.Close()
			spec.Stdout = stdout
		}
		stderr, err := d.pipe("stderr")
		if err != nil {
			log.Warn("pre-stop command output not captured", zap.Error(err))
		} else {
			defer stderr.Close()
			spec.Stderr = stderr
		}
	}
	begin := time.Now()
	// Run returns once the command has exited or has been killed with its
	// group; the deferred closes then let the captures reach EOF.
	code, err := Run(ctx, d.reaper, spec)
	took := time.Since(begin)
	switch {
	case err != nil:
		log.Warn("pre-stop command failed; the stop goes on", zap.Duration("took", took), zap.Error(err))
	case code != 0:
		log.Warn("pre-stop command exited non-zero; the stop goes on", zap.Int("code", code), zap.Duration("took", took))
	default:
		log.Info("pre-stop command done", zap.Duration("took", took))
	}
}

// pipe makes a pipe whose read end is captured as the pre-stop command's
// stream and returns the write end, for the command.
func (d *Drainer) pipe(stream string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%s pipe: %w", stream, err)
	}
	d.out.Capture(PrestopProgram, stream, r)
	return w, nil
}

// sendRequest sends the pre-stop HTTP request. An answer of 2xx is a
// success; anything else, or no answer in time, is logged as a warning.
func (d *Drainer) sendRequest(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.PrestopTimeout)
	defer cancel()
	h := d.cfg.PrestopHTTP
	log := d.log.With(zap.String("method", h.Method), zap.String("url", h.URL))
	begin := time.Now()
	status, body, err := d.do(ctx, h)
	took := time.Since(begin)
	switch {
	case err != nil:
		log.Warn("pre-stop request failed; the stop goes on", zap.Duration("took", took), zap.Error(err))
	case status < 200 || status > 299:
		log.Warn("pre-stop request answered with an error; the stop goes on",
			zap.Int("status", status), zap.String("body", body), zap.Duration("took", took))
	default:
		log.Info("pre-stop request done", zap.Int("status", status), zap.Duration("took", took))
	}
}

// do sends h and returns the status code and, for a status other than
// 2xx, the start of the body.
func (d *Drainer) do(ctx context.Context, h *config.HTTPRequest) (int, string, error) {
	var body io.Reader
	if h.Body != "" {
		body = strings.NewReader(h.Body)
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, body)
	if err != nil {
		return 0, "", fmt.Errorf("pre-stop request: %w", err)
	}
	if h.Body != "" {
		req.Header.Set("Content-Type", contentType(h.Body))
	}
	req.Header.Set("User-Agent", "tend-prestop")
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("pre-stop request: %w", err)
	}
	defer resp.Body.Close()
	var text string
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, hookBodyLimit))
		text = strings.TrimSpace(string(b))
	}
	// Read the rest, bounded, so the server is not cut mid-answer.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, text, nil
}

// contentType guesses the body's type: JSON when it looks like JSON (as
// Spring's /actuator/service-registry wants), else form-encoded when it
// looks like key=value pairs, else plain text.
func contentType(body string) string {
	b := strings.TrimSpace(body)
	switch {
	case strings.HasPrefix(b, "{") || strings.HasPrefix(b, "["):
		return "application/json"
	case strings.Contains(b, "=") && !strings.ContainsAny(b, " \t\n"):
		return "application/x-www-form-urlencoded"
	}
	return "text/plain; charset=utf-8"
}

// newHookClient returns the client of the HTTP hook. It keeps no idle
// connection open: the hook usually calls the service itself, and a
// connection left open on a drained port would hold the connection drain
// until its end. Redirects are not followed; a 3xx is reported as is.
func newHookClient() *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             http.ProxyFromEnvironment,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
