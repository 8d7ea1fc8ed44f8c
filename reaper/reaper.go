// Package reaper starts tend's child processes and is the only place that
// collects their exit statuses.
//
// tend runs as PID 1 (or as a child subreaper), so every orphan in the
// container is re-parented to it. Exactly one loop calls wait4(-1): it hands
// each status to the Process that owns the PID and discards the statuses of
// orphans it never started. Nothing else in tend may wait for a child:
// os/exec's Cmd.Wait would race this loop and lose statuses, so programs,
// hooks and probes all start through Reaper.Start.
package reaper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/internal/signalpipe"
)

// sweepInterval is how often the reaper looks for exited children even
// without a SIGCHLD; signals coalesce, and this is the safety net.
const sweepInterval = time.Second

// Reaper starts processes and reaps every child of tend.
type Reaper struct {
	log *zap.Logger

	// mu is held while forking and registering a PID and while reaping, so
	// a child that exits at once is never mistaken for an orphan.
	mu    sync.Mutex
	procs map[int]*Process

	orphans atomic.Int64
}

// New returns a Reaper. Call Run before relying on exits being noticed.
func New(log *zap.Logger) *Reaper {
	return &Reaper{log: log, procs: map[int]*Process{}}
}

// BecomeSubreaper makes tend the reaper of orphaned descendants when it is
// not PID 1 (docker run --init, a shared process namespace, a shell above
// it). As PID 1 the kernel already re-parents orphans to tend.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		return nil
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set child subreaper: %w", err)
	}
	return nil
}

// CloseInheritedOnExec marks every descriptor above stderr that tend
// inherited from whoever started it close-on-exec, so that none leaks into
// the programs: an inherited pipe held open by a program would keep its
// reader from ever seeing EOF.
func CloseInheritedOnExec() error {
	if err := unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return fmt.Errorf("mark inherited descriptors close-on-exec: %w", err)
	}
	return nil
}

// Run reaps children until ctx is done: on every SIGCHLD and, as a safety
// net, every second.
func (r *Reaper) Run(ctx context.Context) error {
	sigs := make(chan os.Signal, 16)
	// Through the relay, SIGCHLD's handler is one system call and its
	// removal none; os/signal takes a round trip to the Go runtime's
	// signal thread for each. SIGCHLD may always be relayed.
	if err := signalpipe.Notify(sigs, syscall.SIGCHLD); err != nil {
		return fmt.Errorf("reaper: %w", err)
	}
	defer signalpipe.Stop(sigs)
	tick := time.NewTicker(sweepInterval)
	defer tick.Stop()
	for {
		r.reap()
		select {
		case <-ctx.Done():
			r.reap()
			return nil
		case <-sigs:
		case <-tick.C:
		}
	}
}

// reap collects every child that has exited, without blocking.
func (r *Reaper) reap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || pid <= 0 {
			return // ECHILD: no children; 0: none exited yet
		}
		if p, ok := r.procs[pid]; ok {
			delete(r.procs, pid)
			p.finish(ws, ru)
			continue
		}
		n := r.orphans.Add(1)
		r.log.Debug("orphan reaped", zap.Int("pid", pid), zap.Int("code", exitCode(ws)), zap.Int64("orphans_total", n))
	}
}

// Orphans returns how many statuses of processes tend did not start were reaped.
func (r *Reaper) Orphans() int64 { return r.orphans.Load() }

// Spec says how to start a process.
type Spec struct {
	// Argv is the command; Argv[0] is looked up in the PATH of Env.
	Argv []string
	// Env is the complete environment.
	Env []string
	// Dir is the working directory ("" keeps tend's).
	Dir string
	// Stdin, Stdout, Stderr become fds 0, 1, 2 (nil: /dev/null).
	Stdin, Stdout, Stderr *os.File
	// UID, GID and Groups run the process as another user when Credential is set.
	Credential *syscall.Credential
	// Foreground makes the new process group the terminal's foreground
	// group (for an interactive main program on a TTY).
	Foreground bool
}

// Start forks and executes spec in a new process group and registers it
// for reaping. The returned Process reports the exit through Done.
func (r *Reaper) Start(spec Spec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, errors.New("empty command")
	}
	path, err := lookPath(spec.Argv[0], spec.Env, spec.Dir)
	if err != nil {
		return nil, err
	}
	// /dev/null is opened as a bare descriptor: os.OpenFile would offer
	// it to the runtime's poller (which refuses it) and Fd would set it
	// blocking again, six system calls for nothing on every start.
	devnull := -1
	defer func() {
		if devnull >= 0 {
			syscall.Close(devnull)
		}
	}()
	var nullErr error
	fd := func(f *os.File) uintptr {
		if f != nil {
			return f.Fd()
		}
		if devnull < 0 && nullErr == nil {
			devnull, nullErr = openDevNull()
		}
		return uintptr(devnull)
	}
	files := []uintptr{fd(spec.Stdin), fd(spec.Stdout), fd(spec.Stderr)}
	if nullErr != nil {
		return nil, fmt.Errorf("open %s: %w", os.DevNull, nullErr)
	}
	attr := &syscall.ProcAttr{
		Dir:   spec.Dir,
		Env:   spec.Env,
		Files: files,
		Sys: &syscall.SysProcAttr{
			// Each process leads its own group, so stop and kill reach
			// everything it started.
			Setpgid:    true,
			Credential: spec.Credential,
			Foreground: spec.Foreground,
			Ctty:       0, // with Foreground: the terminal is the child's stdin
		},
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(path, spec.Argv, attr)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Argv[0], err)
	}
	p := &Process{Pid: pid, Started: time.Now(), reaper: r, done: make(chan struct{})}
	r.procs[pid] = p
	return p, nil
}

