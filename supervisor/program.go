package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
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

// program runs one configured program. One goroutine (run) owns its
// process and walks the life cycle of machine.go; other goroutines talk
// to it through ctl and read its state under mu.
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

	// The last usage read for the status, of process usagePid.
	usageMu  sync.Mutex
	usage    *resources.Usage
	usagePid int

	// Written only by run, always under mu; read by others under mu.
	mu        sync.Mutex
	state     State
	since     time.Time // when state was entered
	reason    string
	proc      *reaper.Process
	ready     bool
	restarts  int
	failures  int // failed starts in a row: quick exits and spawn errors
	shortages int // starts in a row that failed for lack of resources
	lastExit  *Exit
	oomKills  int
	// waitStates is how the wait for outside services stands (WAITING);
	// waitGen tells the current wait's reports from a late one of a wait
	// that was given up.
	waitStates []hooks.DependencyState
	waitGen    int

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

	// Only run uses the fields below. Each channel is nil unless the
	// current state waits for it.
	starts      []control       // start and restart requests, answered once the process started (or cannot)
	stops       []control       // stop requests, answered once the process is gone
	deps        <-chan struct{} // WAITING: a dependency not ready yet
	outside     <-chan error    // WAITING: the end of the wait for outside services
	cancelWait  context.CancelFunc
	exited      <-chan struct{} // STARTING, RUNNING, STOPPING: the process's end
	probeOK     <-chan struct{} // STARTING, RUNNING: the readiness probe passed
	cancelProbe context.CancelFunc
	timer       *time.Timer
	timerC      <-chan time.Time // STARTING, BACKOFF, STOPPING: the state's deadline
	timerEvent  eventKind        // what timerC means
	retryWait   time.Duration    // BACKOFF: the wait before the retry
	force       <-chan struct{}  // STOPPING: a second TERM kills at once
	stop        stopProgress     // STOPPING: how far the stop has gone
	// env is the environment the current process was started with: the
	// memory watch reads a Java program's heap settings from it when the
	// process dies, and building it again then would cost the exit a map
	// of every variable.
	env []string
}

// stopProgress is how far a STOPPING program's stop has gone.
type stopProgress struct {
	began    time.Time
	by       time.Time     // when the wait after the stop signal ends
	dumpLead time.Duration // the part of the wait kept for a thread dump
	stage    stopStage
}

type stopStage int

const (
	stopSignalled stopStage = iota // the stop signal was sent
	stopDumping                    // QUIT was sent for a thread dump
	stopKilled                     // SIGKILL was sent
)

// control is a request to a program's run loop.
type control struct {
	kind eventKind // evStart, evStop or evRestart
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
		since:    time.Now(),
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
	outR, outW, err := outputPipe()
	if err != nil {
		return nil, fmt.Errorf("stdout pipe of %s: %w", cfg.Name, err)
	}
	p.stdout = outW
	sup.logs.Capture(cfg.Name, "stdout", outR)
	if cfg.RedirectStderr {
		p.stderr = outW
		return p, nil
	}
	errR, errW, err := outputPipe()
	if err != nil {
		return nil, fmt.Errorf("stderr pipe of %s: %w", cfg.Name, err)
	}
	p.stderr = errW
	sup.logs.Capture(cfg.Name, "stderr", errR)
	return p, nil
}

