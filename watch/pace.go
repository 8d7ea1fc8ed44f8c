package watch

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// hurryHorizon is how far ahead the watcher looks for a limit: when the
// room left would be used up within it at the rate the watched files
// grew during the last pass, the next events are reacted to after
// hurryGap instead of watchGap. A JVM writes a heap dump at up to
// 2 GB/s: each gap of 2 ms is 4 MB past the budget, one of 250 µs half
// a MB.
const (
	hurryHorizon = 4 * watchGap
	hurryGap     = watchGap / 8
)

// pace tells how soon the watcher reacts to the next events: after
// watchGap, or after hurryGap while the watched files grow fast enough to
// pass a limit (the disk budget or the minimum free space) before then.
type pace struct {
	room  int64     // the room left when the current sample started
	at    time.Time // when that was
	rate  float64   // bytes a second the room shrank by in the last sample
	hurry bool      // react to the next events at once
}

// gap is how long the watcher waits after an event before it reacts.
func (p *pace) gap() time.Duration {
	if p.hurry {
		return hurryGap
	}
	return watchGap
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
	case p.at.IsZero():
		p.room, p.at = after, now
		return
	}
	if took := now.Sub(p.at); took >= watchGap {
		p.rate = max(float64(p.room-before), 0) / took.Seconds()
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
