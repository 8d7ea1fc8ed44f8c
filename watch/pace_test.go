package watch

import (
	"testing"
	"time"
)

// The watcher waits watchGap after an event that follows a quiet moment,
// longer (up to slowGap) while events come back to back far from every
// limit, at most an eighth of the time left before a limit at the rate
// the files grow, and hurryGap when they would pass one within hurryHorizon: a JVM
// writing a heap dump at 2 GB/s passes an 8 MiB budget by 4 MB in each
// 2 ms.
func TestPaceReactsSoonerTheNearerALimitIs(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	ms := time.Millisecond
	quiet := time.Second
	busy := func(p *pace, n int) {
		for range n {
			p.woke(0)
		}
	}

	var p pace
	p.woke(quiet)
	if g := p.gap(at(0)); g != watchGap {
		t.Fatalf("before any pass the gap is %s; want %s", g, watchGap)
	}
	p.passed(8*mib, 8*mib, at(0))
	busy(&p, growAfter+5)
	if p.hurry || p.gap(at(0)) != watchGap {
		t.Fatalf("first pass, nothing measured: hurry %v, gap %s; want false, %s", p.hurry, p.gap(at(0)), watchGap)
	}
	// 4 MiB in 2 ms (2 GB/s), 4 MiB left: gone within the horizon.
	p.passed(4*mib, 4*mib, at(2*ms))
	if !p.hurry || p.gap(at(2*ms)) != hurryGap {
		t.Fatalf("4 MiB left at %.0f bytes/s: hurry %v, gap %s; want true, %s", p.rate, p.hurry, p.gap(at(2*ms)), hurryGap)
	}
	// Passes closer together than watchGap see the size in the
	// filesystem's blocks: no growth between two of them keeps the pace.
	p.passed(4*mib, 4*mib, at(2*ms+50*time.Microsecond))
	if !p.hurry {
		t.Fatal("a pass 50 µs after the last, with no growth seen, stopped the hurry")
	}
	// Exactly at the limit: the next byte passes it.
	p.passed(0, 0, at(4*ms))
	if !p.hurry {
		t.Fatal("does not hurry at the limit")
	}
	// A cut makes room: the writer goes on at the same rate, so the
	// watcher still hurries, measuring from the room the cut made.
	p.passed(-mib, 8*mib, at(4500*time.Microsecond))
	if !p.hurry || p.room != 8*mib {
		t.Fatalf("after a cut: hurry %v, room %d; want true, %d", p.hurry, p.room, 8*mib)
	}
	// The writer pauses: a pass a gap later sees no growth, but a writer
	// that fast may go on at once: the watcher still hurries.
	p.passed(8*mib, 8*mib, at(7*ms))
	if !p.hurry {
		t.Fatalf("one quiet sample after 2 GB/s stopped the hurry (rate %.0f)", p.rate)
	}
	// It stays quiet while other events come back to back (a file
	// touched, not grown): the rate fades, and the gap grows to slowGap.
	for d := 27 * ms; d <= 30*slowGap; d += slowGap {
		p.passed(8*mib, 8*mib, at(d))
	}
	if g := p.gap(at(30 * slowGap)); p.hurry || g != slowGap {
		t.Fatalf("after the writer stopped: hurry %v, gap %s (rate %.0f); want false, %s", p.hurry, g, p.rate, slowGap)
	}
	// An event after a quiet moment (a heap dump just created next to a
	// log written now and then) is reacted to after watchGap.
	p.woke(quiet)
	if g := p.gap(at(30*slowGap + ms)); g != watchGap {
		t.Fatalf("an event after a quiet moment waits %s; want %s", g, watchGap)
	}
	// After a quiet second the rate says nothing of the next writer: the
	// default gap, and a sample starts.
	if g := p.gap(at(time.Second)); g != watchGap {
		t.Fatalf("after a quiet second the gap is %s; want %s", g, watchGap)
	}
	p.passed(4*mib, 4*mib, at(time.Second))
	if p.known || p.gap(at(time.Second)) != watchGap {
		t.Fatalf("first pass after a quiet second: rate known %v, gap %s; want false, %s", p.known, p.gap(at(time.Second)), watchGap)
	}
	// A busy log far from the limit, 5 MB/s with 4 MiB left (0.8 s):
	// after growAfter reactions in a row whose event was waiting, the gap
	// doubles at each, up to slowGap.
	p.passed(4*mib-50_000, 4*mib-50_000, at(time.Second+10*ms))
	p.woke(quiet)
	busy(&p, growAfter-1)
	if g := p.gap(at(time.Second + 10*ms)); g != watchGap {
		t.Fatalf("5 MB/s with 4 MiB left, %d reactions in a row: gap %s; want %s", growAfter, g, watchGap)
	}
	for i, want := range []time.Duration{2 * ms, 4 * ms, 8 * ms, 16 * ms, slowGap, slowGap} {
		p.woke(0)
		if g := p.gap(at(time.Second + 10*ms)); p.hurry || g != want {
			t.Fatalf("5 MB/s with 4 MiB left, reaction %d in a row: hurry %v, gap %s; want false, %s", growAfter+i, p.hurry, g, want)
		}
	}
	// The same writer 80 ms from the limit: an eighth of that.
	q := pace{busy: growAfter + 10}
	q.passed(450_000, 450_000, at(0))
	q.passed(400_000, 400_000, at(10*ms))
	if g := q.gap(at(10 * ms)); q.hurry || g < 9*ms || g > 11*ms {
		t.Fatalf("80 ms from the limit: hurry %v, gap %s; want false, about 10 ms", q.hurry, g)
	}
	// A limit that stays passed (a mapped file cannot be cut): hurrying
	// would only repeat the refusal.
	p.passed(-mib, -mib, at(2*time.Second))
	p.passed(-2*mib, -2*mib, at(2*time.Second+2*ms))
	if p.hurry {
		t.Fatal("hurries while the limit stays passed")
	}
	// No limit at all: nothing to keep; busy events wait the longest gap.
	p.passed(noLimit, noLimit, at(3*time.Second))
	p.passed(noLimit, noLimit, at(3*time.Second+2*ms))
	busy(&p, growAfter+5)
	if p.hurry || p.gap(at(3*time.Second+2*ms)) != slowGap {
		t.Fatalf("without a limit: hurry %v, gap %s; want false, %s", p.hurry, p.gap(at(3*time.Second+2*ms)), slowGap)
	}
}

// As PID 1 every process of the namespace is below tend, those entered
// from outside too, without a read of each one's stat.
func TestProcessesBelowPID1AreEveryOtherProcess(t *testing.T) {
	got := processesBelow(1, []int{1, 7, 42, 300})
	if len(got) != 3 || got[0] != 7 || got[1] != 42 || got[2] != 300 {
		t.Fatalf("processesBelow(1, ...) = %v; want [7 42 300]", got)
	}
}
