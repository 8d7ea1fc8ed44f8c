package hooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"tend/config"
	"tend/reaper"
)

// DefaultWaitTimeout is how long WaitFor waits for outside services when
// no timeout is given (TEND_WAIT_TIMEOUT).
const DefaultWaitTimeout = 60 * time.Second

// Backoff between the attempts on one dependency: from waitFirstBackoff,
// growing by half each time up to waitMaxBackoff, so a service that comes
// up a few seconds late is seen within a fraction of a second and one
// that stays down is asked every few seconds.
const (
	waitFirstBackoff = 250 * time.Millisecond
	waitMaxBackoff   = 5 * time.Second
	waitAttemptLimit = 5 * time.Second // bounds one attempt
)

// DependencyState is how the wait for one dependency stands.
type DependencyState struct {
	// Target is the dependency as written.
	Target string `json:"target"`
	// Since is when the wait began.
	Since time.Time `json:"since"`
	// Attempts counts the checks made so far.
	Attempts int `json:"attempts"`
	// Answered is true once the dependency answered.
	Answered bool `json:"answered"`
	// AnsweredAt is when it answered.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
	// LastError is why the last check failed, in a user's words
	// ("connection refused", `name "db" not found`, "HTTP 503").
	LastError string `json:"last_error,omitempty"`
}

// ErrWaitTimeout is the cause of a WaitError when the wait ran out of time.
var ErrWaitTimeout = errors.New("timed out")

// WaitError names the dependencies that never answered.
type WaitError struct {
	// Waited is how long the wait lasted.
	Waited time.Duration
	// Pending are the dependencies that did not answer.
	Pending []DependencyState
	// Cause is ErrWaitTimeout, or why the caller's context ended.
	Cause error
}

