// Package admin serves tend's control interfaces: the unix socket that the
// control commands (tend status, health, drain, start, stop, restart,
// signal) talk to, and the optional HTTP endpoints for Kubernetes probes
// and Prometheus (/healthz, /readyz, /status, /metrics).
package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/resources"
	"tend/supervisor"
)

// Supervisor is what the control interfaces act on.
type Supervisor interface {
	Status() supervisor.Status
	Ready() bool
	Start(ctx context.Context, name string) error
	StopProgram(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
	Signal(name string, sig syscall.Signal) error
	Drain() <-chan struct{}
}

// Profiler builds the service profile for `tend profile`.
type Profiler interface {
	Profile() resources.Profile
}

// Request is one control command sent over the socket, as one JSON line.
type Request struct {
	// Cmd is status, health, drain, start, stop, restart or signal.
	Cmd string `json:"cmd"`
	// Name is the program for start, stop, restart and signal.
	Name string `json:"name,omitempty"`
	// Signal is the signal name for signal.
	Signal string `json:"signal,omitempty"`
	// Wait makes drain answer only once the stop has finished.
	Wait bool `json:"wait,omitempty"`
}

// Response is the answer to a Request, as one JSON line.
type Response struct {
	OK     bool               `json:"ok"`
	Error  string             `json:"error,omitempty"`
	Status *supervisor.Status `json:"status,omitempty"`
	// Profile answers the profile command.
	Profile *resources.Profile `json:"profile,omitempty"`
}

// ErrNotSocket is returned when the control socket's path holds
// something else; tend refuses to replace it.
var ErrNotSocket = errors.New("path exists and is not a socket")

// ErrInUse is returned when another process (another tend) answers on the
// control socket's path, or tend cannot tell that nobody does.
var ErrInUse = errors.New("a running tend (or another program) answers on it")

// Limits of the control socket.
const (
	// controlTimeout bounds one control command that does not wait for a
	// drain.
	controlTimeout = 2 * time.Minute
	// MaxRequest bounds one request line, its newline included; a longer
	// one is answered with an error and the connection closed.
	MaxRequest = 8 << 10
	// requestTimeout bounds the wait for a request once connected.
	requestTimeout = 5 * time.Second
	// answerTimeout bounds the writing of an answer.
	answerTimeout = 10 * time.Second
	// maxControlConns bounds the connections open at once.
	maxControlConns = 32
)

// ErrRequestTooLong is the answer to a request line longer than MaxRequest.
var ErrRequestTooLong = fmt.Errorf("request longer than %d bytes; a control request is one line of JSON", MaxRequest)

// Server answers control commands on a unix socket.
type Server struct {
	path string
	sup  Supervisor
	prof Profiler
	log  *zap.Logger

	ln   *limitListener
	wg   sync.WaitGroup
	stop chan struct{}
}

// CheckSocket reports whether tend could take path as its control socket
// now: ErrNotSocket when something else is there, ErrInUse when a process
// answers on the socket there. Nothing at all, or a stale socket (nobody
// listens), is fine.
func CheckSocket(path string) error {
	_, err := checkSocket(path)
	return err
}

// checkSocket is CheckSocket, and also reports whether a stale socket is
// at path.
func checkSocket(path string) (stale bool, err error) {
	st, err := os.Lstat(path)
	if err != nil {
		return false, nil
	}
	if st.Mode().Type() != fs.ModeSocket {
		return false, fmt.Errorf("%w: %s is a %s", ErrNotSocket, path, config.DescribeMode(st.Mode()))
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return false, ErrInUse
	}
	// Only a refusal proves that nobody listens. A listener whose queue is
	// full (EAGAIN), or a timeout, is a live tend that is busy: replacing
	// its socket would cut it off from every control command.
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true, nil
	}
	return false, fmt.Errorf("%w (cannot tell: %v)", ErrInUse, err)
}

