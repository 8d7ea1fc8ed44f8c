package supervisor

import (
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"tend/config"
)

// The program life cycle, with supervisord's state names plus WAITING.
// Each program is one goroutine that owns its process: it waits for the
// next event, applies it with the table below (apply), and runs the new
// state's action (entry). The usual path:
//
//	STOPPED ──▶ WAITING ──▶ STARTING ──▶ RUNNING ──▶ STOPPING ──▶ STOPPED
//	               ▲           │   │       │   │
//	               │           │   ▼       │   ▼
//	               │           │ FATAL     │ EXITED
//	               │           ▼           │
//	               └─────── BACKOFF ◀──────┘
//
// Every transition (event [guard] ─▶ state):
//
//	STOPPED, EXITED, FATAL  start, restart                      ─▶ WAITING
//	WAITING                 dependencies ready                  ─▶ STARTING (spawns the process)
//	                        dependencies ready [tend stops]     ─▶ STOPPED
//	                        outside services timed out          ─▶ FATAL (for the main program, tend exits 1)
//	                        outside services timed out [tend stops] ─▶ STOPPED
//	                        stop                                ─▶ STOPPED
//	STARTING                startsecs passed                    ─▶ RUNNING
//	                        exited or spawn failed [retries left] ─▶ BACKOFF
//	                        exited or spawn failed [none left]  ─▶ FATAL
//	                        exited or spawn failed [main, autorestart=false] ─▶ EXITED
//	                        no resources (EMFILE, EAGAIN, ...)  ─▶ BACKOFF (never FATAL)
//	RUNNING                 exited [autorestart says restart]   ─▶ BACKOFF
//	                        exited [otherwise]                  ─▶ EXITED
//	STARTING, RUNNING       exited [tend stops]                 ─▶ EXITED
//	                        stop, restart                       ─▶ STOPPING (stop signal; CONT if stopped by a signal)
//	STOPPING                stop timed out                      ─▶ STOPPING (QUIT for a thread dump if asked, then SIGKILL)
//	                        stop timed out [SIGKILL sent]       ─▶ STOPPED
//	                        exited [restart asked]              ─▶ WAITING
//	                        exited                              ─▶ STOPPED
//	BACKOFF                 backoff elapsed, start, restart     ─▶ WAITING
//	                        backoff elapsed [tend stops]        ─▶ EXITED
//	                        stop                                ─▶ STOPPED
//
// Requests that change nothing have rows too: a start while running is
// refused, a stop at rest is answered at once, a start while waiting or
// stopping joins what is under way. An event the table has no row for is
// a bug: it is logged as "impossible transition" and changes nothing.
// Restarts and failures are counted in one place, apply, from the effects
// a row names; the reason `tend status` shows is set there too (describe).

// eventKind is something that happens to a program.
type eventKind int

const (
	evNone           eventKind = iota
	evStart                    // start requested: autostart, or tend start
	evRestart                  // restart requested: tend restart
	evStop                     // stop requested: tend stop, or the stop sequence
	evDepsReady                // every dependency has been ready once, and every outside service answered
	evWaitFailed               // an outside service did not answer within TEND_WAIT_TIMEOUT
	evSpawned                  // the process was started
	evSpawnFailed              // the command is missing or cannot be executed
	evNoResources              // the start failed for lack of descriptors, processes or memory
	evStartSecs                // the process has run startsecs
	evProbePassed              // the readiness probe passed
	evExited                   // the process exited and was reaped
	evStopTimeout              // the wait after the stop signal (or after the kill) is over
	evForce                    // a second TERM: kill now
	evBackoffElapsed           // the wait before a retry is over
)

var eventNames = [...]string{
	evNone: "none", evStart: "start requested", evRestart: "restart requested", evStop: "stop requested",
	evDepsReady: "dependencies ready", evWaitFailed: "outside services timed out", evSpawned: "spawned", evSpawnFailed: "spawn failed",
	evNoResources: "no resources", evStartSecs: "startsecs passed", evProbePassed: "probe passed",
	evExited: "exited", evStopTimeout: "stop timed out", evForce: "stop forced", evBackoffElapsed: "backoff elapsed",
}

