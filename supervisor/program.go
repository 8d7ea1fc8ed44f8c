package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/config"
	"tend/hooks"
	"tend/reaper"
	"tend/resources"
)

// probeInterval is the pause between two readiness probe attempts.
const probeInterval = 200 * time.Millisecond

// killWait bounds the wait for a process to disappear after SIGKILL (a
// process in uninterruptible sleep can take a moment).
const killWait = 2 * time.Second

// program runs one configured program: one goroutine (run) owns its
// process and walks the state machine; other goroutines talk to it through
// ctl and read its state under mu.
type program struct {
	cfg  config.Program
	main bool
	sup  *Supervisor
	log  *zap.Logger

	// stdout and stderr are the write ends of the program's pipes. tend
	// keeps them for the program's whole life, so one reader per stream
	// serves every restart; they are closed once the program is stopped
	// for good.
	stdout, stderr *os.File
	// terminal is set when the main program runs on tend's terminal.
	terminal bool

	mu       sync.Mutex
	state    State
	proc     *reaper.Process
	ready    bool
	restarts int
	failures int // quick failures in a row
	lastExit *Exit
	reason   string

	launched     chan struct{} // closed after the first start attempt
	firstUp      chan struct{} // closed the first time the program is ready
	onceLaunched sync.Once
	onceUp       sync.Once
	ctl          chan control

	// Side programs start one at a time, in the configuration's start
	// order. turn is closed once this program has had its turn: it made
	// its first start attempt, or it waits for its dependencies, or it
	// does not start by itself. after is the previous program's turn
	// (nil for the first).
	turn     chan struct{}
	onceTurn sync.Once
	after    <-chan struct{}

	// starting is a start or restart request, answered once the new
	// process has been started (or could not be), so that `tend restart`
	// returns with the new process in place. Only the run loop uses it.
	starting *control
}

// control is a request to a program's run loop.
type control struct {
	op string // "start", "stop" or "restart"
	// force, when cancelled, turns a stop into an immediate kill.
	force context.Context
	// deadline is when a stopping process is killed.
	deadline time.Time
	done     chan error
}

func (c control) reply(err error) {
	if c.done != nil {
		c.done <- err
	}
}

func newProgram(sup *Supervisor, cfg config.Program, main bool) (*program, error) {
	p := &program{
		cfg:      cfg,
		main:     main,
		sup:      sup,
		log:      sup.log.With(zap.String("program", cfg.Name)),
		state:    Stopped,
		launched: make(chan struct{}),
		firstUp:  make(chan struct{}),
		turn:     make(chan struct{}),
		ctl:      make(chan control),
	}
	if main && isTerminal(os.Stdin) {
		// Interactive (docker run -it): the main program gets the terminal
		// itself and becomes its foreground process group, so a shell's job
		// control and line editing work; its output is not captured.
		p.terminal = true
		p.stdout, p.stderr = os.Stdout, os.Stderr
		return p, nil
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe of %s: %w", cfg.Name, err)
	}
	p.stdout = outW
	sup.logs.Capture(cfg.Name, "stdout", outR)
	if cfg.RedirectStderr {
		p.stderr = outW
		return p, nil
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe of %s: %w", cfg.Name, err)
	}
	p.stderr = errW
	sup.logs.Capture(cfg.Name, "stderr", errR)
	return p, nil
}

// closePipes closes tend's write ends so that the readers see EOF once the
// program and anything that inherited the pipes are gone.
func (p *program) closePipes() {
	if p.terminal {
		return
	}
	p.stdout.Close()
	if p.stderr != p.stdout {
		p.stderr.Close()
	}
}

func (p *program) setState(s State, reason string) {
	p.mu.Lock()
	p.state, p.reason = s, reason
	p.mu.Unlock()
}

func (p *program) markLaunched() {
	p.onceLaunched.Do(func() { close(p.launched) })
	p.passTurn()
}

func (p *program) passTurn() { p.onceTurn.Do(func() { close(p.turn) }) }

func (p *program) setReady(ready bool) {
	p.mu.Lock()
	p.ready = ready
	p.mu.Unlock()
	if ready {
		p.onceUp.Do(func() { close(p.firstUp) })
		p.log.Info("ready")
	}
}