// outputPipe returns a pipe for a program's output: the read end for the
// log pipeline, the write end for the program. Only the read end is
// non-blocking and in the runtime's poller, as os.Pipe makes both: tend
// never writes to the write end, and os.Pipe's would be set blocking again
// (File.Fd) at every start of the program. Six system calls fewer per
// pipe, on the way to the main program's start.
func outputPipe() (r, w *os.File, err error) {
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		return nil, nil, os.NewSyscallError("pipe2", err)
	}
	if err := syscall.SetNonblock(p[0], true); err != nil {
		syscall.Close(p[0])
		syscall.Close(p[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
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

// run is the program's life: wait for the next event, apply it, and do
// what the new state does, until ctx is done.
func (p *program) run(ctx context.Context) {
	defer p.shutdown()
	if p.after != nil {
		select {
		case <-p.after:
		case <-ctx.Done():
			return
		}
	}
	ev := event{kind: evStart}
	if !p.cfg.AutoStart {
		p.markLaunched()
		ev = event{}
	}
	for {
		for ev.kind != evNone {
			ev = p.apply(ev)
		}
		p.answer()
		var ok bool
		if ev, ok = p.next(ctx); !ok {
			return
		}
	}
}

// next waits for the next event; ok is false once ctx is done.
func (p *program) next(ctx context.Context) (ev event, ok bool) {
	for {
		select {
		case <-ctx.Done():
			return event{}, false
		case c := <-p.ctl:
			return event{kind: c.kind, ctl: &c}, true
		case <-p.deps:
			// One dependency is ready; the event is when all are, and
			// the outside services have answered.
			if pending := p.sup.pendingDependencies(p); len(pending) > 0 {
				p.deps = pending[0]
				continue
			}
			p.deps = nil
			if p.outside != nil {
				continue
			}
			return event{kind: evDepsReady}, true
		case err := <-p.outside:
			p.outside = nil
			if err != nil {
				return event{kind: evWaitFailed, err: err}, true
			}
			p.log.Info("outside services answered")
			if p.deps != nil {
				continue
			}
			return event{kind: evDepsReady}, true
		case <-p.exited:
			if p.state == Starting && p.proc.Ended().Sub(p.proc.Started) >= p.cfg.StartPeriod {
				// It ran startsecs: that comes first, even when the exit
				// won the race with the timer; the exit is next.
				return event{kind: evStartSecs}, true
			}
			p.exited = nil
			return event{kind: evExited, exit: p.reaped()}, true
		case <-p.timerC:
			p.timerC = nil
			return event{kind: p.timerEvent}, true
		case <-p.probeOK:
			p.probeOK = nil
			return event{kind: evProbePassed}, true
		case <-p.force:
			p.force = nil
			return event{kind: evForce}, true
		}
	}
}

// leave drops what the state left behind waited for. Each state arms its
// own timer; the probe runs from the start until the process is stopped
// or gone.
func (p *program) leave(from, to State) {
	p.disarm()
	switch from {
	case Waiting:
		p.deps = nil
		p.stopWaiting()
	case Starting, Running:
		if to != Running {
			p.stopProbe()
		}
	case Stopping:
		p.force = nil
		// A process that survived SIGKILL is given up on; should it be
		// reaped after all, that is no event any more.
		p.exited = nil
	}
}

// answer replies to the requests that can be answered in the state the
// program has settled in.
func (p *program) answer() {
	if p.state == Stopping {
		return
	}
	p.answerStops(nil)
	switch p.state {
	case Waiting:
		// Accepted: it starts once its dependencies are ready.
		p.answerStarts(nil)
	case Stopped, Exited, Fatal:
		p.answerStarts(fmt.Errorf("%s not started: %s", p.cfg.Name, p.reason))
	}
}

func (p *program) answerStarts(err error) {
	for _, c := range p.starts {
		c.reply(err)
	}
	p.starts = nil
}

func (p *program) answerStops(err error) {
	for _, c := range p.stops {
		c.reply(err)
	}
	p.stops = nil
}

// shutdown ends the program with tend: requests still open are answered
// and a process still running is killed.
func (p *program) shutdown() {
	p.disarm()
	p.stopProbe()
	p.stopWaiting()
	p.answerStarts(errors.New("tend is stopping"))
	p.answerStops(nil)
	if p.exited == nil {
		return
	}
	p.proc.SignalGroup(syscall.SIGKILL)
	wait := killWait
	if p.state == Stopping && p.stop.stage == stopKilled {
		// The stop killed it and waited for it as long as its budget
		// allowed: tend exits now rather than wait once more.
		wait = 0
	}
	select {
	case <-p.proc.Done():
	case <-time.After(wait):
		p.log.Error("process survived SIGKILL", zap.Int("pid", p.proc.Pid))
	}
}

// arm makes the timer deliver kind after d.
func (p *program) arm(d time.Duration, kind eventKind) {
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	p.timerC, p.timerEvent = p.timer.C, kind
}

func (p *program) disarm() {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.timerC = nil
}

// State actions (entry in machine.go).

// rest enters STOPPED, EXITED or FATAL: the program no longer runs and
// will not start by itself. An EXITED or FATAL program is reported to the
// supervisor, which decides what it means for the container.
func (p *program) rest(ev event) event {
	p.markLaunched()
	switch p.state {
	case Stopped:
		switch ev.kind {
		case evExited:
			p.log.Info("stopped", zap.Duration("took", time.Since(p.stop.began)))
		case evStopTimeout:
			p.log.Error("process survived SIGKILL", zap.Int("pid", p.proc.Pid))
		}
	case Exited:
		p.sup.report(ending{prog: p, exit: p.lastExit, reason: p.reason})
	case Fatal:
		waitFailed := ev.kind == evWaitFailed
		switch {
		case waitFailed && p.main:
			p.log.Error("outside services did not answer: the main program cannot start; tend exits 1", zap.String("reason", p.reason))
		case waitFailed:
			p.log.Error("outside services did not answer: the program is FATAL", zap.String("reason", p.reason))
		default:
			p.log.Warn("fatal", zap.String("reason", p.reason))
		}
		p.sup.report(ending{prog: p, fatal: true, waitFailed: waitFailed, exit: p.lastExit, reason: p.reason})
	}
	return event{}
}

// awaitDependencies enters WAITING: the program starts once each of its
// dependencies has been ready (and, for the main program, the side
// programs have been started), and each of its outside services has
// answered.
func (p *program) awaitDependencies(event) event {
	deps := p.outsideDependencies()
	pending := p.sup.pendingDependencies(p)
	if len(pending) == 0 && len(deps) == 0 {
		return event{kind: evDepsReady}
	}
	if len(pending) > 0 {
		p.deps = pending[0]
	}
	if len(deps) > 0 {
		p.waitOutside(deps)
	}
	// The next program's turn need not wait with it.
	p.passTurn()
	p.log.Info("waiting", zap.String("for", p.reason), zap.String("outside", config.JoinDependencies(deps)))
	return event{}
}

// outsideDependencies are the outside services the program waits for:
// its wait_for, and for the main program TEND_WAIT_FOR too.
func (p *program) outsideDependencies() []config.Dependency {
	if p.main {
		return append(append([]config.Dependency(nil), p.sup.cfg.WaitFor...), p.cfg.WaitFor...)
	}
	return p.cfg.WaitFor
}

// waitOutside checks deps, all at once and each with its backoff, within
// TEND_WAIT_TIMEOUT; p.outside delivers the outcome. Commands run through
// the reaper like every child of tend.
func (p *program) waitOutside(deps []config.Dependency) {
	begin := time.Now()
	states := make([]hooks.DependencyState, len(deps))
	for i, d := range deps {
		states[i] = hooks.DependencyState{Target: d.Spec, Since: begin}
	}
	p.mu.Lock()
	p.waitGen++
	gen := p.waitGen
	p.waitStates = states
	p.mu.Unlock()
	progress := func(states []hooks.DependencyState) {
		p.mu.Lock()
		if p.waitGen == gen {
			p.waitStates = states
		}
		p.mu.Unlock()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- hooks.WaitFor(ctx, deps, p.sup.cfg.WaitTimeout, p.sup.reaper, progress) }()
	p.outside, p.cancelWait = done, cancel
}

// stopWaiting gives up the wait for outside services, if one is under
// way: its checks end at once, a check command killed with its group.
func (p *program) stopWaiting() {
	if p.cancelWait != nil {
		p.cancelWait()
		p.cancelWait = nil
	}
	p.outside = nil
	p.mu.Lock()
	p.waitGen++
	p.waitStates = nil
	p.mu.Unlock()
}

// spawn enters STARTING: it starts the process and answers the start
// requests with the outcome.
func (p *program) spawn(event) event {
	proc, err := p.startProcess()
	if err != nil {
		p.markLaunched()
		p.answerStarts(err)
		if lacksResources(err) {
			return event{kind: evNoResources, err: err}
		}
		p.log.Error("cannot start", zap.Error(err))
		// As a shell reports it: 126 for a file that cannot be executed,
		// 127 for a command that is not there.
		code := 127
		if errors.Is(err, fs.ErrPermission) {
			code = 126
		}
		ex := &Exit{Code: code, At: time.Now()}
		p.recordExit(ex)
		return event{kind: evSpawnFailed, exit: ex, err: err}
	}
	p.mu.Lock()
	p.proc = proc
	p.mu.Unlock()
	p.exited = proc.Done()
	// "started" is logged before the next program may start (markLaunched
	// lets it, and the main program waits for it), so that the events
	// list the programs in the order they were started.
	p.log.Info("started", zap.Int("pid", proc.Pid), zap.Strings("command", p.cfg.Command))
	p.markLaunched()
	// Answered with the new process in place: `tend restart` then
	// `tend status` shows its PID.
	p.answerStarts(nil)
	return event{kind: evSpawned}
}

// lacksResources reports whether a start failed for lack of descriptors,
// processes or memory: the command itself is fine and a later attempt
// can succeed once the resources come back.
func lacksResources(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.ENOMEM} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// becomeRunning enters RUNNING: without a probe, having run startsecs is
// what makes the program ready.
func (p *program) becomeRunning(event) event {
	if p.cfg.Ready.Kind == config.ProbeNone {
		p.setReady(true)
	}
	return event{}
}

// retryLater enters BACKOFF: the next start comes after the wait.
func (p *program) retryLater(ev event) event {
	p.arm(p.retryWait, evBackoffElapsed)
	if ev.kind == evNoResources {
		p.log.Warn("cannot start for lack of resources; retrying", zap.Error(ev.err),
			zap.Duration("retry_in", p.retryWait), zap.Int("attempt", p.shortages))
		return event{}
	}
	p.log.Info("backoff", zap.Duration("wait", p.retryWait), zap.Int("failures", p.failures))
	return event{}
}

// beginStop enters STOPPING: the stop signal, then a wait bounded by
// stopwaitsecs and the request's deadline.
func (p *program) beginStop(ev event) event {
	c := ev.ctl
	wait := p.cfg.StopWait
	if left := time.Until(c.deadline); left < wait {
		wait = max(left, 0)
	}
	p.stop = stopProgress{began: time.Now()}
	if p.main && p.sup.cfg.Stop.DumpOnTimeout {
		// Keep the last part of the wait for the JVM to print its
		// thread dump between the QUIT and the kill.
		p.stop.dumpLead = min(time.Second, wait/4)
	}
	if err := p.sendStop(p.cfg.StopSignal); err != nil {
		p.log.Warn("stop signal failed", zap.Error(err))
	}
	p.resume()
	p.log.Info("stop signal sent", zap.String("signal", config.SignalName(p.cfg.StopSignal)), zap.Duration("wait", wait))
	p.stop.by = time.Now().Add(wait - p.stop.dumpLead)
	p.arm(wait-p.stop.dumpLead, evStopTimeout)
	if c.force != nil {
		p.force = c.force.Done()
	}
	return event{}
}

// sendStop sends sig as a stop: to the process, or with stopasgroup to
// its whole group.
func (p *program) sendStop(sig syscall.Signal) error {
	if p.cfg.StopAsGroup {
		return p.proc.SignalGroup(sig)
	}
	return p.proc.Signal(sig)
}

// resume continues a program that a signal stopped (SIGSTOP, SIGTSTP, a
// debugger): it would keep its stop signal pending until the kill, so a
// JVM could never run its shutdown hooks. CONT goes only to a stopped
// program, so that a running one sees its stop signal and nothing else.
func (p *program) resume() {
	if !p.proc.Suspended() {
		return
	}
	if err := p.sendStop(syscall.SIGCONT); err != nil {
		p.log.Warn("cannot continue the stopped program", zap.Error(err))
		return
	}
	p.log.Warn("program was stopped by a signal; sent CONT after its stop signal", zap.Int("pid", p.proc.Pid))
}

// Row actions (do in machine.go).

// watchStart follows a new process: the readiness probe, and startsecs.
func (p *program) watchStart(event) event {
	p.probeOK = p.probe()
	if p.cfg.StartPeriod <= 0 {
		return event{kind: evStartSecs}
	}
	p.arm(p.cfg.StartPeriod, evStartSecs)
	return event{}
}

func (p *program) markReady(event) event {
	p.setReady(true)
	return event{}
}

// refuseStart answers a start request for a program that runs.
func (p *program) refuseStart(event) event {
	last := len(p.starts) - 1
	p.starts[last].reply(fmt.Errorf("%s is already running", p.cfg.Name))
	p.starts = p.starts[:last]
	return event{}
}

// escalate follows a stop that timed out: QUIT for a thread dump when
// asked (once), then SIGKILL.
func (p *program) escalate(event) event {
	if p.stop.stage == stopSignalled && p.stop.dumpLead > 0 {
		p.stop.stage = stopDumping
		p.log.Warn("stop timed out; sending QUIT for a thread dump", zap.Duration("before_kill", p.stop.dumpLead))
		p.proc.Signal(syscall.SIGQUIT)
		p.arm(p.stop.dumpLead, evStopTimeout)
		return event{}
	}
	return p.kill(event{})
}

// kill sends SIGKILL (to the group with killasgroup) and waits killWait
// for the process to go.
func (p *program) kill(event) event {
	if p.stop.stage == stopKilled {
		return event{}
	}
	p.stop.stage = stopKilled
	p.force = nil
	p.log.Warn("killing", zap.Duration("after", time.Since(p.stop.began)), zap.Bool("group", p.cfg.KillAsGroup))
	if p.cfg.KillAsGroup {
		p.proc.SignalGroup(syscall.SIGKILL)
	} else {
		p.proc.Signal(syscall.SIGKILL)
	}
	p.arm(killWait, evStopTimeout)
	return event{}
}

// joinStop takes a stop request while a stop is under way: it may bring
// the kill forward (the stop sequence's deadline) and can be forced.
func (p *program) joinStop(ev event) event {
	c := ev.ctl
	if c.force != nil && p.force == nil && p.stop.stage != stopKilled {
		p.force = c.force.Done()
	}
	if p.stop.stage == stopSignalled && c.deadline.Before(p.stop.by) {
		d := max(time.Until(c.deadline)-p.stop.dumpLead, 0)
		p.stop.by = time.Now().Add(d)
		p.arm(d, evStopTimeout)
	}
	return event{}
}

// Helpers.

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

// reaped records the exit of the program's process. The memory watch is
// told first, so that an OOM kill is named, and recorded as the exit's
// reason, before anything decides what the exit means.
func (p *program) reaped() *Exit {
	proc := p.proc
	ex := exitOf(proc)
	if w := p.sup.memoryWatch(); w != nil {
		d := resources.Death{Pid: proc.Pid, Program: p.cfg.Name, Command: p.cfg.Command, Env: p.env,
			SentByTend: p.state == Stopping && p.stop.stage == stopKilled, Time: proc.Ended()}
		if ws := proc.Status(); ws.Signaled() {
			d.Signal = ws.Signal()
		}
		if w.Died(d) {
			ex.Reason = ExitOOMKilled
		}
	}
	p.recordExit(ex)
	p.log.Info("exited", zap.Int("code", ex.Code), zap.Duration("ran", ex.Ran), zap.String("reason", ex.Reason))
	if p.cfg.KillAsGroup {
		// Members of the group that outlive their leader would otherwise
		// run on unsupervised; the leader's exit ends the group.
		proc.SignalGroup(syscall.SIGKILL)
	}
	return ex
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

// startProcess starts the program's process through the reaper.
func (p *program) startProcess() (*reaper.Process, error) {
	p.env = p.sup.environment(p.cfg)
	spec := reaper.Spec{
		Argv:   p.cfg.Command,
		Env:    p.env,
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
	return p.sup.reaper.Start(spec)
}

// probe runs the readiness probe until it passes; the returned channel
// is closed then. It is nil when the program has no probe.
func (p *program) probe() <-chan struct{} {
	if p.cfg.Ready.Kind == config.ProbeNone {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancelProbe = cancel
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

func (p *program) stopProbe() {
	if p.cancelProbe != nil {
		p.cancelProbe()
		p.cancelProbe = nil
	}
	p.probeOK = nil
}

// request sends a control request to the run loop and waits for the
// reply, or until ctx ends.
func (p *program) request(ctx context.Context, kind eventKind, force context.Context, deadline time.Time) error {
	answered, err := p.send(ctx, kind, force, deadline)
	if err != nil {
		return err
	}
	return await(ctx, answered)
}

// send hands a request to p's run loop and returns where its answer
// comes.
func (p *program) send(ctx context.Context, kind eventKind, force context.Context, deadline time.Time) (<-chan error, error) {
	c := control{kind: kind, force: force, deadline: deadline, done: make(chan error, 1)}
	select {
	case p.ctl <- c:
		return c.done, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// await waits for the answer to a request.
func await(ctx context.Context, answered <-chan error) error {
	select {
	case err := <-answered:
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

// suspendedReason is the reason shown for a process stopped by a signal.
const suspendedReason = "process stopped by a signal (SIGSTOP, SIGTSTP, ...); not ready until it gets CONT"

// status returns a snapshot of the program.
func (p *program) status() ProgramStatus {
	p.mu.Lock()
	st := ProgramStatus{
		Name: p.cfg.Name, Main: p.main, State: p.state, Since: p.since, Ready: p.ready,
		Restarts: p.restarts, LastExit: p.lastExit, Reason: p.reason, OOMKills: p.oomKills,
	}
	if p.state == Waiting && len(p.waitStates) > 0 {
		st.WaitingFor = append([]hooks.DependencyState(nil), p.waitStates...)
		st.Reason = joinReasons(waitingReason(st.WaitingFor, time.Now()), p.reason)
	}
	proc := p.proc
	p.mu.Unlock()
	if proc != nil && !proc.Exited() {
		st.Pid = proc.Pid
		st.Started = proc.Started
		st.Uptime = time.Since(proc.Started).Seconds()
		// The state stays RUNNING (supervisord's STOPPED means not
		// running, and a stopped process still holds its ports and
		// memory), but it cannot serve: readiness fails.
		if proc.Suspended() {
			st.Ready = false
			st.Reason = suspendedReason
		}
	}
	return st
}

// statusWithUsage adds what the running process uses: read from /proc
// when fresh, else the last reading of the same process (memory is short:
// see MemoryWatch.Short).
func (p *program) statusWithUsage(fresh bool) ProgramStatus {
	st := p.status()
	if st.Pid == 0 {
		return st
	}
	p.usageMu.Lock()
	defer p.usageMu.Unlock()
	switch {
	case fresh:
		p.usage, p.usagePid = resources.ReadUsage(st.Pid), st.Pid
	case p.usagePid != st.Pid:
		// Nothing was read of this process yet, and nothing is now.
		return st
	}
	if p.usage != nil {
		u := *p.usage
		st.Usage = &u
	}
	return st
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// waitingReason says what a WAITING program still waits for outside, for
// how long, and why each check failed last: "waiting 12s for tcp:db:5432
// (connection refused, 8 attempts)".
func waitingReason(states []hooks.DependencyState, now time.Time) string {
	var pending []string
	var since time.Time
	for _, s := range states {
		if s.Answered {
			continue
		}
		since = s.Since
		what := s.Target
		switch {
		case s.LastError != "":
			what += fmt.Sprintf(" (%s, %d attempts)", s.LastError, s.Attempts)
		case s.Attempts == 0:
			what += " (first check under way)"
		}
		pending = append(pending, what)
	}
	if len(pending) == 0 {
		return ""
	}
	return fmt.Sprintf("waiting %s for %s", now.Sub(since).Round(time.Second), strings.Join(pending, ", "))
}

// joinReasons joins the reasons that are not empty.
func joinReasons(reasons ...string) string {
	var out []string
	for _, r := range reasons {
		if r != "" {
			out = append(out, r)
		}
	}
	return strings.Join(out, "; ")
}