func (k eventKind) String() string { return eventNames[k] }

// event is one occurrence, with what came with it.
type event struct {
	kind eventKind
	ctl  *control // evStart, evRestart, evStop: the request to answer
	exit *Exit    // evExited, evSpawnFailed: how it ended
	err  error    // evSpawnFailed, evNoResources, evWaitFailed: why the start failed
}

// effect is what a transition counts.
type effect uint8

const (
	countRestart  effect = 1 << iota // a new start after an earlier one
	countFailure                     // a failed start, towards startretries
	countShortage                    // a start that failed for lack of resources
	clearFailures                    // the program ran startsecs, or someone asked for a fresh start
	clearShortage                    // a process was started
)

// transition is one row of the table: in one of the states from, event
// on, when the guard holds (nil: always), moves the program to state to
// ("" stays) with the effects count. A row that stays runs do; a row that
// changes the state runs the new state's entry action instead.
type transition struct {
	from  []State
	on    eventKind
	when  func(p *program, ev event) bool
	to    State
	count effect
	do    func(p *program, ev event) event
}

// states lists a row's from states.
func states(s ...State) []State { return s }

var (
	atRest  = states(Stopped, Exited, Fatal)
	running = states(Starting, Running)
)

// transitions is the program life cycle. Rows with the same state and
// event are tried in order; the first whose guard holds applies.
var transitions = []transition{
	// Requests at rest. A requested start clears the failures, so that a
	// FATAL program gets its startretries again.
	{from: atRest, on: evStart, to: Waiting, count: clearFailures},
	{from: atRest, on: evRestart, to: Waiting, count: clearFailures},
	{from: atRest, on: evStop},

	// Waiting for dependencies (and, while tend stops, never starting).
	{from: states(Waiting), on: evStart},
	{from: states(Waiting), on: evRestart},
	{from: states(Waiting), on: evStop, to: Stopped},
	{from: states(Waiting), on: evDepsReady, when: stopUnderWay, to: Stopped},
	{from: states(Waiting), on: evDepsReady, to: Starting},
	{from: states(Waiting), on: evWaitFailed, when: stopUnderWay, to: Stopped},
	{from: states(Waiting), on: evWaitFailed, to: Fatal},

	// Starting: the entry action spawns the process.
	{from: states(Starting), on: evSpawned, count: clearShortage, do: (*program).watchStart},
	{from: states(Starting), on: evNoResources, to: Backoff, count: countShortage},
	{from: states(Starting), on: evSpawnFailed, when: runsOnce, to: Exited},
	{from: states(Starting), on: evSpawnFailed, when: retriesLeft, to: Backoff, count: countFailure},
	{from: states(Starting), on: evSpawnFailed, to: Fatal, count: countFailure},
	{from: states(Starting), on: evStartSecs, to: Running, count: clearFailures},
	{from: states(Starting), on: evExited, when: stopUnderWay, to: Exited},
	{from: states(Starting), on: evExited, when: runsOnce, to: Exited},
	{from: states(Starting), on: evExited, when: retriesLeft, to: Backoff, count: countFailure},
	{from: states(Starting), on: evExited, to: Fatal, count: countFailure},

	// Running.
	{from: running, on: evProbePassed, do: (*program).markReady},
	{from: states(Running), on: evExited, when: stopUnderWay, to: Exited},
	{from: states(Running), on: evExited, when: restartPolicy, to: Backoff},
	{from: states(Running), on: evExited, to: Exited},
	{from: running, on: evStart, do: (*program).refuseStart},
	{from: running, on: evStop, to: Stopping},
	{from: running, on: evRestart, to: Stopping},

	// Backoff: waiting to retry. A start or restart request retries now.
	{from: states(Backoff), on: evBackoffElapsed, when: stopUnderWay, to: Exited},
	{from: states(Backoff), on: evBackoffElapsed, to: Waiting, count: countRestart},
	{from: states(Backoff), on: evStart, to: Waiting, count: countRestart | clearFailures},
	{from: states(Backoff), on: evRestart, to: Waiting, count: countRestart | clearFailures},
	{from: states(Backoff), on: evStop, to: Stopped},

	// Stopping: stop signal sent (the entry action), then QUIT for a
	// thread dump if asked, then SIGKILL. A start or restart asked for
	// meanwhile starts the program again once it is gone.
	{from: states(Stopping), on: evExited, when: restartAsked, to: Waiting, count: countRestart},
	{from: states(Stopping), on: evExited, to: Stopped},
	{from: states(Stopping), on: evStopTimeout, when: killSent, to: Stopped},
	{from: states(Stopping), on: evStopTimeout, do: (*program).escalate},
	{from: states(Stopping), on: evForce, do: (*program).kill},
	{from: states(Stopping), on: evStop, do: (*program).joinStop},
	{from: states(Stopping), on: evStart},
	{from: states(Stopping), on: evRestart},
}