// Error says why the wait ended and what never answered.
func (e *WaitError) Error() string {
	var b strings.Builder
	if errors.Is(e.Cause, ErrWaitTimeout) {
		fmt.Fprintf(&b, "outside services did not answer within %s: ", e.Waited.Round(time.Second))
	} else {
		fmt.Fprintf(&b, "wait for outside services cut short after %s (%v); no answer yet from ", e.Waited.Round(100*time.Millisecond), e.Cause)
	}
	for i, p := range e.Pending {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(p.Target)
		if p.LastError != "" {
			fmt.Fprintf(&b, " (%s, %d attempts)", p.LastError, p.Attempts)
		}
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is(err, context.Canceled) and
// errors.Is(err, ErrWaitTimeout) work.
func (e *WaitError) Unwrap() error { return e.Cause }

// WaitFor checks every dependency at once, each with its own backoff,
// until all have answered (nil), timeout has passed (0 means
// DefaultWaitTimeout) or ctx is done, such as on TERM (then at once). It
// returns a *WaitError naming every dependency that did not answer.
// progress, if not nil, is called with the state of every dependency
// after each check, from the calling goroutine. Commands run through r,
// with tend's environment, and are killed with their process group when
// the wait ends. HTTP checks go straight to the server (no proxy) and
// keep no connection open.
func WaitFor(ctx context.Context, deps []config.Dependency, timeout time.Duration, r *reaper.Reaper, progress func([]DependencyState)) error {
	if len(deps) == 0 {
		return nil
	}
	if timeout <= 0 {
		timeout = DefaultWaitTimeout
	}
	start := time.Now()
	wctx, cancel := context.WithTimeoutCause(ctx, timeout, ErrWaitTimeout)
	defer cancel()

	type result struct {
		i   int
		err error
	}
	results := make(chan result)
	var wg sync.WaitGroup
	client := newWaitClient()
	defer client.CloseIdleConnections()
	for i, d := range deps {
		wg.Go(func() {
			backoff := waitFirstBackoff
			for {
				err := checkDependency(wctx, d, r, client)
				select {
				case results <- result{i, err}:
				case <-wctx.Done():
					return
				}
				if err == nil {
					return
				}
				// Jitter keeps many containers that restart together from
				// asking a recovering service in step.
				wait := time.Duration(float64(backoff) * (0.9 + 0.2*rand.Float64()))
				select {
				case <-time.After(wait):
				case <-wctx.Done():
					return
				}
				backoff = min(backoff*3/2, waitMaxBackoff)
			}
		})
	}
	// Every checker is gone before WaitFor returns.
	defer wg.Wait()
	defer cancel()

	states := make([]DependencyState, len(deps))
	for i, d := range deps {
		states[i] = DependencyState{Target: d.Spec, Since: start}
	}
	for pending := len(deps); pending > 0; {
		select {
		case res := <-results:
			s := &states[res.i]
			s.Attempts++
			if res.err == nil {
				s.Answered, s.AnsweredAt, s.LastError = true, time.Now(), ""
				pending--
			} else if wctx.Err() == nil {
				// A check cut short by the end of the wait says nothing
				// about the service.
				s.LastError = describeWaitError(res.err)
			}
			if progress != nil {
				progress(append([]DependencyState(nil), states...))
			}
		case <-wctx.Done():
			e := &WaitError{Waited: time.Since(start), Cause: context.Cause(wctx)}
			for _, s := range states {
				if !s.Answered {
					e.Pending = append(e.Pending, s)
				}
			}
			return e
		}
	}
	return nil
}

// checkDependency makes one check of d.
func checkDependency(ctx context.Context, d config.Dependency, r *reaper.Reaper, client *http.Client) error {
	ctx, cancel := context.WithTimeout(ctx, waitAttemptLimit)
	defer cancel()
	switch d.Kind {
	case config.DependTCP:
		var dialer net.Dialer
		conn, err := dialer.DialContext(ctx, "tcp", d.Address)
		if err != nil {
			return err
		}
		return conn.Close()
	case config.DependHTTP:
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.Address, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return statusError(resp.StatusCode)
		}
		return nil
	case config.DependExec:
		return runDependCommand(ctx, r, d.Command)
	}
	return fmt.Errorf("unknown kind of dependency %q", d.Kind)
}

// statusError is an HTTP answer that is not 2xx.
type statusError int

func (e statusError) Error() string {
	return strings.TrimSpace("HTTP " + strconv.Itoa(int(e)) + " " + http.StatusText(int(e)))
}

// exitError is a command that exited non-zero; last is its last line of
// output, which usually says why (pg_isready: "no response").
type exitError struct {
	code int
	last string
}

func (e *exitError) Error() string {
	if e.last == "" {
		return fmt.Sprintf("exited %d", e.code)
	}
	return fmt.Sprintf("exited %d: %s", e.code, e.last)
}

// outputTail bounds what is kept of a command's output.
const outputTail = 512

// runDependCommand runs argv through r and returns nil when it exits 0.
func runDependCommand(ctx context.Context, r *reaper.Reaper, argv []string) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	read := make(chan []byte, 1)
	go func() {
		defer pr.Close()
		// Keep only the tail: a chatty command must not grow tend.
		var tail []byte
		buf := make([]byte, 4096)
		for {
			n, err := pr.Read(buf)
			tail = append(tail, buf[:n]...)
			if len(tail) > outputTail {
				tail = append(tail[:0], tail[len(tail)-outputTail:]...)
			}
			if err != nil {
				read <- tail
				return
			}
		}
	}()
	code, err := Run(ctx, r, reaper.Spec{Argv: argv, Env: os.Environ(), Stdout: pw, Stderr: pw})
	// The command's group is dead (Run kills it), so the pipe reaches EOF
	// once tend's own end is closed; a grandchild that escaped the group
	// could hold it, hence the bound.
	pw.Close()
	var out []byte
	select {
	case out = <-read:
	case <-time.After(killWait):
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code, last: lastLine(out)}
	}
	return nil
}

// lastLine returns the last non-empty line of b.
func lastLine(b []byte) string {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// describeWaitError says why a check failed in a user's words.
func describeWaitError(err error) string {
	var dnsErr *net.DNSError
	var status statusError
	var exit *exitError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var notTLS tls.RecordHeaderError
	switch {
	case errors.As(err, &status):
		return status.Error()
	case errors.As(err, &exit):
		return exit.Error()
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return fmt.Sprintf("name %q not found", dnsErr.Name)
		case dnsErr.IsTimeout:
			return fmt.Sprintf("no DNS answer for %q", dnsErr.Name)
		}
		return fmt.Sprintf("DNS lookup of %q failed: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &unknownCA):
		return "TLS certificate signed by an unknown authority"
	case errors.As(err, &hostErr):
		return "TLS certificate is not for " + hostErr.Host
	case errors.As(err, &invalid):
		return "TLS certificate not valid: " + invalid.Error()
	case errors.As(err, &notTLS):
		return "not a TLS server"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Sprintf("no answer within %s", waitAttemptLimit)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return fmt.Sprintf("no answer within %s", waitAttemptLimit)
	}
	return err.Error()
}

// newWaitClient returns the client for HTTP dependencies: redirects are
// followed (the final answer must be 2xx), no proxy is used, and no idle
// connection to the service is kept.
func newWaitClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
}