// openDevNull opens /dev/null for reading and writing, close-on-exec (the
// child gets its own copy as 0, 1 or 2).
func openDevNull() (int, error) {
	for {
		fd, err := syscall.Open(os.DevNull, syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// lookPath finds file in the PATH of env, as execvp would in the program's
// working directory dir ("" keeps tend's): a relative PATH entry, and ""
// (which means "."), names a directory below dir, because the process
// changes to dir before it executes the file. The path returned is the
// one to execute after that change.
func lookPath(file string, env []string, dir string) (string, error) {
	// inDir is where a path the process will execute is, as tend sees it.
	inDir := func(path string) string {
		if filepath.IsAbs(path) || dir == "" {
			return path
		}
		return filepath.Join(dir, path)
	}
	if strings.Contains(file, "/") {
		if err := executable(inDir(file)); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
		return file, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathEnv = v
		}
	}
	dirs := filepath.SplitList(pathEnv)
	if pathEnv == "" {
		// PATH set but empty is one empty entry to execvp, not none.
		dirs = []string{""}
	}
	for _, d := range dirs {
		if d == "" {
			d = "."
		}
		// Join turns "./x" into "x"; keep the "./" so the path plainly
		// names a file in the program's directory.
		full := filepath.Join(d, file)
		if !strings.Contains(full, "/") {
			full = "./" + full
		}
		if executable(inDir(full)) == nil {
			return full, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in PATH", file)
}

func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("not an executable file: %w", fs.ErrPermission)
	}
	return nil
}

// Process is a child started by the Reaper.
type Process struct {
	// Pid is the process ID, also its process group ID.
	Pid int
	// Started is when the process was forked.
	Started time.Time

	reaper *Reaper
	done   chan struct{}
	status syscall.WaitStatus
	rusage syscall.Rusage
	ended  time.Time
}

// Done is closed once the process has exited and been reaped.
func (p *Process) Done() <-chan struct{} { return p.done }

func (p *Process) finish(ws syscall.WaitStatus, ru syscall.Rusage) {
	p.status, p.rusage, p.ended = ws, ru, time.Now()
	close(p.done)
}

// Exited reports whether the process has been reaped.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// ExitCode is the exit status as a shell reports it: the code, or 128+N
// when killed by signal N. Valid after Done is closed.
func (p *Process) ExitCode() int { return exitCode(p.status) }

// Status is the raw wait status. Valid after Done is closed.
func (p *Process) Status() syscall.WaitStatus { return p.status }

// Ended is when the process was reaped. Valid after Done is closed.
func (p *Process) Ended() time.Time { return p.ended }

// CPUTime is the user plus system CPU time of the process and its reaped
// children. Valid after Done is closed.
func (p *Process) CPUTime() time.Duration {
	return time.Duration(p.rusage.Utime.Nano() + p.rusage.Stime.Nano())
}

// Signal sends sig to the process itself. It does nothing once the
// process has been reaped, so a recycled PID is never signalled.
func (p *Process) Signal(sig syscall.Signal) error {
	p.reaper.mu.Lock()
	defer p.reaper.mu.Unlock()
	if p.Exited() {
		return nil
	}
	return ignoreGone(syscall.Kill(p.Pid, sig))
}

// Suspended reports whether the process is stopped by a signal (SIGSTOP,
// SIGTSTP, SIGTTIN, SIGTTOU) or by a tracer: state T or t in
// /proc/PID/stat. It is false once the process has been reaped, so a
// recycled PID is never read.
func (p *Process) Suspended() bool {
	p.reaper.mu.Lock()
	defer p.reaper.mu.Unlock()
	if p.Exited() {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(p.Pid) + "/stat")
	if err != nil {
		return false
	}
	// "PID (COMM) STATE ...": COMM may hold spaces and parentheses, so the
	// state is the first field after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	state := stat[i+2]
	return state == 'T' || state == 't'
}

// SignalGroup sends sig to the process's whole group. Members of the group
// may outlive its leader, so this is allowed after the leader exited.
func (p *Process) SignalGroup(sig syscall.Signal) error {
	return ignoreGone(syscall.Kill(-p.Pid, sig))
}

func ignoreGone(err error) error {
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

func exitCode(ws syscall.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	}
	return 255
}
