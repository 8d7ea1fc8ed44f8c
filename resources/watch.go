package resources

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
)

// How often a MemoryWatch reads the cgroup and samples the programs'
// processes. The OOM kill counter and the usage, two small files, are
// read four times a second, and ten times once the usage is above
// trackNearShare of the limit (on cgroup v2 the kernel also announces
// each change of the counter at once). The whole accounting is read every
// second. The programs' processes, a scan of /proc, are sampled every
// second above trackNearShare of the limit, every trackIdleInterval below
// it or without a limit (a scan allocates; an idle tend that scanned every
// second grew by 25 KiB a second until its next garbage collection), and
// at a reading of the usage once it has grown by trackGrowth
// of the limit since the last scan: a process growing towards an OOM kill
// is seen with its memory a few times on the way (one that takes the rest
// of the limit within a tenth of a second is seen smaller, or not at all).
// Above trackGrowthCeiling of the limit there is no scan at all: a scan
// allocates, in tend and in the kernel, and right after a kill the usage
// is still at the limit (see oomQuiet). A process started while the
// usage is that high is therefore not seen until it falls again.
const (
	trackInterval      = time.Second
	trackIdleInterval  = 10 * time.Second
	trackPoll          = 250 * time.Millisecond
	trackNearPoll      = 100 * time.Millisecond
	trackNearShare     = 0.5
	trackGrowth        = 1.0 / 32
	trackGrowthCeiling = 0.9
)

// oomQuiet is how long after the counter rises the watch reads nothing
// but the counter, through its open file. Until the victim's memory is
// freed the cgroup stays at its limit, and anything charged to it then
// (the kernel's buffer for a file opened afresh, a page of tend's own
// heap) can make the kernel kill again, with tend perhaps the only
// process left to pick; see openFiles.
const oomQuiet = 250 * time.Millisecond

// OOMKill is one OOM kill, named: the cgroup's figures, the victim when
// tend knows it, and what to change.
type OOMKill struct {
	OOMEvent
	// Victim is the process killed (nil: none tend had seen).
	Victim *Death `json:"victim,omitempty"`
	// Heap is the victim's JVM heap limit (nil: not a JVM).
	Heap *JavaHeap `json:"heap,omitempty"`
	// Advice says in one line what to change.
	Advice string `json:"advice"`
}

// MemoryWatchOptions configure a MemoryWatch.
type MemoryWatchOptions struct {
	// Share is the memory warning's threshold, a share of the limit
	// (TEND_MEMORY_WARN; 0: no warnings).
	Share float64
	// Pids returns the PID of the process tend started for each running
	// program, by name.
	Pids func() map[string]int
	// OnWarning is called once per episode of memory use above Share.
	OnWarning func(MemoryWarning)
	// OnOOM is called for each OOM kill, once the victim is known or
	// cannot be; at most a second after the kill.
	OnOOM func(OOMKill)
}

// MemoryWatch watches the memory of tend's cgroup for tend's programs:
// it warns when the working set stays near the limit, and it names the
// process each OOM kill takes.
//
// A kill of a program's own process is named the moment tend reaps it
// (Died): the kernel raises the cgroup's OOM kill counter before it sends
// the SIGKILL, so a death by a SIGKILL tend did not send, with a kill on
// the counter that no death has claimed yet, is that kill. A kill of
// another process of a program (a child, whose parent reaps it) is named
// from the Tracker's samples: the counter rises, and the process gone
// from /proc at that moment with the highest OOM score is the victim.
//
// Every cgroup file is read through a descriptor kept open (openFiles),
// and after a kill the watch keeps still for oomQuiet, so that tend
// charges as little as it can to a cgroup at its limit.
type MemoryWatch struct {
	cg      Cgroup
	opts    MemoryWatchOptions
	tracker *Tracker
	files   *openFiles
	mem     *memoryFiles

	mu     sync.Mutex
	memory Memory
	named  int64 // the OOM kill counter up to which kills are named
	// For Short: the OOM kill counter it last saw, and until when the
	// last rise it saw keeps readers still.
	shortSeen  int64
	shortUntil time.Time
}

