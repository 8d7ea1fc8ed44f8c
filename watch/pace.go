package watch

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// How long the watcher waits after an event before it reacts, gathering
// what else arrives (it reads nothing meanwhile: the kernel merges the
// repeated events of a file written again and again):
//
//   - watchGap after a quiet moment, or while the watched files grow
//     with a limit some 100 ms or less away;
//   - up to slowGap while they grow far from any limit (or with none): a
//     log written at 50,000 lines a second then costs tend about 3 % of
//     a CPU instead of 14 % at a reaction every 2 ms;
//   - hurryGap when the room left would be used up within hurryHorizon
//     at the rate the files grew lately. A JVM writes a heap dump at up
//     to 2 GB/s: each 2 ms is 4 MB past the budget, 250 µs half a MB.
//
// A file that starts to grow fast while another is written far from the
// limits (a heap dump next to a busy log) is seen after at most slowGap.
const (
	slowGap      = 20 * time.Millisecond
	hurryHorizon = 4 * watchGap
	hurryGap     = watchGap / 8
	// staleAfter: a rate measured longer ago than this says nothing of
	// the writer that woke the watcher now.
	staleAfter = 2 * slowGap
	// rateHalfLife is how fast a rate measured earlier fades.
	rateHalfLife = 100 * time.Millisecond
)

// pace tells how soon the watcher reacts to the next events, from the
// rate at which the watched files use up the room left under the limits
// (the disk budget, the minimum free space).
type pace struct {
	room  int64     // the room left when the current sample started
	at    time.Time // when that was
	rate  float64   // bytes a second the room shrank by in the last sample
	known bool      // rate was measured lately
	hurry bool      // a limit is within hurryHorizon
}

// gap is how long the watcher waits after an event before it reacts.
func (p *pace) gap(now time.Time) time.Duration {
	switch {
	case p.room == noLimit:
		return slowGap
	case p.hurry:
		return hurryGap
	case !p.known || now.Sub(p.at) > staleAfter:
		return watchGap
	case p.rate <= 0:
		return slowGap
	}
	// A quarter of the time left before the limit is passed.
	left := time.Duration(float64(p.room) / p.rate * float64(time.Second))
	return min(max(left/4, watchGap), slowGap)
}

// noLimit is the room left when no limit applies.
const noLimit = math.MaxInt64

// passed records a pass: before is the room left once the pass had
// measured the files that changed, after the room left once it kept the
// limits, at now. The room used between two passes at least watchGap
// apart is the rate a writer uses it at; passes closer than that (the
// writer's size is measured in the filesystem's blocks) keep the rate.
func (p *pace) passed(before, after int64, now time.Time) {
	switch {
	case before == noLimit || after == noLimit:
		*p = pace{room: noLimit}
		return
	case p.at.IsZero() || p.room == noLimit || now.Sub(p.at) > staleAfter:
		// The first pass, or the first in a while: a sample starts.
		*p = pace{room: after, at: now}
		return
	}
	if took := now.Sub(p.at); took >= watchGap {
		// A writer that paused (a heap dump between two segments) or
		// whose growth the blocks do not show yet is taken to go on at
		// the rate it had, halved every rateHalfLife, so that one quiet
		// sample does not make the watcher wait slowGap.
		sample := max(float64(p.room-before), 0) / took.Seconds()
		p.rate = max(sample, p.rate*math.Exp2(-float64(took)/float64(rateHalfLife)))
		p.known = true
		p.room, p.at = after, now
	} else if after > before {
		// A cut: the next sample starts from the room it made.
		p.room, p.at = after, now
	}
	// A limit still passed after the pass (a file that cannot be cut) is
	// not helped by hurrying.
	p.hurry = after >= 0 && p.rate*hurryHorizon.Seconds() >= float64(after)
}

// headroom is the room left before a limit is passed: bytes under the
// disk budget, or above the minimum free space on the filesystem of a
// directory with watched files, whichever is less; noLimit without
// limits.
func (w *Watcher) headroom() int64 {
	b := w.budget
	room := int64(noLimit)
	if b.Limit() > 0 {
		room = b.Limit() - b.Used()
	}
	if b.MinFree() > 0 {
		for dir := range w.dirFiles {
			var st unix.Statfs_t
			if unix.Statfs(dir, &st) == nil {
				room = min(room, int64(st.Bavail)*int64(st.Bsize)-b.MinFree())
			}
		}
	}
	return room
}
