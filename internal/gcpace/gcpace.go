// Package gcpace paces Go's garbage collector by what the heap holds:
// after each collection the next is due once the heap has grown by 4 MiB
// or by a quarter of what is live, whichever is more, but never later
// than Go's default (grown by all of what is live).
//
// tend's memory is mostly the buffers its settings bound (the sinks'
// queues, TEND_FLUENT_BUFFER, the reads). With Go's default pace a heap
// with 13 MB live (a burst to Fluentd, its 8 MiB buffer full) grows to
// 26 MB before it is collected, and tend's RSS passed 32 MiB; a fixed,
// lower GOGC would collect a small heap over and over, at every start.
package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
)

const (
	// headroom is the least the heap may grow between collections.
	headroom = 4 << 20
	// minPercent and maxPercent bound the GOGC the pacer sets.
	minPercent = 25
	maxPercent = 100
)

// Start paces every collection after the next one, for the rest of the
// process's life, unless the environment sets GOGC: a pace the user chose
// stays. It reports whether it paces. Call it once.
func Start() bool {
	if _, set := os.LookupEnv("GOGC"); set {
		return false
	}
	p := &pacer{percent: maxPercent}
	p.arm()
	return true
}

// pacer holds what the pace was set to; only the cleanup that runs after
// each collection uses it, one at a time.
type pacer struct {
	percent int
	stats   runtime.MemStats
}

// sentinel is an object that becomes unreachable at once: its cleanup runs
// after the collection that found it so. It holds a pointer so that it is
// never one of the tiny objects the runtime packs together.
type sentinel struct{ _ *byte }

// arm sets a cleanup to run after the next collection.
func (p *pacer) arm() {
	runtime.AddCleanup(new(sentinel), func(p *pacer) {
		p.pace()
		p.arm()
	}, p)
}

// pace sets GOGC from the heap the last collection left live.
//
// The runtime sets the next collection's goal from what the last one
// marked live: live plus GOGC percent of it (and of the goroutine stacks
// and globals, which are small in tend). So the goal under the pace in
// force gives back what was live, a little over it. runtime/metrics
// would give the figure itself, but linking it costs every start of tend
// its package's set-up (tens of microseconds); the goal is read only
// after a collection.
func (p *pacer) pace() {
	runtime.ReadMemStats(&p.stats)
	if percent := percentFor(liveFromGoal(p.stats.NextGC, p.percent)); percent != p.percent {
		p.percent = percent
		debug.SetGCPercent(percent)
	}
}

// liveFromGoal returns the live heap behind the next collection's goal
// under GOGC percent.
func liveFromGoal(goal uint64, percent int) uint64 {
	return goal * 100 / uint64(100+percent)
}

// percentFor returns the GOGC under which a heap with live bytes live is
// collected again once it has grown by headroom or by a quarter of live,
// whichever is more, and at most by all of live.
func percentFor(live uint64) int {
	if live == 0 {
		return maxPercent
	}
	return int(min(max(headroom*100/live, minPercent), maxPercent))
}