// run is the program's state machine. It returns when ctx is done.
func (p *program) run(ctx context.Context) {
	defer p.answerStart(errors.New("tend is stopping"))
	if p.after != nil {
		select {
		case <-p.after:
		case <-ctx.Done():
			return
		}
	}
	want := p.cfg.AutoStart
	for {
		if !want {
			p.markLaunched()
			c, ok := p.await(ctx, nil)
			if !ok {
				return
			}
			if c.op == "stop" {
				c.reply(nil)
				continue
			}
			want = true
			p.answerLater(*c)
		}
		deps := p.sup.dependenciesReady(ctx, p)
		select {
		case <-deps:
		default:
			// Waiting for its dependencies: the next program's turn,
			// and a start request need not wait with it.
			p.passTurn()
			p.answerStart(nil)
		}
		if c, ok := p.await(ctx, deps); !ok {
			return
		} else if c != nil {
			p.answerStart(nil)
			want = c.op != "stop"
			c.reply(nil)
			continue
		}
		if p.sup.stopping.Load() {
			p.markLaunched()
			p.answerStart(errors.New("stop under way"))
			want = false
			continue
		}
		next, ok := p.runOnce(ctx)
		if !ok {
			return
		}
		want = next
	}
}

// answerLater keeps a start or restart request to answer after the start.
func (p *program) answerLater(c control) {
	p.answerStart(nil)
	p.starting = &c
}

// answerStart answers the pending start or restart request, if any.
func (p *program) answerStart(err error) {
	if p.starting != nil {
		p.starting.reply(err)
		p.starting = nil
	}
}

// await blocks until ready is closed (nil: never) or a control request
// arrives; ok is false when ctx is done.
func (p *program) await(ctx context.Context, ready <-chan struct{}) (*control, bool) {
	select {
	case <-ctx.Done():
		return nil, false
	case <-ready:
		return nil, true
	case c := <-p.ctl:
		return &c, true
	}
}

// runOnce starts the program and follows it until it ends for good or is
// stopped; it returns whether the program should be started again at once.
func (p *program) runOnce(ctx context.Context) (again bool, ok bool) {
	proc, err := p.spawn()
	p.markLaunched()
	p.answerStart(err)
	if err != nil {
		p.log.Error("cannot start", zap.Error(err))
		// As a shell reports it: 126 for a file that cannot be executed,
		// 127 for a command that is not there.
		code := 127
		if errors.Is(err, fs.ErrPermission) {
			code = 126
		}
		return p.afterExit(ctx, nil, &Exit{Code: code, At: time.Now()}, true, err.Error())
	}
	p.log.Info("started", zap.Int("pid", proc.Pid), zap.Strings("command", p.cfg.Command))

	probeCtx, cancelProbe := context.WithCancel(ctx)
	defer cancelProbe()
	probeOK := p.probe(probeCtx)
	started := time.NewTimer(p.cfg.StartPeriod)
	defer started.Stop()
	for {
		select {
		case <-proc.Done():
			cancelProbe()
			ex := exitOf(proc)
			return p.afterExit(ctx, proc, ex, ex.Ran < p.cfg.StartPeriod, "")
		case <-started.C:
			p.mu.Lock()
			p.state, p.failures = Running, 0
			p.mu.Unlock()
			if p.cfg.Ready.Kind == config.ProbeNone {
				p.setReady(true)
			}
		case <-probeOK:
			probeOK = nil
			p.setReady(true)
		case c := <-p.ctl:
			switch c.op {
			case "start":
				c.reply(fmt.Errorf("%s is already running", p.cfg.Name))
			case "stop", "restart":
				cancelProbe()
				p.terminate(c.force, proc, c.deadline)
				ex := exitOf(proc)
				p.recordExit(ex)
				if c.op == "stop" {
					p.setState(Stopped, "stopped")
					c.reply(nil)
					return false, true
				}
				p.mu.Lock()
				p.restarts++
				p.mu.Unlock()
				p.answerLater(c)
				return true, true
			}
		case <-ctx.Done():
			proc.SignalGroup(syscall.SIGKILL)
			<-proc.Done()
			return false, false
		}
	}
}

