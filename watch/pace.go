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
//   - watchGap when the event came after a quiet moment (more than
//     watchGap without one), so that a file that starts to grow fast (a
//     heap dump) is seen within watchGap;
//   - while events come back to back (after growAfter reactions), twice
//     as long at each reaction, up to slowGap: a log written at 50,000
//     lines a second, one write per line, then costs tend about 3 % of a
//     CPU instead of 13 % at a reaction every 2 ms;
//   - but no more than an eighth of the time left before a limit (the
//     disk budget, the minimum free space) at the rate the files grew
//     lately, and hurryGap when that is less than hurryHorizon. A JVM
//     writes a heap dump at up to 2 GB/s: each 2 ms is 4 MB past the
//     budget, 250 µs half a MB.
//
// A file that starts to grow fast while a busy one is written far from
// the limits (a heap dump next to a log written thousands of times a
// second) is seen within slowGap.
const (
	slowGap      = 20 * time.Millisecond
	hurryHorizon = 4 * watchGap
	hurryGap     = watchGap / 8
	// staleAfter: a rate measured longer ago than this says nothing of
	// the writer that woke the watcher now.
	staleAfter = 2 * slowGap
	// rateHalfLife is how fast a rate measured earlier fades.
	rateHalfLife = 100 * time.Millisecond
	// growAfter is how many reactions in a row, each with an event
	// waiting at once, come before the gap grows: the first rate a file
	// that starts to be written shows is not the rate it reaches (a heap
	// dump: 270 MB/s in its first 4 ms, 2 GB/s then).
	growAfter = 8
)

// pace tells how soon the watcher reacts to the next events.
type pace struct {
	room  int64     // the room left when the current sample started
	at    time.Time // when that was
	rate  float64   // bytes a second the room shrank by in the last sample
	known bool      // rate was measured lately
	hurry bool      // a limit is within hurryHorizon
	busy  int       // reactions in a row whose event was waiting at once
}

// woke records how long the watcher waited for the event it reacts to
// now, from the end of its last reaction.
func (p *pace) woke(waited time.Duration) {
	if waited > watchGap {
		p.busy = 0
	} else {
		p.busy++
	}
}

// gap is how long the watcher waits after an event before it reacts.
func (p *pace) gap(now time.Time) time.Duration {
	if p.hurry {
		return hurryGap
	}
	gap := min(watchGap<<min(max(p.busy-growAfter, 0), 4), slowGap)
	switch {
	case p.room == noLimit:
		return gap
	case !p.known || now.Sub(p.at) > staleAfter:
		return watchGap
	case p.rate > 0:
		// An eighth of the time left before the limit is passed.
		left := time.Duration(float64(p.room) / p.rate * float64(time.Second))
		gap = min(gap, max(left/8, watchGap))
	}
	return gap
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
		*p = pace{room: noLimit, busy: p.busy}
		return
	case p.at.IsZero() || p.room == noLimit || now.Sub(p.at) > staleAfter:
		// The first pass, or the first in a while: a sample starts.
		*p = pace{room: after, at: now, busy: p.busy}
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
