package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// clockTick is the unit of the times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture Go runs on).
const clockTick = 10 * time.Millisecond

// procTimes is the CPU time of one process: its own threads', and that of
// the children it has reaped.
type procTimes struct {
	self, children time.Duration
}

// readTimes reads the CPU times of process pid from /proc/PID/stat. It is
// read before the process is reaped: an exited process that is still a
// zombie keeps its figures there, and its own time (utime+stime) leaves
// out the children it reaped (cutime+cstime), unlike the rusage that
// wait4 returns, which adds them up. That is how a supervisor's CPU is
// told apart from the program's it runs, whatever the program is.
func readTimes(pid int) (procTimes, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procTimes{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: malformed: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); utime, stime, cutime, cstime are 14 to 17.
	if len(f) < 15 {
		return procTimes{}, fmt.Errorf("/proc/%d/stat: malformed: %q", pid, data)
	}
	var ticks [4]int64
	for k := range ticks {
		ticks[k], err = strconv.ParseInt(f[11+k], 10, 64)
		if err != nil {
			return procTimes{}, fmt.Errorf("/proc/%d/stat: field %d: %w", pid, 14+k, err)
		}
	}
	return procTimes{
		self:     time.Duration(ticks[0]+ticks[1]) * clockTick,
		children: time.Duration(ticks[2]+ticks[3]) * clockTick,
	}, nil
}

// waitExited waits until child pid has exited, without reaping it: its
// /proc entry stays readable until the exec.Cmd's Wait.
func waitExited(pid int) error {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waitid %d: %w", pid, err)
		}
		return nil
	}
}

// sampleHWM reads VmHWM of pid every 5 ms until the process has exited and
// sends the largest value read (KiB). The high-water mark only grows, so
// that is the peak up to a few milliseconds before the exit.
func sampleHWM(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var peak int64
		path := fmt.Sprintf("/proc/%d/status", pid)
		for {
			v, ok := readHWM(path)
			if !ok {
				ch <- peak
				return
			}
			peak = max(peak, v)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return ch
}

// readHWM returns VmHWM from a /proc/PID/status file; false once the
// process has exited (a zombie has no VmHWM line).
func readHWM(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// childrenOf returns the pids of pid's children (its main thread's).
func childrenOf(pid int) []int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}
