package stackreserve

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
)

// stackBytes is the memory that goroutine stacks hold now.
func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// parked starts n goroutines that call reserve, if not nil, then wait, and
// returns what their stacks added to the process's, per goroutine.
func parked(t *testing.T, n int, reserve func()) uint64 {
	t.Helper()
	runtime.GC()
	before := stackBytes()
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	for range n {
		go func() {
			if reserve != nil {
				reserve()
			}
			started.Done()
			release.Wait()
		}()
	}
	started.Wait()
	after := stackBytes()
	release.Done()
	if after < before {
		return 0
	}
	return (after - before) / uint64(n)
}

func TestReserveGrowsTheStackOnce(t *testing.T) {
	if raceDetector {
		t.Skip("the race detector starts goroutines with larger stacks")
	}
	const n = 200
	plain := parked(t, n, nil)
	four := parked(t, n, FourKiB)
	eight := parked(t, n, EightKiB)
	t.Logf("stack per goroutine: %d bytes plain, %d with FourKiB, %d with EightKiB", plain, four, eight)
	// Stacks come in powers of two; an average a little under the size
	// means a few stacks were reused from freed ones of another size.
	if plain > 3<<10 {
		t.Errorf("a goroutine that reserves nothing holds %d bytes; want its 2 KiB start", plain)
	}
	if four < 3<<10 || four > 6<<10 {
		t.Errorf("FourKiB left %d bytes per goroutine; want 4 KiB", four)
	}
	if eight < 7<<10 || eight > 12<<10 {
		t.Errorf("EightKiB left %d bytes per goroutine; want 8 KiB", eight)
	}
}

func TestReserveAllocatesNothing(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { FourKiB(); EightKiB() }); n != 0 {
		t.Errorf("%v allocations; the frames must stay on the stack", n)
	}
}
