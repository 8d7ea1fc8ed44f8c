package resources

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// DefaultMemoryWarn is the share of the memory limit the working set must
// stay above for a warning (TEND_MEMORY_WARN; 0 turns warnings off).
const DefaultMemoryWarn = 0.9

// memoryWarnHold is how long the working set must stay above the share
// before the warning: a GC cycle or a burst of page cache is no warning.
const memoryWarnHold = 3 * time.Second

// memoryWarnHysteresis is how far below the share the working set must
// fall to end an episode, so usage that hovers at the line warns once.
const memoryWarnHysteresis = 0.05

// memorySampleInterval is how often the working set is read.
const memorySampleInterval = time.Second

// MemoryWarning says that the cgroup's working set has stayed above the
// warning share of its memory limit: the OOM killer is near.
type MemoryWarning struct {
	// Time is when the warning was given.
	Time time.Time `json:"time"`
	// Since is when the working set crossed the share in this episode.
	Since time.Time `json:"since"`
	// WorkingSetBytes is the usage less the inactive file cache.
	WorkingSetBytes int64 `json:"working_set_bytes"`
	// LimitBytes is the memory limit.
	LimitBytes int64 `json:"limit_bytes"`
	// Share is the warning threshold as a share of the limit.
	Share float64 `json:"share"`
	// Top are the programs holding the most memory, the largest first
	// (set by MemoryWatch; empty from WatchMemory).
	Top []ProgramMemory `json:"top,omitempty"`
}

// String describes the warning in one line.
func (w MemoryWarning) String() string {
	s := fmt.Sprintf("working set %s is %.0f%% of the %s memory limit (warning at %.0f%%) for %s",
		human(w.WorkingSetBytes), 100*float64(w.WorkingSetBytes)/float64(w.LimitBytes), human(w.LimitBytes),
		100*w.Share, w.Time.Sub(w.Since).Round(time.Second))
	if len(w.Top) > 0 {
		s += "; most held by " + w.TopString()
	}
	return s
}

// TopString lists the programs holding the most memory, as
// "main 512.0MiB (3 processes), agent 30.0MiB".
func (w MemoryWarning) TopString() string {
	parts := make([]string, len(w.Top))
	for i, p := range w.Top {
		parts[i] = p.Program + " " + human(p.RSSBytes)
		if p.Processes > 1 {
			parts[i] += fmt.Sprintf(" (%d processes)", p.Processes)
		}
	}
	return strings.Join(parts, ", ")
}

// MemoryWarnPlan says in one line when memory warnings will be given for
// limits l and share, for `tend check`; on is false when none will be
// given (share 0, or no memory limit to measure against).
func MemoryWarnPlan(l Limits, share float64) (plan string, on bool) {
	switch {
	case share <= 0:
		return "memory warnings off", false
	case l.MemoryBytes <= 0 && (l.Source == "none" || l.Source == ""):
		return "no memory warnings: no cgroup filesystem was found, so no memory limit to measure against", false
	case l.MemoryBytes <= 0:
		return fmt.Sprintf("no memory warnings: %s sets no memory limit", l.Source), false
	}
	return fmt.Sprintf("memory warning when the working set stays above %.0f%% of the %s limit (%s) for %s",
		100*share, human(l.MemoryBytes), human(int64(share*float64(l.MemoryBytes))), memoryWarnHold), true
}

// WatchMemory sends a MemoryWarning when the cgroup's working set stays
// above share of its memory limit for a few seconds: one per episode,
// which ends when the working set falls 5 % of the limit below the share.
// The limit is read at every sample, so a limit raised or lowered while
// tend runs is followed; without a limit, or with share 0, nothing is
// sent. The channel is closed when ctx is done. It fails at once when the
// cgroup has no memory accounting to read.
func (c Cgroup) WatchMemory(ctx context.Context, share float64) (<-chan MemoryWarning, error) {
	if _, err := c.ReadMemory(); err != nil {
		return nil, err
	}
	out := make(chan MemoryWarning, 1)
	go func() {
		defer close(out)
		if share <= 0 {
			<-ctx.Done()
			return
		}
		e := memoryEpisode{share: share}
		tick := time.NewTicker(memorySampleInterval)
		defer tick.Stop()
		for {
			if m, err := c.ReadMemory(); err == nil {
				if w, ok := e.observe(time.Now(), m); ok {
					select {
					case out <- w:
					case <-ctx.Done():
						return
					}
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return out, nil
}

// memoryEpisode follows the working set from sample to sample and says
// when to warn.
type memoryEpisode struct {
	share  float64
	above  time.Time // when the working set crossed the share; zero: below
	warned bool      // the current episode's warning was given
}

// observe takes one sample and returns the warning to give, if any.
func (e *memoryEpisode) observe(now time.Time, m Memory) (MemoryWarning, bool) {
	if m.LimitBytes <= 0 {
		*e = memoryEpisode{share: e.share}
		return MemoryWarning{}, false
	}
	used := float64(m.WorkingSetBytes) / float64(m.LimitBytes)
	if e.warned {
		if used < e.share-memoryWarnHysteresis {
			e.warned, e.above = false, time.Time{}
		}
		return MemoryWarning{}, false
	}
	if used < e.share {
		e.above = time.Time{}
		return MemoryWarning{}, false
	}
	if e.above.IsZero() {
		e.above = now
	}
	if now.Sub(e.above) < memoryWarnHold {
		return MemoryWarning{}, false
	}
	e.warned = true
	return MemoryWarning{Time: now, Since: e.above, WorkingSetBytes: m.WorkingSetBytes, LimitBytes: m.LimitBytes, Share: e.share}, true
}
