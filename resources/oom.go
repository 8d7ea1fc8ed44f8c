package resources

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// oomPoll is how often the OOM kill counter is read when the kernel cannot
// announce a change. It keeps a kill from going unnamed for more than
// half a second.
const oomPoll = 500 * time.Millisecond

// oomSafetyPoll is how often the counter is read anyway while inotify
// announces changes, in case a notification is lost.
const oomSafetyPoll = 5 * time.Second

// OOMEvent says that the kernel's OOM killer killed processes of tend's
// cgroup, with the cgroup's memory figures a moment after the kill.
type OOMEvent struct {
	// Time is when the watcher saw the counter rise.
	Time time.Time `json:"time"`
	// Kills is the cgroup's OOM kill counter: every kill so far.
	Kills int64 `json:"kills"`
	// New is how many kills the counter rose by since the previous event
	// (or since the watch began).
	New int64 `json:"new"`
	// GroupKills counts whole-cgroup kills (cgroup v2, memory.oom.group).
	GroupKills int64 `json:"group_kills"`
	// LimitBytes is the memory limit (0: none; the machine or an enclosing
	// cgroup ran out of memory).
	LimitBytes int64 `json:"limit_bytes"`
	// PeakBytes is the highest usage of the cgroup so far (0: unknown).
	PeakBytes int64 `json:"peak_bytes"`
	// UsageBytes is the usage when the event was read, after the kill.
	UsageBytes int64 `json:"usage_bytes"`
}

// WatchOOM watches the OOM kill counter of tend's cgroup under root
// (normally CgroupRoot): see Cgroup.WatchOOM.
func WatchOOM(ctx context.Context, root string) (<-chan OOMEvent, error) {
	return FindCgroup(root).WatchOOM(ctx)
}

// WatchOOM sends an event each time the cgroup's OOM kill counter rises,
// until ctx is done; then the channel is closed. Kills that happened
// before the watch began are not reported. It fails at once when the
// cgroup has no counter to watch.
//
// On cgroup v2 the kernel announces every change of memory.events through
// inotify, so an event follows the kill at once. On cgroup v1 the counter
// is read every half second: the v1 notification (an eventfd registered in
// cgroup.event_control) needs the cgroup filesystem writable, which
// container engines mount read-only, and it fires only for the cgroup's
// own limit, not for a kill the machine's memory shortage causes.
//
// The counter covers the cgroup and its children, and every process in
// them: a program, its children, a probe. A slow receiver delays later
// events but loses none.
func (c Cgroup) WatchOOM(ctx context.Context) (<-chan OOMEvent, error) {
	last, err := c.readOOMKills()
	if err != nil {
		return nil, err
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	interval := oomPoll
	w := c.watchEvents()
	if w != nil {
		events, errs, interval = w.Events, w.Errors, oomSafetyPoll
	}
	out := make(chan OOMEvent, 4)
	go func() {
		defer close(out)
		if w != nil {
			defer w.Close()
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-events:
			case <-errs:
				// An overflowed inotify queue lost notifications: read
				// now, as for any other.
			}
			k, err := c.readOOMKills()
			// The counters only grow; a lower or unreadable value is a
			// file caught mid-write, never a reset.
			if err != nil || (k.kills <= last.kills && k.groupKills <= last.groupKills) {
				continue
			}
			ev := OOMEvent{Time: time.Now(), Kills: k.kills, New: max(0, k.kills-last.kills), GroupKills: k.groupKills}
			last = oomCounts{kills: max(k.kills, last.kills), groupKills: max(k.groupKills, last.groupKills)}
			// Reading memory.stat while the victim's memory is still
			// charged could make the kernel kill again (see oomQuiet).
			select {
			case <-time.After(oomQuiet):
			case <-ctx.Done():
				return
			}
			if m, err := c.ReadMemory(); err == nil {
				ev.LimitBytes, ev.PeakBytes, ev.UsageBytes = m.LimitBytes, m.PeakBytes, m.UsageBytes
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// watchEvents returns an inotify watch on the cgroup v2 event files, or
// nil when there is none (cgroup v1, or inotify unavailable).
func (c Cgroup) watchEvents() *fsnotify.Watcher {
	if c.Version != 2 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil
	}
	if err := w.Add(filepath.Join(c.MemoryDir, "memory.events")); err != nil {
		w.Close()
		return nil
	}
	// Optional: only kernels from 5.2 have it.
	_ = w.Add(filepath.Join(c.MemoryDir, "memory.events.local"))
	return w
}
