// Package supervisor runs tend's programs: the main program from the
// command line and the side programs from conf.d and the environment. It
// starts them in order, restarts them with backoff, forwards signals, and
// turns TERM into the ordered stop sequence (stop.go). Processes start and
// are reaped through package reaper; output goes to package logship.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tend/config"
	"tend/internal/stackreserve"
	"tend/logship"
	"tend/reaper"
	"tend/resources"
)

// Logs is the log pipeline as the supervisor sees it.
type Logs interface {
	// Capture reads r, the read end of a program's "stdout" or "stderr"
	// pipe, until EOF.
	Capture(program, stream string, r *os.File)
	// LastLines returns the last lines a program wrote.
	LastLines(program string) []string
	// Stats returns a program's log counters.
	Stats(program string) logship.ProgramStats
	// Close waits for every capture to reach EOF, bounded by ctx, then
	// flushes and syncs every sink.
	Close(ctx context.Context) error
}

// Drainer runs the parts of the stop sequence between withdrawing
// readiness and stopping the main program: pre-stop hooks, the drain delay
// and the connection drain. Each method returns when its work is done or
// its context ends.
type Drainer interface {
	PreStop(ctx context.Context)
	Delay(ctx context.Context)
	WaitConnections(ctx context.Context)
}

// MemoryWatch is what the supervisor asks of the watch on the
// container's memory (resources.MemoryWatch).
type MemoryWatch interface {
	// Died is told of each death of a program's own process, when it is
	// reaped, and reports whether the OOM killer took it (or a process of
	// the program whose end ended it).
	Died(resources.Death) bool
	// Memory returns the last reading of the container's memory.
	Memory() resources.Memory
	// Short reports whether memory is too short to read /proc: the
	// status then shows each program's last usage read.
	Short() bool
	// WaitQuiet returns once the moment right after an OOM kill, when
	// anything tend allocates may make the kernel kill again, is over.
	WaitQuiet(ctx context.Context)
}

// Options are what New needs.
type Options struct {
	Config *config.Config
	Logs   Logs
	Reaper *reaper.Reaper
	Logger *zap.Logger
	// Env is the environment programs inherit (os.Environ in production).
	Env []string
	// MainEnv is added to the main program's environment, after its own
	// variables (the JVM sizing of TEND_JAVA_AUTOTUNE).
	MainEnv []string
	// Drainer runs the drain phases of the stop (nil: none).
	Drainer Drainer
	// Signals are the caught signals (nil: Run catches them itself).
	Signals *Signals
}

// Supervisor runs every program and the stop sequence.
type Supervisor struct {
	cfg     *config.Config
	log     *zap.Logger
	logs    Logs
	reaper  *reaper.Reaper
	env     []string
	mainEnv []string
	drainer Drainer
	signals *Signals

	main     *program
	programs []*program // side programs, in start order
	all      []*program // the side programs, then the main program
	byName   map[string]*program

	stopping atomic.Bool
	endings  chan ending
	drains   chan string   // a stop asked for by command, with its cause
	stopped  chan struct{} // closed when the stop sequence has finished
	finished chan struct{} // closed when Run returns

	// tasks are the hooks run beside the programs (TEND_ON_OOM, ...),
	// which the stop sequence lets finish before the log flush.
	tasks tasks

	mu        sync.Mutex
	stopCause string
	fatalCode int         // exit code forced by a critical program or a main that could not start, 0 if none
	memory    MemoryWatch // nil: the container's memory is not watched
}

// ending is what a program reports when it ends for good: EXITED, or
// FATAL after too many failed starts.
type ending struct {
	prog  *program
	fatal bool
	// waitFailed: FATAL because outside services did not answer; the
	// program may never have run (exit is then nil).
	waitFailed bool
	exit       *Exit
	reason     string
}

// New creates every program and its pipes. Nothing starts before Run.
func New(opts Options) (*Supervisor, error) {
	s := &Supervisor{
		cfg:      opts.Config,
		log:      opts.Logger,
		logs:     opts.Logs,
		reaper:   opts.Reaper,
		env:      opts.Env,
		mainEnv:  opts.MainEnv,
		drainer:  opts.Drainer,
		signals:  opts.Signals,
		byName:   map[string]*program{},
		endings:  make(chan ending, 16),
		drains:   make(chan string, 1),
		stopped:  make(chan struct{}),
		finished: make(chan struct{}),
	}
	s.tasks.ctx, s.tasks.cancel = context.WithCancel(context.Background())
	for i, pc := range s.cfg.Programs {
		p, err := newProgram(s, pc, false)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			p.after = s.programs[i-1].turn
		}
		s.programs = append(s.programs, p)
		s.byName[pc.Name] = p
	}
	p, err := newProgram(s, s.cfg.Main, true)
	if err != nil {
		return nil, err
	}
	s.main = p
	s.byName[s.cfg.Main.Name] = p
	s.all = append(append([]*program{}, s.programs...), p)
	return s, nil
}

