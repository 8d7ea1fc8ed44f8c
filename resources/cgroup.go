package resources

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"tend/procfs"
)

// CgroupRoot is where the cgroup filesystem is mounted on Linux.
const CgroupRoot = "/sys/fs/cgroup"

// Limits are what the container may use, read from its cgroup.
type Limits struct {
	// MemoryBytes is the memory limit (0: none).
	MemoryBytes int64 `json:"memory_bytes"`
	// CPUs is the CPU quota in cores, such as 1.5 (0: none).
	CPUs float64 `json:"cpus"`
	// HostCPUs is the number of CPUs the machine has.
	HostCPUs int `json:"host_cpus"`
	// HostMemoryBytes is the machine's memory.
	HostMemoryBytes int64 `json:"host_memory_bytes"`
	// Source says where the limits were read: "cgroup v2", "cgroup v1",
	// or "none" when no cgroup filesystem was found.
	Source string `json:"source"`
}

// Cgroup is the cgroup tend runs in: which version of the cgroup
// filesystem holds its memory and CPU controllers, and the directories of
// their files. The zero value is "no cgroup found", where every limit
// reads as none.
type Cgroup struct {
	// Version is 2 for the unified hierarchy, 1 for the legacy or hybrid
	// layout (memory on a v1 hierarchy), 0 when none was found.
	Version int
	// MemoryDir holds the memory controller's files of tend's cgroup.
	MemoryDir string
	// CPUDir holds the CPU controller's files of tend's cgroup.
	CPUDir string
	// mount is the mount point above MemoryDir; the walk for an ancestor's
	// limit stops there.
	mount string
	// hostMemory is the machine's memory, read once: cgroup v1 states
	// "no limit" as a number at least this large.
	hostMemory int64
}

// FindCgroup locates tend's own cgroup in the cgroup filesystem mounted
// under root (CgroupRoot in production; tests pass a directory laid out
// as the kernel lays it out).
//
// The version is told by the filesystem, not by which limit files exist:
// root/cgroup.controllers exists only on a cgroup v2 (unified) mount; a
// root/memory directory is a v1 hierarchy (legacy, or hybrid with an
// empty v2 at root/unified). tend's place in the hierarchy comes from
// /proc/self/cgroup: that path under the mount when it is there (the whole
// hierarchy is mounted, as on a host), else taken relative to the mount's
// own root as /proc/self/mountinfo states it (a container without a cgroup
// namespace sees its own cgroup as the mount's root). A path found neither
// way falls back to root itself. In a container with a cgroup namespace
// /proc/self/cgroup gives "/", which is the mount point whatever its
// root. mountinfo, a long file for the kernel to make on a machine with
// many mounts, is read only in the second case.
func FindCgroup(root string) Cgroup {
	// Both files are read outside Go's poller (procfs.ReadFile):
	// mountinfo can be polled, and the poller's registration would wake
	// its waiting thread for nothing at every start.
	self, _ := procfs.ReadFile("/proc/self/cgroup")
	c := findCgroup(root, self, func() []byte {
		b, _ := procfs.ReadFile("/proc/self/mountinfo")
		return b
	})
	c.hostMemory = hostMemory()
	return c
}

// findCgroup locates tend's cgroup under root from the contents of
// /proc/self/cgroup; mountinfo gives /proc/self/mountinfo's, and is
// called only for a path other than "/".
func findCgroup(root string, selfCgroup []byte, mountinfo func() []byte) Cgroup {
	paths := parseProcCgroup(selfCgroup)
	mountRoots := &mountRoots{read: mountinfo}
	switch {
	case exists(filepath.Join(root, "cgroup.controllers")):
		dir := locate(root, paths[""], mountRoots)
		return Cgroup{Version: 2, MemoryDir: dir, CPUDir: dir, mount: root}
	case isDir(filepath.Join(root, "memory")) || isDir(filepath.Join(root, "cpu")):
		mem := filepath.Join(root, "memory")
		cpu := filepath.Join(root, "cpu")
		return Cgroup{
			Version:   1,
			MemoryDir: locate(mem, paths["memory"], mountRoots),
			CPUDir:    locate(cpu, paths["cpu"], mountRoots),
			mount:     mem,
		}
	case exists(filepath.Join(root, "unified", "cgroup.controllers")):
		// A hybrid layout whose v1 hierarchies are not mounted: the
		// controllers, if any, are on the unified one.
		u := filepath.Join(root, "unified")
		dir := locate(u, paths[""], mountRoots)
		return Cgroup{Version: 2, MemoryDir: dir, CPUDir: dir, mount: u}
	}
	return Cgroup{}
}

