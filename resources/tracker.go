package resources

import (
	"bytes"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"tend/procfs"
)

// Bounds of what a Tracker remembers of the processes that went away:
// enough to name an OOM kill's victim a window after the kill, never
// growing with a program that forks all day.
const (
	vanishedKeep = 30 * time.Second
	vanishedMax  = 256
)

// ProgramMemory is what one program's processes hold in memory.
type ProgramMemory struct {
	// Program is the program's name.
	Program string `json:"program"`
	// RSSBytes is the resident memory of all its processes.
	RSSBytes int64 `json:"rss_bytes"`
	// Processes counts them.
	Processes int `json:"processes"`
}

// tracked is one process of a program as the last sample saw it.
type tracked struct {
	program  string
	leader   bool
	command  []string
	env      []string
	rss      int64
	oomScore int
}

// Tracker follows the processes of tend's programs in /proc: each
// program's own process (its leader) and every process of its group, of
// its session or below it, with their resident memory and OOM score.
//
// It exists to name the victim of an OOM kill that took a process tend
// did not start itself. tend reaps its programs' own processes and knows
// how each died, but a child of a program is reaped by its parent while
// the parent lives, and the kernel says nothing in a container about
// which process it killed (the cgroup's counter has no PID, and dmesg is
// out of reach). What remains is to have seen the process before: a
// process that was in one sample and is gone in the next vanished then,
// with the memory it last held. A process born and killed between two
// samples is never seen; sampling faster near the limit (see MemoryWatch)
// narrows that gap.
type Tracker struct {
	pids func() map[string]int

	mu       sync.Mutex
	procs    map[int]*tracked
	lastAt   time.Time // when procs was read
	vanished []Death   // processes that went away, oldest first
}

// NewTracker follows the programs that pids returns (name to the PID of
// the process tend started).
func NewTracker(pids func() map[string]int) *Tracker {
	return &Tracker{pids: pids, procs: map[int]*tracked{}}
}

// Sample reads every process of every running program. A process seen
// before that is gone now, or a zombie (whose memory is already freed),
// is recorded as vanished, with the time it was last seen alive and now,
// when it was found gone.
func (t *Tracker) Sample(now time.Time) {
	leaders := t.pids()
	trees := procfs.Tree(leaders)
	t.mu.Lock()
	defer t.mu.Unlock()
	next := make(map[int]*tracked, len(t.procs))
	for name, pids := range trees {
		for _, pid := range pids {
			st, err := procfs.ReadStat(pid)
			if err != nil || st.RSS == 0 {
				continue
			}
			p := t.procs[pid]
			if p == nil || p.program != name {
				p = &tracked{program: name, leader: pid == leaders[name], command: readCmdline(pid)}
				if _, isJava := javaCommandOptions(p.command); isJava {
					// Only a JVM's environment matters (JAVA_TOOL_OPTIONS
					// sizes its heap), and only once.
					p.env = readEnviron(pid)
				}
			}
			p.rss = st.RSS * int64(os.Getpagesize())
			p.oomScore = readOOMScore(pid)
			next[pid] = p
		}
	}
	for pid, p := range t.procs {
		if _, still := next[pid]; still {
			continue
		}
		// A process that left its program's tree (reparented after its
		// leader exited, say) lives on: only one gone from /proc, or a
		// zombie, has vanished.
		if st, err := procfs.ReadStat(pid); err == nil && st.RSS > 0 {
			continue
		}
		// A leader is kept too, for Last: tend may sample between its
		// death and the moment it reaps it and asks.
		t.vanished = append(t.vanished, Death{Pid: pid, Program: p.program, Command: p.command, Env: p.env,
			Member: !p.leader, RSSBytes: p.rss, OOMScore: p.oomScore, Time: t.lastAt, GoneBy: now})
	}
	t.procs, t.lastAt = next, now
	t.prune(now)
}

// prune drops what vanished too long ago, or beyond the bound.
func (t *Tracker) prune(now time.Time) {
	i := 0
	for i < len(t.vanished) && (now.Sub(t.vanished[i].Time) > vanishedKeep || len(t.vanished)-i > vanishedMax) {
		i++
	}
	t.vanished = append(t.vanished[:0], t.vanished[i:]...)
}

// Vanished returns the processes of the programs that went away in the
// last half minute, oldest first; a program's leader among them is not a
// Member (tend learns how it ended from its exit status).
func (t *Tracker) Vanished() []Death {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Death(nil), t.vanished...)
}

// forget drops a vanished process once it has been named as an OOM
// victim, so that no later kill names it again.
func (t *Tracker) forget(pid int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, d := range t.vanished {
		if d.Pid == pid {
			t.vanished = append(t.vanished[:i], t.vanished[i+1:]...)
			return
		}
	}
}

// Last returns what the last sample that saw pid alive saw of it: its
// resident memory and OOM score (zero when it was never seen).
func (t *Tracker) Last(pid int) (rssBytes int64, oomScore int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.procs[pid]; p != nil {
		return p.rss, p.oomScore
	}
	for i := len(t.vanished) - 1; i >= 0; i-- {
		if d := t.vanished[i]; d.Pid == pid {
			return d.RSSBytes, d.OOMScore
		}
	}
	return 0, 0
}

// Top returns the n programs whose processes held the most resident
// memory at the last sample, the largest first.
func (t *Tracker) Top(n int) []ProgramMemory {
	t.mu.Lock()
	byName := map[string]*ProgramMemory{}
	for _, p := range t.procs {
		pm := byName[p.program]
		if pm == nil {
			pm = &ProgramMemory{Program: p.program}
			byName[p.program] = pm
		}
		pm.RSSBytes += p.rss
		pm.Processes++
	}
	t.mu.Unlock()
	top := make([]ProgramMemory, 0, len(byName))
	for _, pm := range byName {
		top = append(top, *pm)
	}
	sort.Slice(top, func(i, j int) bool {
		if top[i].RSSBytes != top[j].RSSBytes {
			return top[i].RSSBytes > top[j].RSSBytes
		}
		return top[i].Program < top[j].Program
	})
	return top[:min(n, len(top))]
}

// readCmdline returns a process's argv (nil when it is gone).
func readCmdline(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
}

// readEnviron returns a process's environment (nil when unreadable).
func readEnviron(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(string(bytes.TrimRight(b, "\x00")), "\x00")
}

// readOOMScore returns the badness the OOM killer gives a process (0 to
// 1000 and more; the highest is killed first), or 0 when unreadable.
func readOOMScore(pid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/oom_score")
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}