// report hands a program's ending to Run. Once Run has returned nobody
// decides anything any more, and a program's goroutine must not wait for
// a reader that is gone.
func (s *Supervisor) report(e ending) {
	select {
	case s.endings <- e:
	case <-s.finished:
	}
}

// Run starts the programs and supervises them until the stop sequence has
// finished. It returns tend's exit code: the main program's, mapped by
// TEND_EXIT_CODE_MAP, or non-zero when a critical program failed.
func (s *Supervisor) Run(ctx context.Context) int {
	if s.signals == nil {
		s.signals = CatchSignals()
	}
	// The handlers stay installed after Run returns: tend exits next, and a
	// TERM that arrives while it does must not kill it half-way through.
	sigs := s.signals.forwarded

	runCtx, cancelRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range s.all {
		wg.Add(1)
		go func() {
			// A program's state machine starts processes 8 KiB deep.
			stackreserve.EightKiB()
			defer wg.Done()
			p.run(runCtx)
		}()
	}
	defer func() {
		close(s.finished)
		cancelRun()
		wg.Wait()
	}()

	var (
		stopDone   chan int
		forceStop  context.CancelFunc
		holdTimer  <-chan time.Time
		codeResult int
		// stopSignals counts TERM and INT: the first starts the stop (or,
		// after `tend drain`, joins the one under way); the second forces it.
		stopSignals int
		// cancelled is ctx.Done() until it fired: a closed channel is
		// ready on every pass and would spin this loop through the stop.
		cancelled = ctx.Done()
	)
	begin := func(cause string) {
		if stopDone != nil {
			return
		}
		s.mu.Lock()
		s.stopCause = cause
		s.mu.Unlock()
		s.stopping.Store(true)
		var stopCtx context.Context
		stopCtx, forceStop = context.WithCancel(context.Background())
		stopDone = make(chan int, 1)
		go func() {
			stackreserve.EightKiB() // the stop goes as deep as a program's start
			stopDone <- s.stopSequence(stopCtx, cause)
		}()
	}
	for {
		select {
		case <-cancelled:
			cancelled = nil
			begin("context cancelled")
		case sig := <-sigs:
			if stopSignal(sig) {
				stopSignals++
			}
			switch {
			case stopSignal(sig) && stopSignals > 1:
				s.log.Warn("second stop signal: killing everything now", zap.String("signal", sig.String()))
				forceStop()
			case stopSignal(sig) && stopDone != nil:
				s.log.Info("stop signal received; the stop is already under way", zap.String("signal", sig.String()))
			case stopSignal(sig):
				s.log.Info("stop signal received", zap.String("signal", sig.String()))
				begin("signal " + config.SignalName(sig.(syscall.Signal)))
			default:
				s.forward(sig.(syscall.Signal))
			}
		case cause := <-s.drains:
			begin(cause)
		case e := <-s.endings:
			if cause, hold := s.onEnding(e); cause != "" {
				begin(cause)
			} else if hold && s.cfg.HoldFor > 0 {
				holdTimer = time.After(s.cfg.HoldFor)
			}
		case <-holdTimer:
			if s.holding() {
				begin(fmt.Sprintf("hold time of %s is over", s.cfg.HoldFor))
			}
		case codeResult = <-stopDone:
			close(s.stopped)
			return codeResult
		}
	}
}

// onEnding decides what a program's end means for the container: a
// cause to stop it, or a hold.
func (s *Supervisor) onEnding(ev ending) (cause string, hold bool) {
	if s.stopping.Load() {
		return "", false
	}
	p := ev.prog
	if p.main {
		if ev.waitFailed {
			// The main program never started: its exit code, if any, is
			// an earlier run's; tend's is a failure of its own.
			s.mu.Lock()
			s.fatalCode = exitFailure
			s.mu.Unlock()
		}
		if ev.fatal {
			return p.cfg.Name + " is FATAL: " + ev.reason, false
		}
		if s.cfg.MainOnExit == config.MainHold {
			s.log.Warn("main program exited; holding the container for inspection (readiness fails)",
				zap.String("program", p.cfg.Name), zap.Int("code", ev.exit.Code), zap.Duration("hold_for", s.cfg.HoldFor))
			return "", true
		}
		return fmt.Sprintf("%s exited with code %d", p.cfg.Name, ev.exit.Code), false
	}
	if !p.cfg.Critical {
		return "", false
	}
	if !ev.fatal && p.expected(ev.exit.Code) {
		return "", false
	}
	code := exitFailure
	if ev.exit != nil && ev.exit.Code != 0 && !ev.waitFailed {
		code = ev.exit.Code
	}
	s.mu.Lock()
	s.fatalCode = code
	s.mu.Unlock()
	why := ev.reason
	if why == "" {
		why = fmt.Sprintf("exited with code %d", ev.exit.Code)
	}
	s.log.Error("critical program failed; stopping the container", zap.String("program", p.cfg.Name), zap.String("reason", why))
	return fmt.Sprintf("critical program %s failed: %s", p.cfg.Name, why), false
}