// parseProcCgroup maps each controller of /proc/self/cgroup to tend's path
// in its hierarchy; the v2 entry ("0::/path") is under "".
func parseProcCgroup(b []byte) map[string]string {
	paths := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		id, rest, ok := strings.Cut(line, ":")
		if !ok || id == "" {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		if id == "0" && ctrls == "" {
			paths[""] = path
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			paths[c] = path
		}
	}
	return paths
}

// mountRoots is the root of each mount point, from mountinfo, read at
// the first question.
type mountRoots struct {
	read  func() []byte
	roots map[string]string
}

// of returns the path inside its filesystem that is mounted at mount.
func (m *mountRoots) of(mount string) (string, bool) {
	if m.roots == nil {
		m.roots = parseMountRoots(m.read())
	}
	r, ok := m.roots[filepath.Clean(mount)]
	return r, ok
}

// parseMountRoots maps each mount point in /proc/self/mountinfo to the
// path inside its filesystem that is mounted there (field 4).
func parseMountRoots(b []byte) map[string]string {
	roots := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		roots[unescapeMount(f[4])] = unescapeMount(f[3])
	}
	return roots
}

// unescapeMount undoes mountinfo's octal escapes of space, tab, newline
// and backslash.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// locate returns the directory of cgroup path in the hierarchy mounted at
// mount: the path under the mount when it is there, as it is when the
// whole hierarchy is mounted (a host, a VM); else relative to the mount's
// root when mountinfo knows it (a container whose cgroup is mounted as the
// hierarchy's root, without a cgroup namespace); else the mount itself.
//
// The path is looked for first because mountinfo is the costly part: the
// kernel writes out every mount for it, and on a host with many mounts
// that was most of the memory watch's set-up, beside every start. The
// order only matters if both directories exist, which takes a cgroup
// nested inside itself by name under a mount of its own.
func locate(mount, path string, roots *mountRoots) string {
	if path == "" || path == "/" {
		// "/" is the mount point, whatever the mount's root.
		return mount
	}
	if abs := filepath.Join(mount, path); isDir(abs) {
		return abs
	}
	if r, ok := roots.of(mount); ok {
		if rel, ok := cutPathPrefix(path, r); ok && isDir(filepath.Join(mount, rel)) {
			return filepath.Join(mount, rel)
		}
	}
	return mount
}