// NewMemoryWatch returns a watch on cg's memory. It fails when the cgroup
// has no memory accounting or no OOM kill counter to read.
func NewMemoryWatch(cg Cgroup, opts MemoryWatchOptions) (*MemoryWatch, error) {
	files := newOpenFiles()
	mem := newMemoryFiles(cg, files)
	m, err := mem.readMemory()
	if err != nil {
		files.close()
		return nil, err
	}
	return &MemoryWatch{cg: cg, opts: opts, tracker: NewTracker(opts.Pids), files: files, mem: mem, memory: m,
		named: m.OOMKills, shortSeen: m.OOMKills}, nil
}

// Short reports whether memory is too short for tend to read /proc now:
// the usage is at trackGrowthCeiling of the limit or above, or an OOM kill
// came in the last oomQuiet. Opening and reading a file of /proc charges
// the kernel's buffer for it to the cgroup; at the limit, right after a
// kill and before the victim's memory is freed, that charge makes the
// kernel kill again, and tend is then the largest process left. Whoever
// shows what processes use (the status, the profile's samples) keeps its
// last figures while Short is true. Short reads the cgroup's counters
// through descriptors kept open, charging nothing; it is safe to call from
// any goroutine.
func (w *MemoryWatch) Short() bool {
	if w.quietFor() > 0 {
		return true
	}
	usage := w.mem.readUsage()
	w.mu.Lock()
	limit := w.memory.LimitBytes
	w.mu.Unlock()
	return limit > 0 && float64(usage) >= trackGrowthCeiling*float64(limit)
}

