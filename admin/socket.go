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

func describeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	}
	return m.Type().String()
}

// controlTimeout bounds one control command that does not wait for a drain.
const controlTimeout = 2 * time.Minute

// Server answers control commands on a unix socket.
type Server struct {
	path string
	sup  Supervisor
	prof Profiler
	log  *zap.Logger

	ln   net.Listener
	wg   sync.WaitGroup
	stop chan struct{}
}

// Listen creates the control socket at path with mode 0600. A stale socket
// left by an earlier run is replaced; anything else at path (a file, a
// directory, a socket another tend answers on) is refused.
func Listen(path string, sup Supervisor, prof Profiler, log *zap.Logger) (*Server, error) {
	if st, err := os.Lstat(path); err == nil {
		if st.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%w: %s is a %s", ErrNotSocket, path, describeMode(st.Mode()))
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another tend answers on it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	// The umask keeps the socket private from the moment it exists;
	// the chmod below makes the mode exact whatever the umask was.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: chmod: %w", path, err)
	}
	s := &Server{path: path, sup: sup, prof: prof, log: log, ln: ln, stop: make(chan struct{})}
	s.wg.Add(1)
	go s.accept()
	return s, nil
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
			s.serve(conn)
		}()
	}
}

func (s *Server) serve(conn net.Conn) {
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		return
	}
	conn.SetReadDeadline(time.Time{})
	var req Request
	var resp Response
	if err := json.Unmarshal(line, &req); err != nil {
		resp = Response{Error: "bad request: " + err.Error()}
	} else {
		resp = s.handle(req)
	}
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	json.NewEncoder(conn).Encode(resp)
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
