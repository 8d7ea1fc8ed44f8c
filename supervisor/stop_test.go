package supervisor

import (
	"testing"
	"time"
)

func TestPlanKeepsFlushReserveAndCapsSides(t *testing.T) {
	begin := time.Unix(1000, 0)
	p := newPlan(begin, 10*time.Second, time.Second, 5*time.Second, 10*time.Second)
	if got := p.end.Sub(begin); got != 10*time.Second {
		t.Errorf("end = +%s, want +10s", got)
	}
	if got := p.end.Sub(p.sidesEnd); got != time.Second {
		t.Errorf("flush reserve = %s, want 1s", got)
	}
	// A killed process is waited for until half the reserve is left.
	if got := p.end.Sub(p.waitEnd); got != time.Second/2 {
		t.Errorf("flush time left after the wait for a killed process = %s, want 500ms", got)
	}
	// Sides get at most a quarter of the 9s of work.
	if got := p.sidesEnd.Sub(p.mainEnd); got != 9*time.Second/4 {
		t.Errorf("side share = %s, want %s", got, 9*time.Second/4)
	}
	// The drain may take at most half of what the drain and the main
	// program share, so the main program keeps time for its shutdown.
	if got, want := p.mainEnd.Sub(p.drainEnd), p.mainEnd.Sub(begin)/2; got != want {
		t.Errorf("main program's guaranteed window = %s, want %s", got, want)
	}
}

func TestPlanGivesMainEverythingWithoutSides(t *testing.T) {
	begin := time.Unix(1000, 0)
	p := newPlan(begin, 30*time.Second, 2*time.Second, 0, 5*time.Second)
	if got := p.mainEnd.Sub(begin); got != 28*time.Second {
		t.Errorf("main window = %s, want 28s", got)
	}
	if got := p.mainEnd.Sub(p.drainEnd); got != 5*time.Second {
		t.Errorf("main program's guaranteed window = %s, want its stopwaitsecs 5s", got)
	}
}

func TestPlanSidesNeverExceedTheirStopWait(t *testing.T) {
	begin := time.Unix(1000, 0)
	p := newPlan(begin, 60*time.Second, time.Second, 3*time.Second, 60*time.Second)
	if got := p.sidesEnd.Sub(p.mainEnd); got != 3*time.Second {
		t.Errorf("side share = %s, want their longest stopwaitsecs 3s", got)
	}
}

func TestBackoffGrowsToCap(t *testing.T) {
	prev := time.Duration(0)
	for attempt := 1; attempt <= 6; attempt++ {
		d := backoff(attempt)
		lo := time.Duration(float64(backoffBase<<(attempt-1)) * (1 - backoffJitter))
		hi := time.Duration(float64(backoffBase<<(attempt-1)) * (1 + backoffJitter))
		if d < lo || d > hi {
			t.Errorf("backoff(%d) = %s, want within [%s, %s]", attempt, d, lo, hi)
		}
		if attempt > 1 && d <= prev/2 {
			t.Errorf("backoff(%d) = %s did not grow from %s", attempt, d, prev)
		}
		prev = d
	}
	if d := backoff(100); d > time.Duration(float64(backoffCap)*(1+backoffJitter)) {
		t.Errorf("backoff(100) = %s, above the cap", d)
	}
}