// entry is each state's action, run when a program enters it. It may
// return the next event at once (evNone: wait for one).
var entry = map[State]func(p *program, ev event) event{
	Stopped:  (*program).rest,
	Waiting:  (*program).awaitDependencies,
	Starting: (*program).spawn,
	Running:  (*program).becomeRunning,
	Backoff:  (*program).retryLater,
	Stopping: (*program).beginStop,
	Exited:   (*program).rest,
	Fatal:    (*program).rest,
}

// Guards.

func stopUnderWay(p *program, _ event) bool { return p.sup.stopping.Load() }

// runsOnce: a main program that is not restarted ends the container at
// its first exit; retrying its start would only delay that.
func runsOnce(p *program, _ event) bool {
	return p.main && p.cfg.AutoRestart == config.RestartNever
}

func retriesLeft(p *program, _ event) bool { return p.failures+1 <= p.cfg.StartRetries }

func restartPolicy(p *program, ev event) bool { return p.shouldRestart(ev.exit.Code) }

func restartAsked(p *program, _ event) bool { return len(p.starts) > 0 }

func killSent(p *program, _ event) bool { return p.stop.stage == stopKilled }

// lookup finds the row for ev in the current state.
func (p *program) lookup(ev event) (transition, bool) {
	for _, t := range transitions {
		if t.on == ev.kind && containsState(t.from, p.state) && (t.when == nil || t.when(p, ev)) {
			return t, true
		}
	}
	return transition{}, false
}

func containsState(list []State, s State) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// apply moves the program by one event as the table says: it takes in a
// request, counts, sets the state, its reason and the time it was
// entered, and runs the row's or the new state's action. It returns the
// event that action produced at once (evNone: wait for the next).
func (p *program) apply(ev event) event {
	t, ok := p.lookup(ev)
	if !ok {
		p.log.Error("impossible transition", zap.String("state", string(p.state)), zap.Stringer("event", ev.kind))
		if ev.ctl != nil {
			ev.ctl.reply(fmt.Errorf("%s cannot take %q while %s", p.cfg.Name, ev.kind, p.state))
		}
		return event{}
	}
	p.take(ev)
	from, to := p.state, t.to
	if to == "" {
		to = from
	}
	p.mu.Lock()
	if t.count&countRestart != 0 {
		p.restarts++
	}
	if t.count&countFailure != 0 {
		p.failures++
	}
	if t.count&countShortage != 0 {
		p.shortages++
	}
	if t.count&clearFailures != 0 {
		p.failures, p.shortages = 0, 0
	}
	if t.count&clearShortage != 0 {
		p.shortages = 0
	}
	if to != from {
		if to == Backoff {
			p.retryWait = backoff(max(1, p.failures+p.shortages))
		}
		p.state, p.since = to, time.Now()
		p.reason = p.describe(from, to, ev)
		if to != Starting && to != Running {
			p.ready = false
		}
		if to == Running && p.cfg.Ready.Kind == config.ProbeNone {
			// Set with the state, so that no snapshot shows RUNNING and
			// not ready for a program without a probe.
			p.ready = true
		}
	}
	p.mu.Unlock()
	if to == from {
		if t.do != nil {
			return t.do(p, ev)
		}
		return event{}
	}
	p.log.Debug("state", zap.String("from", string(from)), zap.String("to", string(to)), zap.Stringer("event", ev.kind))
	p.leave(from, to)
	return entry[to](p, ev)
}

