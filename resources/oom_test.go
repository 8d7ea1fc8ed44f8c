package resources

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// nextOOM waits for the next event on ch; a watcher that sees nothing
// fails the test after a generous wait.
func nextOOM(t *testing.T, ch <-chan OOMEvent) OOMEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("the OOM watcher closed its channel")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no OOM event")
	}
	return OOMEvent{}
}

func TestWatchOOMV2SendsOneEventPerRise(t *testing.T) {
	fs := newCgroupFiles(t)
	// Two kills happened before tend watched: they are not news.
	fs.v2("", "67108864", 60<<20, 64<<20, 0, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := WatchOOM(ctx, fs.root)
	if err != nil {
		t.Fatal(err)
	}

	fs.events("", 3)
	ev := nextOOM(t, ch)
	if ev.Kills != 3 || ev.New != 1 {
		t.Errorf("event = %+v, want kills 3, new 1", ev)
	}
	if ev.LimitBytes != 64<<20 || ev.PeakBytes != 64<<20 || ev.UsageBytes != 60<<20 {
		t.Errorf("event = %+v, want limit and peak 64MiB, usage 60MiB", ev)
	}
	if ev.Time.IsZero() {
		t.Error("event has no time")
	}

	// Other counters move (memory.high throttling): no event. Two kills
	// at once: one event that says two.
	fs.write("memory.events", "low 0\nhigh 40\nmax 19\noom 3\noom_kill 3\noom_group_kill 0\n")
	fs.events("", 5)
	if ev := nextOOM(t, ch); ev.Kills != 5 || ev.New != 2 {
		t.Errorf("event = %+v, want kills 5, new 2 (and no event for the high counter)", ev)
	}
}

func TestWatchOOMV2CountsGroupKills(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "67108864", 60<<20, 64<<20, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := WatchOOM(ctx, fs.root)
	if err != nil {
		t.Fatal(err)
	}
	fs.write("memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 4\noom_group_kill 1\n")
	if ev := nextOOM(t, ch); ev.Kills != 4 || ev.New != 4 || ev.GroupKills != 1 {
		t.Errorf("event = %+v, want 4 kills in 1 group kill", ev)
	}
}

// With memory_localevents the hierarchical file counts only the cgroup
// itself; memory.events.local is read too and the larger count wins.
func TestWatchOOMV2ReadsLocalEvents(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "67108864", 60<<20, 64<<20, 0, 0)
	fs.write("memory.events.local", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := WatchOOM(ctx, fs.root)
	if err != nil {
		t.Fatal(err)
	}
	fs.write("memory.events.local", "low 0\nhigh 0\nmax 1\noom 1\noom_kill 1\noom_group_kill 0\n")
	if ev := nextOOM(t, ch); ev.Kills != 1 || ev.New != 1 {
		t.Errorf("event = %+v, want 1 kill", ev)
	}
}

func TestWatchOOMV1SendsOneEventPerRise(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v1(64<<20, 50<<20, 63<<20, 1<<20, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := WatchOOM(ctx, fs.root)
	if err != nil {
		t.Fatal(err)
	}
	fs.oomControl(1)
	ev := nextOOM(t, ch)
	if ev.Kills != 1 || ev.New != 1 || ev.LimitBytes != 64<<20 || ev.PeakBytes != 63<<20 || ev.UsageBytes != 50<<20 {
		t.Errorf("event = %+v, want 1 new kill, limit 64MiB, peak 63MiB, usage 50MiB", ev)
	}
	// under_oom moving alone is no kill.
	fs.write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 1\noom_kill 1\n")
	fs.oomControl(2)
	if ev := nextOOM(t, ch); ev.Kills != 2 || ev.New != 1 {
		t.Errorf("event = %+v, want kills 2, new 1", ev)
	}
}

func TestWatchOOMClosesItsChannelWhenCancelled(t *testing.T) {
	fs := newCgroupFiles(t)
	fs.v2("", "max", 1<<20, 1<<20, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := WatchOOM(ctx, fs.root)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	for range ch {
		t.Error("an event without a kill")
	}
}

func TestWatchOOMWithoutACounterFailsAtOnce(t *testing.T) {
	_, err := WatchOOM(context.Background(), t.TempDir())
	if !errors.Is(err, ErrNoMemoryController) {
		t.Errorf("error = %v, want ErrNoMemoryController", err)
	}
	fs := newCgroupFiles(t)
	fs.write("memory/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\n")
	_, err = WatchOOM(context.Background(), fs.root)
	if err == nil || !strings.Contains(err.Error(), "oom_kill") {
		t.Errorf("error = %v, want one naming the missing oom_kill line", err)
	}
}
