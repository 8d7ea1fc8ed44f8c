package supervisor

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// plan holds the deadlines of one stop sequence, all inside the stop
// budget (TEND_STOP_TIMEOUT) counted from the moment the stop began:
//
//	begin ── drain (hooks, delay, connections) ── main ── sides ── flush ── end
//
// Each phase ends at its deadline or earlier. A phase that overruns only
// shortens the phases after it; the flush reserve at the end is never
// taken by an earlier phase, but for the wait for a killed process that
// has not gone yet, which may take its first half (waitEnd).
type plan struct {
	begin time.Time
	// drainEnd ends the pre-stop hooks, drain delay and connection drain.
	drainEnd time.Time
	// mainEnd is when the main program is killed if it has not exited.
	mainEnd time.Time
	// sidesEnd is when the last side program is killed; the flush starts.
	sidesEnd time.Time
	// waitEnd is the latest a stop phase waits for a killed process to
	// go (killWait at most): a process that outlives its SIGKILL (a
	// frozen cgroup, a process in uninterruptible sleep) leaves the flush
	// half its reserve. The flush then waits for the process's pipes
	// itself, until end.
	waitEnd time.Time
	// end is when tend must have exited.
	end time.Time
}

// newPlan divides the budget. The side programs get at most a quarter of
// what remains after the flush reserve (and no more than their longest
// stopwaitsecs). The drain phases and the main program share the rest:
// the main program is always left its stopwaitsecs, but no more than half
// of that share, so a drain that runs to its deadline (an idle keep-alive
// connection, a hanging hook) still leaves the main program time for its
// graceful shutdown before the kill.
func newPlan(begin time.Time, budget, flushReserve, sideWait, mainWait time.Duration) plan {
	p := plan{begin: begin, end: begin.Add(budget)}
	p.sidesEnd = p.end.Add(-flushReserve)
	p.waitEnd = p.end.Add(-flushReserve / 2)
	work := budget - flushReserve
	sides := min(sideWait, work/4)
	p.mainEnd = p.sidesEnd.Add(-sides)
	shared := p.mainEnd.Sub(begin)
	p.drainEnd = p.mainEnd.Add(-min(mainWait, shared/2))
	return p
}

// stopSequence is the ordered stop. force is cancelled by a second TERM:
// every wait then ends at once and programs are killed, but the log flush
// still gets its reserve.
func (s *Supervisor) stopSequence(force context.Context, cause string) int {
	var sideWait time.Duration
	for _, p := range s.programs {
		sideWait = max(sideWait, p.cfg.StopWait)
	}
	pl := newPlan(time.Now(), s.cfg.Stop.Timeout, s.cfg.Stop.FlushReserve, sideWait, s.main.cfg.StopWait)
	s.log.Info("stop sequence begins", zap.String("cause", cause), zap.Duration("budget", s.cfg.Stop.Timeout))

	mainRunning := s.main.status().Pid != 0
	if s.drainer != nil && mainRunning {
		drainCtx, cancel := context.WithDeadline(force, pl.drainEnd)
		s.phase("pre-stop hooks", func() { s.drainer.PreStop(drainCtx) })
		s.phase("drain delay", func() { s.drainer.Delay(drainCtx) })
		s.phase("connection drain", func() { s.drainer.WaitConnections(drainCtx) })
		cancel()
	}

	s.phase("stop "+s.main.cfg.Name, func() { s.stopProgram(force, s.main, pl.mainEnd, pl) })
	for i := len(s.programs) - 1; i >= 0; i-- {
		p := s.programs[i]
		s.phase("stop "+p.cfg.Name, func() { s.stopProgram(force, p, pl.sidesEnd, pl) })
	}

	// Hooks run beside the programs (TEND_ON_OOM after the kill that
	// ends the container, say) may finish while there is time, and what
	// they write is flushed with the rest.
	s.phase("hooks", func() { s.tasks.wait(force, pl.sidesEnd) })
	s.phase("log flush", func() {
		for _, p := range s.all {
			p.closePipes()
		}
		flushCtx, cancel := context.WithDeadline(context.Background(), pl.end)
		defer cancel()
		if err := s.logs.Close(flushCtx); err != nil {
			s.log.Error("log flush incomplete", zap.Error(err))
		}
	})
	code := s.exitCode()
	s.log.Info("stop sequence done", zap.Duration("took", time.Since(pl.begin)), zap.Int("exit_code", code))
	return code
}

// phase runs one step of the stop sequence and logs how long it took.
func (s *Supervisor) phase(name string, step func()) {
	begin := time.Now()
	step()
	s.log.Info("stop phase", zap.String("phase", name), zap.Duration("took", time.Since(begin)))
}

// stopProgram stops p if it runs, or keeps it from starting again, with
// the kill at deadline. The request always reaches p's run loop (it
// answers within microseconds while the stop runs); the wait for the
// answer, which comes when the process has gone, ends killWait after the
// deadline, or at the plan's waitEnd if that is sooner: a process that
// survives its SIGKILL must not take the whole of the flush's reserve.
func (s *Supervisor) stopProgram(force context.Context, p *program, deadline time.Time, pl plan) {
	send, cancelSend := context.WithDeadline(context.Background(), pl.end)
	defer cancelSend()
	answered, err := p.send(send, evStop, force, deadline)
	if err == nil {
		wait, cancelWait := context.WithDeadline(context.Background(), earlier(deadline.Add(killWait), pl.waitEnd))
		defer cancelWait()
		err = await(wait, answered)
	}
	if err != nil {
		s.log.Warn("stop request not answered", zap.String("program", p.cfg.Name), zap.Error(err))
	}
}

// earlier returns the earlier of a and b.
func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// exitCode is tend's exit code once everything has stopped.
func (s *Supervisor) exitCode() int {
	s.mu.Lock()
	fatal := s.fatalCode
	s.mu.Unlock()
	if fatal != 0 {
		return fatal
	}
	st := s.main.status()
	if st.LastExit == nil {
		return 0
	}
	code := st.LastExit.Code
	if mapped, ok := s.cfg.Stop.ExitCodes[code]; ok {
		return mapped
	}
	return code
}
