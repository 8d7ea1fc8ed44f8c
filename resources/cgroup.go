package resources

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

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
	// Source says where the limits were read (cgroup v1 or v2).
	Source string `json:"source"`
}

// ReadLimits reads the limits of the cgroup tend runs in, from the cgroup
// filesystem mounted under root (normally "/sys/fs/cgroup"). cgroup v2 and
// v1 (and the hybrid layout) are read; a missing file means no limit.
func ReadLimits(root string) Limits {
	l := Limits{HostCPUs: onlineCPUs(), HostMemoryBytes: hostMemory()}
	if v2 := cgroupV2Path(root); v2 != "" {
		l.Source = "cgroup v2"
		if b, err := os.ReadFile(filepath.Join(v2, "memory.max")); err == nil {
			l.MemoryBytes = parseLimit(string(b))
		}
		if b, err := os.ReadFile(filepath.Join(v2, "cpu.max")); err == nil {
			f := strings.Fields(string(b))
			if len(f) == 2 && f[0] != "max" {
				quota, _ := strconv.ParseFloat(f[0], 64)
				period, _ := strconv.ParseFloat(f[1], 64)
				if period > 0 {
					l.CPUs = quota / period
				}
			}
		}
		if l.MemoryBytes != 0 || l.CPUs != 0 {
			return l
		}
	}
	l.Source = "cgroup v1"
	if b, err := os.ReadFile(filepath.Join(root, "memory", "memory.limit_in_bytes")); err == nil {
		l.MemoryBytes = parseLimit(string(b))
		// v1 reports "no limit" as a huge number rounded to the page size.
		if l.MemoryBytes >= 1<<62 || (l.HostMemoryBytes > 0 && l.MemoryBytes >= l.HostMemoryBytes) {
			l.MemoryBytes = 0
		}
	}
	quota := readInt(filepath.Join(root, "cpu", "cpu.cfs_quota_us"))
	period := readInt(filepath.Join(root, "cpu", "cpu.cfs_period_us"))
	if quota > 0 && period > 0 {
		l.CPUs = float64(quota) / float64(period)
	}
	return l
}

// cgroupV2Path returns the directory of tend's own cgroup v2, or "".
func cgroupV2Path(root string) string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		// The v2 entry is "0::/path"; in the hybrid layout v2 is mounted
		// at root/unified.
		if rest, ok := strings.CutPrefix(line, "0::"); ok {
			for _, base := range []string{root, filepath.Join(root, "unified")} {
				dir := filepath.Join(base, rest)
				if _, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil {
					return dir
				}
			}
		}
	}
	return ""
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

func readInt(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

func onlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
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

func hostMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var kb int64
		if n, _ := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); n == 1 {
			return kb << 10
		}
	}
	return 0
}