// Listen takes path as the control socket, mode 0600, without answering
// yet (Serve does): connections wait in the socket's queue. A stale socket
// left by an earlier run is replaced; anything else at path, or a socket
// another tend answers on, is refused with ErrNotSocket or ErrInUse.
func Listen(path string) (*Server, error) {
	stale, err := checkSocket(path)
	if err != nil {
		return nil, err
	}
	if stale {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	ln, err := listenUnix(path)
	if errors.Is(err, syscall.EADDRINUSE) {
		// Another tend took the path since checkSocket looked.
		return nil, ErrInUse
	}
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &Server{path: path, ln: newLimitListener(ln, maxControlConns), stop: make(chan struct{})}, nil
}

// listenBacklog is the control socket's queue; the kernel caps it at
// net.core.somaxconn (4096 by default), as net.Listen's would be.
const listenBacklog = 4096

// listenUnix makes the listening socket at path, mode 0600, by hand
// rather than with net.Listen, which at its first use reads
// net.core.somaxconn through Go's poller; that file can be polled and is
// always ready, so the read wakes the poller's waiting thread for
// nothing at every start. The socket is private from the moment it
// exists: its mode is set before bind, which gives it to the file (less
// the umask, which only takes bits away; the chmod after makes it exact).
// Changing the umask instead would change it for the whole process
// meanwhile. Close does not remove the file; Server.Close does.
func listenUnix(path string) (net.Listener, error) {
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := syscall.Fchmod(fd, 0o600); err != nil {
		return nil, os.NewSyscallError("fchmod", err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		return nil, os.NewSyscallError("bind", err)
	}
	ln, err := listenBound(f, path)
	if err != nil {
		os.Remove(path) // bound by this call: nobody else's
	}
	return ln, err
}

// listenBound turns f, a unix socket just bound at path, into a listener
// with mode 0600 exactly. The listener works on a duplicate of f's
// descriptor, in the poller.
func listenBound(f *os.File, path string) (net.Listener, error) {
	if err := syscall.Listen(int(f.Fd()), listenBacklog); err != nil {
		return nil, os.NewSyscallError("listen", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, fmt.Errorf("chmod: %w", err)
	}
	return net.FileListener(f)
}

// Serve answers control commands with sup and prof, until Close.
func (s *Server) Serve(sup Supervisor, prof Profiler, log *zap.Logger) {
	s.sup, s.prof, s.log = sup, prof, log
	s.wg.Add(1)
	go s.accept()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control socket accept", zap.Error(err))
			time.Sleep(100 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer conn.Close()
			s.serve(conn.(*limitConn))
		}()
	}
}

func (s *Server) serve(conn *limitConn) {
	conn.SetReadDeadline(time.Now().Add(requestTimeout))
	req, err := readRequest(conn)
	if errors.Is(err, io.EOF) {
		// Connected and left without a word: CheckSocket of another
		// tend, or a probe.
		return
	}
	var resp Response
	switch {
	case errors.Is(err, ErrRequestTooLong):
		s.log.Warn("control socket: request too long; connection closed", zap.Int("limit", MaxRequest))
		resp = Response{Error: err.Error()}
	case err != nil:
		resp = Response{Error: "bad request: " + err.Error()}
	default:
		s.ln.markActive(conn)
		conn.SetReadDeadline(time.Time{})
		resp = s.handle(req)
	}
	conn.SetWriteDeadline(time.Now().Add(answerTimeout))
	json.NewEncoder(conn).Encode(resp)
}

// readRequest reads one request line of at most MaxRequest bytes from r,
// and never reads more than that. It returns io.EOF when r ends before
// any byte, ErrRequestTooLong when no newline comes within the limit. A
// last line without a newline is read as a request.
func readRequest(r io.Reader) (Request, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, MaxRequest), MaxRequest).ReadSlice('\n')
	switch {
	case len(line) >= MaxRequest && line[len(line)-1] != '\n':
		return Request{}, ErrRequestTooLong
	case err == io.EOF && len(line) == 0:
		return Request{}, io.EOF
	case err != nil && err != io.EOF:
		return Request{}, err
	}
	var req Request
	if err := json.Unmarshal(line, &req); err != nil {
		return Request{}, err
	}
	return req, nil
}

func (s *Server) handle(req Request) Response {
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	var err error
	switch req.Cmd {
	case "status":
		st := s.sup.Status()
		return Response{OK: true, Status: &st}
	case "profile":
		p := s.prof.Profile()
		return Response{OK: true, Profile: &p}
	case "health":
		st := s.sup.Status()
		return Response{OK: st.Ready, Status: &st}
	case "drain":
		s.log.Info("drain requested over the control socket", zap.Bool("wait", req.Wait))
		done := s.sup.Drain()
		if req.Wait {
			select {
			case <-done:
			case <-s.stop:
			}
		}
		return Response{OK: true}
	case "start":
		err = s.sup.Start(ctx, req.Name)
	case "stop":
		err = s.sup.StopProgram(ctx, req.Name)
	case "restart":
		err = s.sup.Restart(ctx, req.Name)
	case "signal":
		var sig syscall.Signal
		sig, err = config.ParseSignal(req.Signal)
		if err == nil {
			err = s.sup.Signal(req.Name, sig)
		}
	default:
		err = fmt.Errorf("unknown command %q", req.Cmd)
	}
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{OK: true}
}

// Close stops accepting, lets the commands in flight answer (a drain
// waiting with --wait answers now: the stop has finished), and removes
// the socket.
func (s *Server) Close(ctx context.Context) error {
	close(s.stop)
	err := s.ln.Close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	os.Remove(s.path)
	return err
}

// Call sends one request to the tend listening at path and returns its
// answer; ctx bounds the whole exchange.
func Call(ctx context.Context, path string, req Request) (*Response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to tend at %s (is tend running, and TEND_SOCKET the same?): %w", path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("send to %s: %w", path, err)
	}
	var resp Response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return nil, fmt.Errorf("read answer from %s: %w", path, err)
	}
	return &resp, nil
}