// afterExit records an exit that nobody asked for and decides what comes
// next: a restart after a backoff, EXITED, or FATAL. proc is nil when the
// program could not be started at all.
func (p *program) afterExit(ctx context.Context, proc *reaper.Process, ex *Exit, quick bool, why string) (again bool, ok bool) {
	p.recordExit(ex)
	p.log.Info("exited", zap.Int("code", ex.Code), zap.Duration("ran", ex.Ran))
	if p.cfg.KillAsGroup && proc != nil {
		// Members of the group that outlive their leader would otherwise
		// run on unsupervised; the leader's exit ends the group.
		proc.SignalGroup(syscall.SIGKILL)
	}
	noRetry := p.main && p.cfg.AutoRestart == config.RestartNever
	if p.sup.stopping.Load() {
		p.setState(Exited, "exited during the stop")
		p.sup.notify(event{prog: p, kind: evExited, exit: ex})
		return false, true
	}
	if quick && !noRetry {
		p.mu.Lock()
		p.failures++
		failures := p.failures
		p.mu.Unlock()
		if failures > p.cfg.StartRetries {
			reason := fmt.Sprintf("exited %d times within startsecs (%s); last exit code %d", failures, p.cfg.StartPeriod, ex.Code)
			if why != "" {
				reason += ": " + why
			}
			p.setState(Fatal, reason)
			p.log.Warn("fatal", zap.String("reason", reason))
			p.sup.notify(event{prog: p, kind: evFatal, exit: ex, reason: reason})
			return false, true
		}
		return p.backoff(ctx, failures)
	}
	if !quick {
		p.mu.Lock()
		p.failures = 0
		p.mu.Unlock()
	}
	if p.shouldRestart(ex.Code) {
		return p.backoff(ctx, 1)
	}
	reason := fmt.Sprintf("exited with code %d", ex.Code)
	if why != "" {
		reason = why
	}
	p.setState(Exited, reason)
	p.sup.notify(event{prog: p, kind: evExited, exit: ex})
	return false, true
}

func (p *program) shouldRestart(code int) bool {
	switch p.cfg.AutoRestart {
	case config.RestartAlways:
		return true
	case config.RestartUnexpected:
		return !p.expected(code)
	}
	return false
}

// expected reports whether code is one of the program's exitcodes.
func (p *program) expected(code int) bool {
	return slices.Contains(p.cfg.ExitCodes, code)
}

// backoff waits before a restart; a stop request during the wait wins.
func (p *program) backoff(ctx context.Context, attempt int) (again bool, ok bool) {
	d := backoff(attempt)
	p.setState(Backoff, fmt.Sprintf("restarting in %s", d.Round(time.Millisecond)))
	p.log.Info("backoff", zap.Duration("wait", d), zap.Int("attempt", attempt))
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, false
		case <-t.C:
			if p.sup.stopping.Load() {
				p.setState(Exited, "not restarted: stop under way")
				return false, true
			}
			p.mu.Lock()
			p.restarts++
			p.mu.Unlock()
			return true, true
		case c := <-p.ctl:
			switch c.op {
			case "stop":
				p.setState(Stopped, "stopped")
				c.reply(nil)
				return false, true
			default:
				p.mu.Lock()
				p.restarts++
				p.failures = 0
				p.mu.Unlock()
				p.answerLater(c)
				return true, true
			}
		}
	}
}

func (p *program) recordExit(ex *Exit) {
	p.mu.Lock()
	p.lastExit = ex
	p.ready = false
	p.mu.Unlock()
}

func exitOf(proc *reaper.Process) *Exit {
	ex := &Exit{Code: proc.ExitCode(), At: proc.Ended(), Ran: proc.Ended().Sub(proc.Started)}
	if ws := proc.Status(); ws.Signaled() {
		ex.Signal = config.SignalName(ws.Signal())
	}
	return ex
}

// spawn starts the program's process.
func (p *program) spawn() (*reaper.Process, error) {
	spec := reaper.Spec{
		Argv:   p.cfg.Command,
		Env:    p.sup.environment(p.cfg),
		Dir:    p.cfg.Directory,
		Stdout: p.stdout,
		Stderr: p.stderr,
	}
	if p.main {
		spec.Stdin = os.Stdin
		spec.Foreground = p.terminal
	}
	if c := p.cfg.Credential; c != nil {
		spec.Credential = &syscall.Credential{Uid: c.UID, Gid: c.GID, Groups: c.Groups}
	}
	proc, err := p.sup.reaper.Start(spec)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.proc, p.state, p.ready, p.reason = proc, Starting, false, ""
	p.mu.Unlock()
	return proc, nil
}