// forward relays a signal to the main program.
func (s *Supervisor) forward(sig syscall.Signal) {
	if err := s.main.signal(sig); err != nil {
		s.log.Info("signal not forwarded", zap.String("signal", config.SignalName(sig)), zap.Error(err))
		return
	}
	s.log.Info("signal forwarded", zap.String("signal", config.SignalName(sig)), zap.String("program", s.main.cfg.Name))
}

// holding reports whether a failed main program is held for inspection.
func (s *Supervisor) holding() bool {
	if s.cfg.MainOnExit != config.MainHold || s.stopping.Load() {
		return false
	}
	st := s.main.status()
	return st.State == Exited || st.State == Fatal
}

// pendingDependencies returns what p still waits for before it may
// start: each dependency that has not been ready yet and, for the main
// program, each side program not started yet that does not depend on it.
func (s *Supervisor) pendingDependencies(p *program) []<-chan struct{} {
	var pending []<-chan struct{}
	add := func(c <-chan struct{}) {
		select {
		case <-c:
		default:
			pending = append(pending, c)
		}
	}
	for _, d := range p.cfg.DependsOn {
		add(s.byName[d].firstUp)
	}
	if p.main {
		for _, side := range s.programs {
			// A side program that waits for the main program (a
			// registration agent) cannot start before it.
			if !s.needsMain(side) {
				add(side.launched)
			}
		}
	}
	return pending
}

// needsMain reports whether p depends on the main program, directly or
// through other programs (the configuration has no cycles).
func (s *Supervisor) needsMain(p *program) bool {
	for _, d := range p.cfg.DependsOn {
		if dep := s.byName[d]; dep.main || s.needsMain(dep) {
			return true
		}
	}
	return false
}

// environment builds a program's environment: tend's, then the program's
// own variables (and, for the main program, MainEnv), then HOME, USER and
// LOGNAME of its user.
func (s *Supervisor) environment(p config.Program) []string {
	vars := map[string]int{}
	var env []string
	set := func(kv string) {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := vars[k]; ok {
			env[i] = kv
			return
		}
		vars[k] = len(env)
		env = append(env, kv)
	}
	for _, kv := range s.env {
		set(kv)
	}
	for _, kv := range p.Environment {
		set(kv)
	}
	if p.Name == s.cfg.Main.Name {
		for _, kv := range s.mainEnv {
			set(kv)
		}
	}
	if c := p.Credential; c != nil {
		set("HOME=" + c.Home)
		set("USER=" + c.Name)
		set("LOGNAME=" + c.Name)
	}
	return env
}

// Ready reports what `tend health` and /readyz answer: no stop under way,
// no hold, no critical program FATAL, and every program that should run
// is running and ready.
func (s *Supervisor) Ready() bool {
	if s.stopping.Load() {
		return false
	}
	for _, p := range s.all {
		st := p.status()
		switch {
		case st.State == Fatal && (p.cfg.Critical || p.main):
			return false
		case p.main && !st.Ready:
			return false
		case !p.main && p.cfg.AutoStart && st.State != Stopped && st.State != Exited && st.State != Fatal && !st.Ready:
			return false
		}
	}
	return true
}

// Status returns a snapshot of every program. Right after an OOM kill it
// first waits for the moment to pass (at most a quarter of a second; see
// MemoryWatch): building the snapshot allocates.
func (s *Supervisor) Status() Status {
	w := s.memoryWatch()
	if w != nil {
		w.WaitQuiet(context.Background())
	}
	st := Status{Ready: s.Ready(), Stopping: s.stopping.Load(), Holding: s.holding(), OrphansReaped: s.reaper.Orphans()}
	fresh := w == nil || !w.Short()
	for _, p := range s.all {
		ps := p.statusWithUsage(fresh)
		logStats := s.logs.Stats(p.cfg.Name)
		ps.Logs = &logStats
		if ps.State == Exited || ps.State == Fatal || (p.main && st.Holding) {
			ps.LastLines = s.logs.LastLines(p.cfg.Name)
		}
		st.Programs = append(st.Programs, ps)
	}
	if l, ok := s.logs.(interface{ Status() *logship.Status }); ok {
		st.Logs = l.Status()
	}
	if w != nil {
		m := w.Memory()
		st.Memory = &m
	}
	return st
}

// WatchMemory gives the supervisor the watch on the container's memory:
// every death of a program's own process is told to it, and its readings
// are part of the status. Call it before Run.
func (s *Supervisor) WatchMemory(w MemoryWatch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.memory = w
}

