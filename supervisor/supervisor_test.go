package supervisor

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time this test process has used so far.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Once Run's context is cancelled, the stop takes as long as the main
// program needs, and Run waits for it without burning CPU. (A cancelled
// context's Done channel is ready on every pass of a select.)
func TestRunDoesNotSpinThroughAStopAfterItsContextIsCancelled(t *testing.T) {
	// The exec'd sleep ignores TERM, so the stop lasts stopwaitsecs; it
	// is ready once it does.
	trapped := filepath.Join(t.TempDir(), "trapped")
	r := startRig(t, []string{"sh", "-c", fmt.Sprintf(`trap "" TERM; touch %s; exec sleep 600`, trapped)},
		"TEND_MAIN_READY=exec:test -f "+trapped, "TEND_MAIN_STOPWAITSECS=1.5")
	r.waitFor("main", "to be ready", func(st ProgramStatus) bool { return st.Ready })
	cpuBefore, begin := cpuTime(t), time.Now()
	r.cancel()
	r.wait()
	cpu, wall := cpuTime(t)-cpuBefore, time.Since(begin)
	// Waiting costs well under 1 % of the wall time; a spinning loop
	// takes a whole CPU when it gets one (30 % seen on a machine loaded
	// eight times over).
	if ratio := float64(cpu) / float64(wall); ratio > 0.05 {
		t.Errorf("the stop used %s of CPU in %s (%.0f%% of the wall time), want under 5%%", cpu, wall, 100*ratio)
	}
}

// A program that reports its end after Run has returned must not block
// for ever on a channel nobody reads.
func TestReportNeverBlocksOnceRunHasReturned(t *testing.T) {
	r := startRig(t, []string{"true"})
	r.wait()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range cap(r.sup.endings) + 1 {
			r.sup.report(ending{prog: r.sup.main, exit: &Exit{}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("report blocked after Run returned")
	}
}
