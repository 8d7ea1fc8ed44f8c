package resources

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// memoryFiles reads the memory accounting of one cgroup as ReadMemory
// does, through descriptors kept open and without allocating: the
// readings a MemoryWatch makes while memory is short must charge nothing
// to the cgroup (see openFiles and oomQuiet). The watch's loop and the
// reaper (through Died) read at once: mu guards the scratch values.
type memoryFiles struct {
	cg   Cgroup
	open *openFiles
	mu   sync.Mutex
	// The paths, worked out once.
	usage, peak, stat, counters, localCounters string
	// limits are the limit files that apply: memory.max of the cgroup
	// and of each ancestor on v2, memory.limit_in_bytes on v1.
	limits []string
	// statKeys are read from memory.stat into statVals: the inactive file
	// cache, and on v1 the hierarchical limit.
	statKeys []string
	statVals []int64
	// counterKeys are read from the counters into counterVals.
	counterKeys []string
	counterVals []int64
}

func newMemoryFiles(cg Cgroup, open *openFiles) *memoryFiles {
	f := &memoryFiles{cg: cg, open: open, stat: filepath.Join(cg.MemoryDir, "memory.stat")}
	switch cg.Version {
	case 2:
		f.usage = filepath.Join(cg.MemoryDir, "memory.current")
		f.peak = filepath.Join(cg.MemoryDir, "memory.peak")
		f.counters = filepath.Join(cg.MemoryDir, "memory.events")
		f.localCounters = filepath.Join(cg.MemoryDir, "memory.events.local")
		f.statKeys = []string{"inactive_file"}
		f.counterKeys = []string{"oom_kill", "oom_group_kill"}
		for dir := cg.MemoryDir; ; dir = filepath.Dir(dir) {
			f.limits = append(f.limits, filepath.Join(dir, "memory.max"))
			if cg.mount == "" || dir == cg.mount || !strings.HasPrefix(dir, cg.mount+"/") {
				break
			}
		}
	case 1:
		f.usage = filepath.Join(cg.MemoryDir, "memory.usage_in_bytes")
		f.peak = filepath.Join(cg.MemoryDir, "memory.max_usage_in_bytes")
		f.counters = filepath.Join(cg.MemoryDir, "memory.oom_control")
		f.statKeys = []string{"total_inactive_file", "hierarchical_memory_limit"}
		f.counterKeys = []string{"oom_kill", "oom_group_kill"}
		f.limits = []string{filepath.Join(cg.MemoryDir, "memory.limit_in_bytes")}
	}
	f.statVals = make([]int64, len(f.statKeys))
	f.counterVals = make([]int64, len(f.counterKeys))
	return f
}

// readUsage reads the memory charged to the cgroup (0: unreadable).
func (f *memoryFiles) readUsage() int64 {
	n, _, _ := f.open.number(f.usage)
	return n
}

// readKills reads the OOM kill counters, as Cgroup.readOOMKills does.
func (f *memoryFiles) readKills() (oomCounts, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readKillsLocked()
}

// readKillsLocked is readKills with f.mu held.
func (f *memoryFiles) readKillsLocked() (oomCounts, error) {
	if f.cg.Version == 0 {
		return oomCounts{}, ErrNoMemoryController
	}
	if err := f.open.keyed(f.counters, f.counterKeys, f.counterVals); err != nil {
		return oomCounts{}, err
	}
	if f.counterVals[0] < 0 {
		return oomCounts{}, errNoCounter(f.counters)
	}
	k := oomCounts{kills: f.counterVals[0], groupKills: max(0, f.counterVals[1])}
	if f.localCounters != "" && f.open.keyed(f.localCounters, f.counterKeys, f.counterVals) == nil {
		k.kills = max(k.kills, f.counterVals[0])
		k.groupKills = max(k.groupKills, f.counterVals[1])
	}
	return k, nil
}

// readMemory reads what ReadMemory reads.
func (f *memoryFiles) readMemory() (Memory, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var m Memory
	if f.cg.Version == 0 {
		return m, ErrNoMemoryController
	}
	usage, ok, err := f.open.number(f.usage)
	if err != nil || !ok {
		return m, ErrNoMemoryController
	}
	m.UsageBytes = usage
	if f.open.keyed(f.stat, f.statKeys, f.statVals) != nil {
		for i := range f.statVals {
			f.statVals[i] = -1
		}
	}
	m.WorkingSetBytes = max(0, usage-max(0, f.statVals[0]))
	for _, path := range f.limits {
		if n, ok, err := f.open.number(path); err == nil && ok && n > 0 && (m.LimitBytes == 0 || n < m.LimitBytes) {
			m.LimitBytes = n
		}
	}
	if f.cg.Version == 1 {
		// As memoryLimit: the hierarchical limit, and v1's "no limit".
		if h := f.statVals[1]; h > 0 && (m.LimitBytes == 0 || h < m.LimitBytes) {
			m.LimitBytes = h
		}
		if m.LimitBytes >= 1<<62 || (f.cg.hostMemory > 0 && m.LimitBytes >= f.cg.hostMemory) {
			m.LimitBytes = 0
		}
	}
	m.PeakBytes, _, _ = f.open.number(f.peak)
	k, err := f.readKillsLocked()
	if err != nil {
		return m, err
	}
	m.OOMKills, m.OOMGroupKills = k.kills, k.groupKills
	return m, nil
}

// errNoCounter says that a counters file lacks the OOM kill counter
// (cgroup v1 before Linux 4.13).
func errNoCounter(path string) error {
	return fmt.Errorf("read OOM kills: %s has no oom_kill line", path)
}