// WaitQuiet returns once no OOM kill came in the last oomQuiet, waiting
// for the rest of that moment if one did (at most oomQuiet), or when ctx
// is done. Work that allocates (building a status, answering a request)
// waits here: until the victim's memory is freed, a page of tend's heap
// touched for the first time is charged to a cgroup at its limit, and
// the kernel kills again.
func (w *MemoryWatch) WaitQuiet(ctx context.Context) {
	if d := w.quietFor(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// quietFor reads the OOM kill counter and returns how long the moment
// after the last kill it saw still lasts (0: none).
func (w *MemoryWatch) quietFor() time.Duration {
	now := time.Now()
	k, err := w.mem.readKills()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil && k.kills > w.shortSeen {
		w.shortSeen, w.shortUntil = k.kills, now.Add(oomQuiet)
	}
	return max(0, w.shortUntil.Sub(now))
}

// Memory returns the last reading of the cgroup's memory.
func (w *MemoryWatch) Memory() Memory {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.memory
}

// Run watches until ctx is done.
func (w *MemoryWatch) Run(ctx context.Context) {
	defer w.files.close()
	// On cgroup v2 the kernel announces each change of memory.events.
	var changed <-chan fsnotify.Event
	var lost <-chan error
	if fw := w.cg.watchEvents(); fw != nil {
		defer fw.Close()
		changed, lost = fw.Events, fw.Errors
	}
	episode := memoryEpisode{share: w.opts.Share}
	// Kills before the watch began are not news (NewMemoryWatch counted
	// them).
	seen := w.named
	var settling []OOMEvent
	var settle <-chan time.Time
	var quietUntil time.Time
	// No scan at the start: a program's processes are seen once the usage
	// grows or at the next interval, and `tend -- true` on a host does
	// not read every process of the machine.
	scannedAt := time.Now()
	var scannedUsage int64
	// NewMemoryWatch has just read the accounting and the counter (Run
	// follows it at once): the first reading comes a poll later, and the
	// next of the whole accounting an interval later, so that a start
	// reads each file once.
	readAt := time.Now()
	w.mu.Lock()
	limit, usage := w.memory.LimitBytes, w.memory.UsageBytes
	w.mu.Unlock()
	tick := time.NewTimer(pollAfter(limit, usage))
	defer tick.Stop()
	// checkKills reads the counter and, when it rose, notes the kill for
	// naming a window later, and keeps still meanwhile.
	checkKills := func(now time.Time) {
		k, err := w.mem.readKills()
		if err != nil || k.kills <= seen {
			return
		}
		settling = append(settling, OOMEvent{Time: now, Kills: k.kills, New: k.kills - seen, GroupKills: k.groupKills})
		seen, quietUntil = k.kills, now.Add(oomQuiet)
		if settle == nil {
			settle = time.After(OOMVictimWindow)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			checkKills(time.Now())
		case <-lost:
			// An overflowed inotify queue lost notifications: read now.
			checkKills(time.Now())
		case <-settle:
			// The reaper had the window to bring the deaths of programs'
			// own processes to Died; the rest are named here.
			now := time.Now()
			w.tracker.Sample(now)
			var later []OOMEvent
			for _, ev := range settling {
				if now.Sub(ev.Time) >= OOMVictimWindow {
					w.nameOthers(ev)
				} else {
					later = append(later, ev)
				}
			}
			settling, settle = later, nil
			if len(later) > 0 {
				settle = time.After(OOMVictimWindow - now.Sub(later[0].Time))
			}
		case <-tick.C:
			now := time.Now()
			checkKills(now)
			if now.Before(quietUntil) {
				tick.Reset(time.Until(quietUntil))
				continue
			}
			if now.Sub(readAt) >= trackInterval {
				readAt = now
				if m, err := w.mem.readMemory(); err == nil {
					w.mu.Lock()
					w.memory = m
					w.mu.Unlock()
					limit = m.LimitBytes
					if w.opts.Share > 0 {
						if warn, ok := episode.observe(now, m); ok && w.opts.OnWarning != nil {
							warn.Top = w.tracker.Top(3)
							w.opts.OnWarning(warn)
						}
					}
				}
			}
			usage = w.mem.readUsage()
			// Near the limit the processes are not scanned at all: the
			// last scans on the way up name the processes that may be
			// killed.
			below := limit == 0 || float64(usage) < trackGrowthCeiling*float64(limit)
			grew := limit > 0 && float64(usage-scannedUsage) >= trackGrowth*float64(limit)
			every := trackIdleInterval
			if limit > 0 && float64(usage) >= trackNearShare*float64(limit) {
				every = trackInterval
			}
			if below && (now.Sub(scannedAt) >= every || grew) {
				w.tracker.Sample(now)
				scannedAt, scannedUsage = now, usage
			}
			tick.Reset(pollAfter(limit, usage))
		}
	}
}

// pollAfter is how long the watch waits before it reads the counter and
// the usage again: trackNearPoll once the usage is above trackNearShare of
// the limit, trackPoll below it.
func pollAfter(limit, usage int64) time.Duration {
	if limit > 0 && float64(usage) >= trackNearShare*float64(limit) {
		return trackNearPoll
	}
	return trackPoll
}

// Died is told of the death of a program's own process, when tend reaps
// it, and reports whether an OOM kill took it: d itself, killed by a
// SIGKILL tend did not send, or (when d exited otherwise, as a shell does
// after its child was killed) another process of d's program that went
// at the same time. The kill is then named at once, through OnOOM.
func (w *MemoryWatch) Died(d Death) bool {
	k, err := w.mem.readKills()
	if err != nil || !w.unnamed(k.kills) {
		return false
	}
	var victim Death
	switch {
	case d.Signal == syscall.SIGKILL && !d.SentByTend:
		victim = d
		if rss, score := w.tracker.Last(d.Pid); rss > 0 {
			victim.RSSBytes, victim.OOMScore = rss, score
		}
	case d.SentByTend:
		return false
	default:
		w.tracker.Sample(time.Now())
		var own []Death
		for _, v := range w.tracker.Vanished() {
			if v.Program == d.Program {
				own = append(own, v)
			}
		}
		found := OOMVictims(OOMEvent{Time: d.Time, New: 1}, own)
		if len(found) == 0 {
			return false
		}
		victim = found[0]
	}
	if !w.claim(k.kills, 1) {
		return false
	}
	if victim.Member {
		w.tracker.forget(victim.Pid)
	}
	ev := OOMEvent{Time: d.Time, Kills: k.kills, New: 1, GroupKills: k.groupKills}
	// The process is reaped: its memory is freed, and reading is safe.
	if m, err := w.mem.readMemory(); err == nil {
		ev.LimitBytes, ev.PeakBytes, ev.UsageBytes = m.LimitBytes, m.PeakBytes, m.UsageBytes
	}
	w.report(ev, &victim)
	return true
}

// nameOthers names the kills of ev that no death of a program's own
// process claimed: the other processes of the programs that went then, or
// a process tend never saw.
func (w *MemoryWatch) nameOthers(ev OOMEvent) {
	w.mu.Lock()
	pending := ev.Kills - w.named
	w.mu.Unlock()
	if pending <= 0 {
		return
	}
	ev.New = pending
	if m, err := w.mem.readMemory(); err == nil {
		ev.LimitBytes, ev.PeakBytes, ev.UsageBytes = m.LimitBytes, m.PeakBytes, m.UsageBytes
	}
	for _, v := range OOMVictims(ev, w.tracker.Vanished()) {
		if !w.claim(ev.Kills, 1) {
			return
		}
		w.tracker.forget(v.Pid)
		one := ev
		one.New = 1
		w.report(one, &v)
		pending--
	}
	if pending > 0 && w.claim(ev.Kills, pending) {
		ev.New = pending
		w.report(ev, nil)
	}
}

// unnamed reports whether the counter at kills holds a kill not named yet.
func (w *MemoryWatch) unnamed(kills int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return kills > w.named
}

// claim names n of the kills up to counter value kills, if they are not
// named yet.
func (w *MemoryWatch) claim(kills, n int64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if kills-w.named < n {
		return false
	}
	w.named += n
	return true
}

// report hands one named kill to OnOOM.
func (w *MemoryWatch) report(ev OOMEvent, victim *Death) {
	k := OOMKill{OOMEvent: ev, Victim: victim, Advice: OOMAdvice(ev, victim, w.cg.hostMemory)}
	if victim != nil {
		if heap, isJava := JavaMaxHeap(victim.Command, victim.Env, ev.LimitBytes, w.cg.hostMemory); isJava {
			k.Heap = &heap
		}
	}
	if w.opts.OnOOM != nil {
		w.opts.OnOOM(k)
	}
}

// Summary describes the kill in one line, for an event.
func (k OOMKill) Summary() string {
	var b strings.Builder
	if v := k.Victim; v != nil {
		b.WriteString(v.Who())
		if !v.Member {
			b.WriteString(" (pid " + strconv.Itoa(v.Pid) + ")")
		}
	} else {
		b.WriteString("a process tend had not seen")
		if k.New > 1 {
			b.WriteString(" (" + strconv.FormatInt(k.New, 10) + " processes)")
		}
	}
	b.WriteString(" was killed by the kernel's OOM killer")
	if k.LimitBytes > 0 {
		b.WriteString(" at the " + human(k.LimitBytes) + " memory limit")
	} else {
		b.WriteString(" (no memory limit on the container)")
	}
	if k.PeakBytes > 0 {
		b.WriteString("; peak usage " + human(k.PeakBytes))
	}
	if v := k.Victim; v != nil {
		if v.RSSBytes > 0 {
			b.WriteString(", its last RSS " + human(v.RSSBytes))
		} else {
			b.WriteString(", its RSS never sampled (it grew within a sample)")
		}
	}
	if h := k.Heap; h != nil && h.MaxBytes > 0 {
		b.WriteString(", JVM heap up to " + human(h.MaxBytes) + " (" + h.From + ")")
	}
	return b.String()
}
