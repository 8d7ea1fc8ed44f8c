package resources

import (
	"context"
	"strings"
	"testing"
	"time"
)

// episodeRun feeds working sets (as shares of a 100 MiB limit), one a
// second, to a memoryEpisode with the default share, and returns the
// seconds at which it warned.
func episodeRun(shares ...float64) []int {
	e := memoryEpisode{share: DefaultMemoryWarn}
	start := time.Unix(1700000000, 0)
	var warned []int
	for i, s := range shares {
		m := Memory{LimitBytes: 100 << 20, WorkingSetBytes: int64(s * (100 << 20))}
		if _, ok := e.observe(start.Add(time.Duration(i)*time.Second), m); ok {
			warned = append(warned, i)
		}
	}
	return warned
}

func TestMemoryWarningAfterThreeSecondsAboveTheShare(t *testing.T) {
	got := episodeRun(0.5, 0.92, 0.93, 0.95, 0.95, 0.96, 0.97)
	if len(got) != 1 || got[0] != 4 {
		t.Errorf("warned at seconds %v, want once at 4 (above since 1)", got)
	}
}

func TestMemoryWarningIgnoresAShortSpike(t *testing.T) {
	if got := episodeRun(0.5, 0.95, 0.96, 0.5, 0.95, 0.5, 0.6); len(got) != 0 {
		t.Errorf("warned at seconds %v for spikes under 3 s", got)
	}
	// A dip under the share before the warning starts the count again.
	if got := episodeRun(0.95, 0.95, 0.89, 0.95, 0.95, 0.95, 0.95); len(got) != 1 || got[0] != 6 {
		t.Errorf("warned at seconds %v, want once at 6", got)
	}
}

func TestMemoryWarningOncePerEpisodeWithHysteresis(t *testing.T) {
	// Hovering around 90 % after the warning is the same episode; under
	// 85 % ends it, and the next climb warns again.
	got := episodeRun(0.95, 0.95, 0.95, 0.95, 0.88, 0.91, 0.87, 0.95, 0.95, 0.95, 0.95, 0.80, 0.95, 0.95, 0.95, 0.95)
	if len(got) != 2 || got[0] != 3 || got[1] != 15 {
		t.Errorf("warned at seconds %v, want at 3 and 15", got)
	}
}

func TestMemoryWarningNeedsALimit(t *testing.T) {
	e := memoryEpisode{share: DefaultMemoryWarn}
	now := time.Now()
	for i := range 10 {
		if _, ok := e.observe(now.Add(time.Duration(i)*time.Second), Memory{WorkingSetBytes: 1 << 40}); ok {
			t.Fatal("a warning without a memory limit")
		}
	}
	if plan, on := MemoryWarnPlan(Limits{Source: "cgroup v2"}, DefaultMemoryWarn); on || !strings.Contains(plan, "no memory limit") {
		t.Errorf("plan = %q, %v; want off for want of a limit", plan, on)
	}
	if plan, on := MemoryWarnPlan(Limits{MemoryBytes: 300 << 20}, 0); on || !strings.Contains(plan, "off") {
		t.Errorf("plan = %q, %v; want off", plan, on)
	}
	plan, on := MemoryWarnPlan(Limits{MemoryBytes: 300 << 20}, DefaultMemoryWarn)
	if !on || !strings.Contains(plan, "90% of the 300.0MiB limit (270.0MiB)") {
		t.Errorf("plan = %q, %v", plan, on)
	}
}

// The watcher reads the files every second: a cgroup at 95 % of its limit
// for longer than the hold gives one warning with its figures.
func TestWatchMemoryWarnsWhenTheWorkingSetHoldsAboveTheShare(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the warning's hold time")
	}
	fs := newCgroupFiles(t)
	// 100 MiB charged, 5 MiB of it inactive file cache: 95 MiB working set.
	fs.v2("", "104857600", 100<<20, 100<<20, 5<<20, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := FindCgroup(fs.root).WatchMemory(ctx, DefaultMemoryWarn)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-ch:
		if w.WorkingSetBytes != 95<<20 || w.LimitBytes != 100<<20 || w.Share != DefaultMemoryWarn {
			t.Errorf("warning = %+v", w)
		}
		if w.Time.Sub(w.Since) < memoryWarnHold {
			t.Errorf("warned %s after the crossing, before the hold of %s", w.Time.Sub(w.Since), memoryWarnHold)
		}
		if s := w.String(); !strings.Contains(s, "95.0MiB is 95% of the 100.0MiB memory limit") {
			t.Errorf("warning reads %q", s)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no warning")
	}
	cancel()
	for range ch {
		t.Error("a second warning in one episode")
	}
}

func TestWatchMemoryWithoutAMemoryControllerFailsAtOnce(t *testing.T) {
	if _, err := FindCgroup(t.TempDir()).WatchMemory(context.Background(), DefaultMemoryWarn); err == nil {
		t.Error("no error without a cgroup")
	}
}
