package watch

import (
	"testing"
	"time"
)

// The watcher gathers events for watchGap, unless the files grow fast
// enough to pass a limit within hurryHorizon: a JVM writing a heap dump
// at 2 GB/s passes an 8 MiB budget by 4 MB in each gap.
func TestPaceHurriesOnlyWhileAWriterNearsALimit(t *testing.T) {
	const mib = 1 << 20
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }

	var p pace
	p.passed(8*mib, 8*mib, at(0))
	if p.hurry {
		t.Fatal("hurries on the first pass, with nothing measured")
	}
	// 4 MiB in 2 ms (2 GB/s), 4 MiB left: gone within the horizon.
	p.passed(4*mib, 4*mib, at(2*time.Millisecond))
	if !p.hurry {
		t.Fatalf("does not hurry with 4 MiB left at %.0f bytes/s", p.rate)
	}
	// Passes closer together than watchGap see the size in the
	// filesystem's blocks: no growth between two of them keeps the pace.
	p.passed(4*mib, 4*mib, at(2*time.Millisecond+50*time.Microsecond))
	if !p.hurry {
		t.Fatal("a pass 50 µs after the last, with no growth seen, stopped the hurry")
	}
	// Exactly at the limit: the next byte passes it.
	p.passed(0, 0, at(4*time.Millisecond))
	if !p.hurry {
		t.Fatal("does not hurry at the limit")
	}
	// A cut makes room: the writer goes on at the same rate, so the
	// watcher still hurries, measuring from the room the cut made.
	p.passed(-mib, 8*mib, at(4500*time.Microsecond))
	if !p.hurry || p.room != 8*mib {
		t.Fatalf("after a cut: hurry %v, room %d; want true, %d", p.hurry, p.room, 8*mib)
	}
	// The writer stops: a pass a gap later sees no growth.
	p.passed(8*mib, 8*mib, at(7*time.Millisecond))
	if p.hurry {
		t.Fatal("still hurries after the writer stopped")
	}
	// A slow writer far from the limit: 1 MiB a second with 4 MiB left.
	p.passed(4*mib, 4*mib, at(time.Second))
	p.passed(4*mib-mib/100, 4*mib-mib/100, at(time.Second+10*time.Millisecond))
	if p.hurry {
		t.Fatal("hurries for a writer 4 s away from the limit")
	}
	// A limit that stays passed (a mapped file cannot be cut): hurrying
	// would only repeat the refusal.
	p.passed(-mib, -mib, at(2*time.Second))
	p.passed(-2*mib, -2*mib, at(2*time.Second+2*time.Millisecond))
	if p.hurry {
		t.Fatal("hurries while the limit stays passed")
	}
	// No limit at all.
	p.passed(noLimit, noLimit, at(3*time.Second))
	p.passed(noLimit, noLimit, at(3*time.Second+2*time.Millisecond))
	if p.hurry {
		t.Fatal("hurries without a limit")
	}
}