// probe runs the readiness probe until it passes; the returned channel
// is closed then. It is nil when the program has no probe.
func (p *program) probe(ctx context.Context) <-chan struct{} {
	if p.cfg.Ready.Kind == config.ProbeNone {
		return nil
	}
	ok := make(chan struct{})
	go func() {
		for {
			err := hooks.Probe(ctx, p.cfg.Ready, p.sup.reaper)
			if err == nil {
				close(ok)
				return
			}
			p.log.Debug("not ready yet", zap.Error(err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(probeInterval):
			}
		}
	}()
	return ok
}

// terminate stops proc: its stop signal, a wait bounded by stopwaitsecs
// and the deadline, then SIGKILL. When ctx is cancelled (a second TERM),
// it kills at once.
func (p *program) terminate(ctx context.Context, proc *reaper.Process, deadline time.Time) {
	p.setState(Stopping, "")
	begin := time.Now()
	send := proc.Signal
	if p.cfg.StopAsGroup {
		send = proc.SignalGroup
	}
	wait := p.cfg.StopWait
	if left := time.Until(deadline); left < wait {
		wait = max(left, 0)
	}
	var dumpLead time.Duration
	if p.main && p.sup.cfg.Stop.DumpOnTimeout {
		// Keep the last part of the wait for the JVM to print its
		// thread dump between the QUIT and the kill.
		dumpLead = min(time.Second, wait/4)
	}
	if err := send(p.cfg.StopSignal); err != nil {
		p.log.Warn("stop signal failed", zap.Error(err))
	}
	p.log.Info("stop signal sent", zap.String("signal", config.SignalName(p.cfg.StopSignal)), zap.Duration("wait", wait))
	timer := time.NewTimer(wait - dumpLead)
	defer timer.Stop()
	select {
	case <-proc.Done():
	case <-ctx.Done():
	case <-timer.C:
		if dumpLead > 0 {
			p.log.Warn("stop timed out; sending QUIT for a thread dump", zap.Duration("before_kill", dumpLead))
			proc.Signal(syscall.SIGQUIT)
			select {
			case <-proc.Done():
			case <-ctx.Done():
			case <-time.After(dumpLead):
			}
		}
	}
	if !proc.Exited() {
		p.log.Warn("killing", zap.Duration("after", time.Since(begin)), zap.Bool("group", p.cfg.KillAsGroup))
		if p.cfg.KillAsGroup {
			proc.SignalGroup(syscall.SIGKILL)
		} else {
			proc.Signal(syscall.SIGKILL)
		}
		select {
		case <-proc.Done():
		case <-time.After(killWait):
			p.log.Error("process survived SIGKILL", zap.Int("pid", proc.Pid))
		}
	}
	if p.cfg.KillAsGroup {
		proc.SignalGroup(syscall.SIGKILL)
	}
	p.log.Info("stopped", zap.Duration("took", time.Since(begin)))
}

// request sends a control request to the run loop and waits for the
// reply, or until ctx ends.
func (p *program) request(ctx context.Context, op string, force context.Context, deadline time.Time) error {
	c := control{op: op, force: force, deadline: deadline, done: make(chan error, 1)}
	select {
	case p.ctl <- c:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// signal sends sig to the program's process.
func (p *program) signal(sig syscall.Signal) error {
	p.mu.Lock()
	proc := p.proc
	p.mu.Unlock()
	if proc == nil || proc.Exited() {
		return errors.New(p.cfg.Name + " is not running")
	}
	return proc.Signal(sig)
}

// status returns a snapshot of the program.
func (p *program) status() ProgramStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := ProgramStatus{
		Name: p.cfg.Name, Main: p.main, State: p.state, Ready: p.ready,
		Restarts: p.restarts, LastExit: p.lastExit, Reason: p.reason,
	}
	if p.proc != nil && !p.proc.Exited() {
		st.Pid = p.proc.Pid
		st.Started = p.proc.Started
		st.Uptime = time.Since(p.proc.Started).Seconds()
	}
	return st
}

// statusWithUsage adds what the running process uses, read from /proc.
func (p *program) statusWithUsage() ProgramStatus {
	st := p.status()
	if st.Pid != 0 {
		st.Usage = resources.ReadUsage(st.Pid)
	}
	return st
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
