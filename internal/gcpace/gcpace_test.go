package gcpace

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentKeepsFourMiBOrAQuarterOfTheLiveHeap(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 100},
		{1 << 20, 100}, // a small heap keeps Go's default
		{4 << 20, 100},
		{8 << 20, 50}, // 4 MiB of headroom
		{13 << 20, 30},
		{16 << 20, 25},
		{200 << 20, 25}, // a quarter, however large
	} {
		if got := percentFor(c.live); got != c.want {
			t.Errorf("percentFor(%d MiB) = %d, want %d", c.live>>20, got, c.want)
		}
	}
}

// gcPercent returns the GOGC in force.
func gcPercent() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}

// A heap holding 32 MiB is collected at GOGC 25 once the pacer has seen a
// collection, and at Go's default again once it holds little.
func TestLargeLiveHeapIsCollectedSooner(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if !Start() {
		t.Fatal("Start does not pace without GOGC in the environment")
	}
	func() {
		live := make([][]byte, 32)
		for i := range live {
			live[i] = make([]byte, 1<<20)
		}
		waitFor(t, 25, "GOGC 25 with 32 MiB live")
		runtime.KeepAlive(live)
	}()
	waitFor(t, 100, "GOGC 100 with the 32 MiB freed")
}

// waitFor collects until GOGC is want, for at most 5 s.
func waitFor(t *testing.T, want int, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for gcPercent() != want {
		if time.Now().After(deadline) {
			t.Fatalf("%s: GOGC is %d", what, gcPercent())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// With GOGC in the environment the pace is the user's: Start leaves it.
// (A pacer started by another test runs on in this process, so the test
// asks Start rather than watching GOGC.)
func TestGOGCFromTheEnvironmentStays(t *testing.T) {
	t.Setenv("GOGC", "200")
	if Start() {
		t.Error("Start paces with GOGC=200 in the environment")
	}
}

// The live heap the pacer reads back from the next collection's goal is
// what the runtime reports live, give or take the stacks' and globals'
// share. (A pacer started by another test may change GOGC after each
// collection: the figures are taken while GOGC stays what it was.)
func TestLiveFromGoalMatchesTheRuntimesLiveHeap(t *testing.T) {
	live := make([][]byte, 24)
	for i := range live {
		live[i] = make([]byte, 1<<20)
	}
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		percent := gcPercent()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		metrics.Read(s)
		if gcPercent() != percent {
			continue
		}
		got, want := liveFromGoal(ms.NextGC, percent), s[0].Value.Uint64()
		if got < want || got > want+1<<20 {
			t.Errorf("GOGC %d: live from the goal %d bytes, the runtime's live heap %d", percent, got, want)
		}
		runtime.KeepAlive(live)
		return
	}
	t.Fatal("GOGC changed under every reading")
}