// take keeps a request until it can be answered (see answer). A stop
// supersedes a start or restart asked for before it.
func (p *program) take(ev event) {
	if ev.ctl == nil {
		return
	}
	if ev.kind == evStop {
		p.answerStarts(fmt.Errorf("%s was stopped before it started", p.cfg.Name))
		p.stops = append(p.stops, *ev.ctl)
		return
	}
	p.starts = append(p.starts, *ev.ctl)
}

// describe is the reason `tend status` shows for entering state to.
// Called with p.mu held.
func (p *program) describe(from, to State, ev event) string {
	switch to {
	case Stopped:
		switch {
		case ev.kind == evDepsReady || ev.kind == evWaitFailed:
			return "not started: stop under way"
		case ev.kind == evStopTimeout:
			return "did not exit after SIGKILL"
		}
		return "stopped"
	case Waiting:
		// What the outside services answered is added by status, as it
		// changes while the program waits.
		if names := p.cfg.DependsOn; len(names) > 0 {
			return "waiting for " + strings.Join(names, ", ") + " to be ready"
		}
		if p.main && len(p.sup.programs) > 0 {
			return "waiting for the side programs to start"
		}
		return ""
	case Backoff:
		wait := p.retryWait.Round(time.Millisecond)
		switch ev.kind {
		case evNoResources:
			return fmt.Sprintf("cannot start for lack of resources (%v); retrying in %s", ev.err, wait)
		case evSpawnFailed:
			return fmt.Sprintf("failed start %d of %d: %v; retrying in %s", p.failures, p.cfg.StartRetries+1, ev.err, wait)
		}
		if from == Starting {
			return fmt.Sprintf("failed start %d of %d: exited with code %d within startsecs (%s); retrying in %s",
				p.failures, p.cfg.StartRetries+1, ev.exit.Code, p.cfg.StartPeriod, wait)
		}
		return fmt.Sprintf("%s; restarting in %s", exitText(ev.exit), wait)
	case Stopping:
		if ev.kind == evRestart {
			return "restart requested"
		}
		return "stop requested"
	case Exited:
		switch {
		case ev.kind == evBackoffElapsed:
			return "not restarted: stop under way"
		case ev.kind == evSpawnFailed:
			return ev.err.Error()
		case from == Starting || from == Running:
			if p.sup.stopping.Load() {
				return exitText(ev.exit) + " during the stop"
			}
		}
		return exitText(ev.exit)
	case Fatal:
		if ev.kind == evWaitFailed {
			return ev.err.Error()
		}
		reason := fmt.Sprintf("exited %d times within startsecs (%s); last exit code %d", p.failures, p.cfg.StartPeriod, p.lastExit.Code)
		if ev.err != nil {
			reason += ": " + ev.err.Error()
		}
		return reason
	}
	return ""
}

// exitText says how a process ended, for a reason: its exit code, and
// whether the OOM killer took it.
func exitText(ex *Exit) string {
	if ex.Reason == ExitOOMKilled {
		return fmt.Sprintf("killed by the kernel's OOM killer (exit code %d)", ex.Code)
	}
	return fmt.Sprintf("exited with code %d", ex.Code)
}