// cutPathPrefix returns path relative to prefix when prefix is path or one
// of its ancestors.
func cutPathPrefix(path, prefix string) (string, bool) {
	if prefix == "/" {
		return path, true
	}
	if path == prefix {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(path, prefix+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}

// ReadLimits reads the limits of the cgroup tend runs in, from the cgroup
// filesystem mounted under root (normally CgroupRoot). cgroup v2 and v1
// (and the hybrid layout) are read; a missing file means no limit.
func ReadLimits(root string) Limits {
	return FindCgroup(root).Limits()
}

// Limits reads the cgroup's memory and CPU limits and the machine's size.
func (c Cgroup) Limits() Limits {
	l := Limits{HostCPUs: onlineCPUs(), HostMemoryBytes: c.hostMemory, Source: c.source()}
	if l.HostMemoryBytes == 0 {
		l.HostMemoryBytes = hostMemory()
	}
	c.hostMemory = l.HostMemoryBytes
	l.MemoryBytes = c.memoryLimit(nil)
	switch c.Version {
	case 2:
		if b, err := procfs.ReadFile(filepath.Join(c.CPUDir, "cpu.max")); err == nil {
			f := strings.Fields(string(b))
			if len(f) == 2 && f[0] != "max" {
				quota, _ := strconv.ParseFloat(f[0], 64)
				period, _ := strconv.ParseFloat(f[1], 64)
				if period > 0 {
					l.CPUs = quota / period
				}
			}
		}
	case 1:
		quota := readInt(filepath.Join(c.CPUDir, "cpu.cfs_quota_us"))
		period := readInt(filepath.Join(c.CPUDir, "cpu.cfs_period_us"))
		if quota > 0 && period > 0 {
			l.CPUs = float64(quota) / float64(period)
		}
	}
	return l
}

func (c Cgroup) source() string {
	switch c.Version {
	case 2:
		return "cgroup v2"
	case 1:
		return "cgroup v1"
	}
	return "none"
}

// memoryLimit is the lowest memory limit that applies to the cgroup (0:
// none): its own or, where the hierarchy is visible, an ancestor's. stat
// is memory.stat when the caller has read it already (nil: read it).
func (c Cgroup) memoryLimit(stat map[string]int64) int64 {
	switch c.Version {
	case 2:
		// A limit set on a parent (a Kubernetes pod, a systemd slice)
		// binds as hard as the cgroup's own.
		var limit int64
		for dir := c.MemoryDir; ; dir = filepath.Dir(dir) {
			if b, err := procfs.ReadFile(filepath.Join(dir, "memory.max")); err == nil {
				if n := parseLimit(string(b)); n > 0 && (limit == 0 || n < limit) {
					limit = n
				}
			}
			// Stop at the mount: above it is not a cgroup.
			if c.mount == "" || dir == c.mount || !strings.HasPrefix(dir, c.mount+"/") {
				break
			}
		}
		return limit
	case 1:
		limit := parseLimit(readString(filepath.Join(c.MemoryDir, "memory.limit_in_bytes")))
		// memory.stat's hierarchical_memory_limit is the lowest limit
		// of the cgroup and its ancestors.
		if stat == nil {
			stat, _ = readKeyed(filepath.Join(c.MemoryDir, "memory.stat"))
		}
		if h, ok := stat["hierarchical_memory_limit"]; ok && h > 0 && (limit == 0 || h < limit) {
			limit = h
		}
		// v1 reports "no limit" as a huge number rounded to the page size.
		if limit >= 1<<62 || (c.hostMemory > 0 && limit >= c.hostMemory) {
			limit = 0
		}
		return limit
	}
	return 0
}

// Memory is one reading of the cgroup's memory accounting.
type Memory struct {
	// LimitBytes is the memory limit (0: none).
	LimitBytes int64 `json:"limit_bytes"`
	// UsageBytes is all memory charged to the cgroup, page cache included.
	UsageBytes int64 `json:"usage_bytes"`
	// WorkingSetBytes is the usage less the inactive file cache, which
	// the kernel reclaims before it kills: what the kubelet counts against
	// the limit.
	WorkingSetBytes int64 `json:"working_set_bytes"`
	// PeakBytes is the highest usage so far (0: the kernel does not say).
	PeakBytes int64 `json:"peak_bytes"`
	// OOMKills counts the processes of the cgroup (and its children) the
	// kernel's OOM killer has killed.
	OOMKills int64 `json:"oom_kills"`
	// OOMGroupKills counts the times the whole cgroup was killed at once
	// (cgroup v2 with memory.oom.group).
	OOMGroupKills int64 `json:"oom_group_kills"`
}

// ErrNoMemoryController is returned when tend's cgroup has no memory
// accounting to read (no cgroup filesystem, or the root cgroup).
var ErrNoMemoryController = errors.New("no memory controller in tend's cgroup")

// ReadMemory reads the cgroup's memory usage, limit, peak and OOM kills.
func (c Cgroup) ReadMemory() (Memory, error) {
	var m Memory
	var usageFile, peakFile, inactiveKey string
	switch c.Version {
	case 2:
		usageFile, peakFile, inactiveKey = "memory.current", "memory.peak", "inactive_file"
	case 1:
		usageFile, peakFile, inactiveKey = "memory.usage_in_bytes", "memory.max_usage_in_bytes", "total_inactive_file"
	default:
		return m, ErrNoMemoryController
	}
	usage, err := procfs.ReadFile(filepath.Join(c.MemoryDir, usageFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return m, fmt.Errorf("%w: %s has no %s", ErrNoMemoryController, c.MemoryDir, usageFile)
		}
		return m, fmt.Errorf("read memory usage: %w", err)
	}
	m.UsageBytes, err = strconv.ParseInt(strings.TrimSpace(string(usage)), 10, 64)
	if err != nil {
		return m, fmt.Errorf("read %s: %w", filepath.Join(c.MemoryDir, usageFile), err)
	}
	stat, _ := readKeyed(filepath.Join(c.MemoryDir, "memory.stat"))
	m.LimitBytes = c.memoryLimit(stat)
	m.PeakBytes = readInt(filepath.Join(c.MemoryDir, peakFile))
	m.WorkingSetBytes = max(0, m.UsageBytes-stat[inactiveKey])
	k, err := c.readOOMKills()
	if err != nil {
		return m, err
	}
	m.OOMKills, m.OOMGroupKills = k.kills, k.groupKills
	return m, nil
}

// oomCounts are the cgroup's OOM kill counters.
type oomCounts struct {
	kills, groupKills int64
}

// readOOMKills reads the OOM kill counters: memory.events on v2 (and
// memory.events.local, which is the only one counting the cgroup itself
// when the hierarchy is mounted with memory_localevents), the oom_kill
// line of memory.oom_control on v1 (Linux 4.13 and later).
func (c Cgroup) readOOMKills() (oomCounts, error) {
	var k oomCounts
	switch c.Version {
	case 2:
		events, err := readKeyed(filepath.Join(c.MemoryDir, "memory.events"))
		if err != nil {
			return k, fmt.Errorf("read OOM kills: %w", err)
		}
		kills, ok := events["oom_kill"]
		if !ok {
			return k, fmt.Errorf("read OOM kills: %s has no oom_kill line", filepath.Join(c.MemoryDir, "memory.events"))
		}
		k.kills, k.groupKills = kills, events["oom_group_kill"]
		if local, err := readKeyed(filepath.Join(c.MemoryDir, "memory.events.local")); err == nil {
			k.kills = max(k.kills, local["oom_kill"])
			k.groupKills = max(k.groupKills, local["oom_group_kill"])
		}
		return k, nil
	case 1:
		ctl, err := readKeyed(filepath.Join(c.MemoryDir, "memory.oom_control"))
		if err != nil {
			return k, fmt.Errorf("read OOM kills: %w", err)
		}
		kills, ok := ctl["oom_kill"]
		if !ok {
			return k, fmt.Errorf("read OOM kills: %s has no oom_kill line (Linux before 4.13)", filepath.Join(c.MemoryDir, "memory.oom_control"))
		}
		k.kills = kills
		return k, nil
	}
	return k, ErrNoMemoryController
}

// readKeyed reads a cgroup file of "key value" lines (memory.stat,
// memory.events, memory.oom_control).
func readKeyed(path string) (map[string]int64, error) {
	b, err := procfs.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for line := range bytes.Lines(b) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64); err == nil {
			m[string(k)] = n
		}
	}
	return m, nil
}

func parseLimit(s string) int64 {
	s = strings.TrimSpace(s)
	if s == "max" || s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func readString(path string) string {
	b, _ := procfs.ReadFile(path)
	return string(b)
}

func readInt(path string) int64 {
	b, err := procfs.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func onlineCPUs() int {
	b, err := procfs.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	n := 0
	for _, r := range strings.Split(strings.TrimSpace(string(b)), ",") {
		lo, hi, found := strings.Cut(r, "-")
		a, _ := strconv.Atoi(lo)
		if !found {
			n++
			continue
		}
		z, _ := strconv.Atoi(hi)
		n += z - a + 1
	}
	return n
}

// hostMemory returns the machine's memory (MemTotal), from sysinfo(2):
// the same figure as /proc/meminfo's first line, without the kernel
// computing the whole of that file (about 20 µs of tend's start).
func hostMemory() int64 {
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) != nil {
		return 0
	}
	return int64(si.Totalram) * int64(max(si.Unit, 1))
}