// MemoryShort reports whether the container's memory is too short to
// read /proc now (see MemoryWatch.Short); false when it is not watched.
func (s *Supervisor) MemoryShort() bool {
	w := s.memoryWatch()
	return w != nil && w.Short()
}

func (s *Supervisor) memoryWatch() MemoryWatch {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memory
}

// RecordOOMKill counts an OOM kill of one of program's processes, for
// its status and metrics.
func (s *Supervisor) RecordOOMKill(program string) {
	p, ok := s.byName[program]
	if !ok {
		return
	}
	p.mu.Lock()
	p.oomKills++
	p.mu.Unlock()
}

// Go runs task, a hook beside the programs, on a goroutine of its own,
// never holding anything up. The stop sequence lets tasks run until the
// side programs' deadline, then cancels ctx, and waits for them to
// return before the log flush, so that what they write is flushed too.
// It returns false, and task does not run, once the stop sequence has
// got that far.
func (s *Supervisor) Go(task func(ctx context.Context)) bool {
	return s.tasks.start(task)
}

// Pids returns the PID of every running program, by name.
func (s *Supervisor) Pids() map[string]int {
	pids := map[string]int{}
	for _, p := range s.all {
		if st := p.status(); st.Pid != 0 {
			pids[st.Name] = st.Pid
		}
	}
	return pids
}

// ErrUnknownProgram is returned for a program name that is not configured.
var ErrUnknownProgram = errors.New("no such program")

func (s *Supervisor) lookup(name string) (*program, error) {
	p, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownProgram, name)
	}
	return p, nil
}

// Start starts a stopped program. It returns once the process has
// started (or could not), or at once when it must first wait for its
// dependencies.
func (s *Supervisor) Start(ctx context.Context, name string) error {
	return s.control(ctx, name, evStart)
}

// StopProgram stops one side program; it is not restarted until Start.
// Stopping the main program stops the container, as its exit would: it
// begins the stop sequence (as Drain does) and returns; tend then exits
// with the main program's exit code.
func (s *Supervisor) StopProgram(ctx context.Context, name string) error {
	if p, err := s.lookup(name); err == nil && p.main && !s.stopping.Load() {
		s.requestStop("tend stop " + name)
		return nil
	}
	return s.control(ctx, name, evStop)
}

// Restart stops and starts one program; for the main program, only it.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	return s.control(ctx, name, evRestart)
}

func (s *Supervisor) control(ctx context.Context, name string, kind eventKind) error {
	if s.stopping.Load() {
		return errors.New("stop under way")
	}
	p, err := s.lookup(name)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(p.cfg.StopWait)
	return p.request(ctx, kind, context.Background(), deadline)
}

// Signal sends sig to one program.
func (s *Supervisor) Signal(name string, sig syscall.Signal) error {
	p, err := s.lookup(name)
	if err != nil {
		return err
	}
	return p.signal(sig)
}

// Drain starts the stop sequence, as SIGTERM does; a later TERM does not
// start a second one. The returned channel is closed when it has finished.
func (s *Supervisor) Drain() <-chan struct{} {
	s.requestStop("drain requested")
	return s.stopped
}

// requestStop asks Run to begin the stop sequence; a request already
// waiting is enough.
func (s *Supervisor) requestStop(cause string) {
	select {
	case s.drains <- cause:
	default:
	}
}

// exitFailure is tend's exit code for a failure of its own, such as a
// main program that could not start.
const exitFailure = 1

// taskCancelWait bounds the wait for tasks once they are cancelled.
const taskCancelWait = 500 * time.Millisecond

// tasks are goroutines the stop sequence waits for (Supervisor.Go).
type tasks struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	closed  bool
	started bool // a task was started (wg may have something to wait for)
	wg      sync.WaitGroup
}

func (t *tasks) start(task func(ctx context.Context)) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	t.started = true
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		task(t.ctx)
	}()
	return true
}

// wait lets the tasks run until deadline or force, then cancels them and
// waits a moment more for them to return. No task starts after wait.
func (t *tasks) wait(force context.Context, deadline time.Time) {
	t.mu.Lock()
	t.closed = true
	started := t.started
	t.mu.Unlock()
	if !started {
		// Nothing to wait for (the usual case: no hook ran): no goroutine
		// and no timer on the way out.
		t.cancel()
		return
	}
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	ctx, cancel := context.WithDeadline(force, deadline)
	defer cancel()
	select {
	case <-done:
	case <-ctx.Done():
		t.cancel()
		// A cancelled hook's command is killed with its group and reaped
		// within moments; the bound keeps a stuck one from eating into
		// the log flush's reserve.
		select {
		case <-done:
		case <-time.After(taskCancelWait):
		}
	}
	t.cancel()
}
