// Package resources reads what the container may use (its cgroup limits)
// and what its programs use (from /proc), and turns samples of the latter
// into a service profile with request and limit recommendations.
package resources

import (
	"os"
	"strconv"
	"strings"

	"tend/procfs"
)

// clockTicks is the kernel's USER_HZ, the unit of utime and stime in
// /proc/PID/stat; it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// Usage is what a running process uses, read from /proc.
type Usage struct {
	// CPUSeconds is user plus system CPU time so far.
	CPUSeconds float64 `json:"cpu_seconds"`
	// RSSBytes is the resident set size.
	RSSBytes int64 `json:"rss_bytes"`
	// ReadBytes and WriteBytes are storage I/O so far (/proc/PID/io).
	ReadBytes  int64 `json:"read_bytes"`
	WriteBytes int64 `json:"write_bytes"`
	// OpenFiles is the number of open file descriptors.
	OpenFiles int `json:"open_files"`
}

// ReadUsage reads pid's usage from /proc; fields it cannot read stay
// zero. It returns nil when the process is gone.
func ReadUsage(pid int) *Usage {
	st, err := procfs.ReadStat(pid)
	if err != nil {
		return nil
	}
	dir := "/proc/" + strconv.Itoa(pid)
	u := &Usage{
		CPUSeconds: float64(st.UTime+st.STime) / clockTicks,
		RSSBytes:   st.RSS * int64(os.Getpagesize()),
	}
	if io, err := os.ReadFile(dir + "/io"); err == nil {
		for _, line := range strings.Split(string(io), "\n") {
			k, v, _ := strings.Cut(line, ": ")
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			switch k {
			case "read_bytes":
				u.ReadBytes = n
			case "write_bytes":
				u.WriteBytes = n
			}
		}
	}
	if n, ok := procfs.OpenCount(pid); ok {
		u.OpenFiles = n
	}
	return u
}
