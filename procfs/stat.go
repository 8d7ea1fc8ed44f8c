// Package procfs reads what tend needs to know about processes from
// /proc: their relations and CPU and memory use (/proc/PID/stat), the
// files they hold open and with which flags (/proc/PID/fd and fdinfo), and
// the files they map into memory (/proc/PID/maps). ReadFile reads these,
// and the other small kernel files tend reads (its cgroup's), through a
// plain descriptor, outside Go's poller.
//
// Every reader tolerates processes that exit while they are read: a
// process gone is skipped, never an error of the whole scan.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// root is /proc; a constant of Linux, not a setting.
const root = "/proc"

// Stat is what /proc/PID/stat says about a process.
type Stat struct {
	// PID, PPID, PGRP and Session are the process's relations.
	PID, PPID, PGRP, Session int
	// UTime and STime are user and system CPU time, in clock ticks
	// (USER_HZ, 100 on every architecture Go supports).
	UTime, STime uint64
	// RSS is the resident set size in pages.
	RSS int64
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	data, err := ReadFile(fmt.Sprintf("%s/%d/stat", root, pid))
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(data)
	if err != nil {
		return Stat{}, fmt.Errorf("%s/%d/stat: %w", root, pid, err)
	}
	return st, nil
}

// ParseStat parses the contents of a /proc/PID/stat file. The relations
// are required; CPU time and RSS stay zero on a kernel that prints fewer
// fields.
func ParseStat(data []byte) (Stat, error) {
	// comm, in parentheses, may hold spaces and parentheses itself: it
	// ends at the last ')'.
	open := bytes.IndexByte(data, '(')
	end := bytes.LastIndexByte(data, ')')
	if open < 0 || end < open {
		return Stat{}, fmt.Errorf("malformed: %.40q", data)
	}
	var st Stat
	var err error
	if st.PID, err = strconv.Atoi(strings.TrimSpace(string(data[:open]))); err != nil {
		return Stat{}, fmt.Errorf("malformed pid: %.40q", data)
	}
	// Fields after comm, counted from 0: state, ppid, pgrp, session, ...,
	// utime (11), stime (12), ..., rss (21).
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 4 {
		return Stat{}, fmt.Errorf("%d fields after the command name, want at least 4", len(f))
	}
	for i, dst := range []*int{&st.PPID, &st.PGRP, &st.Session} {
		if *dst, err = strconv.Atoi(f[i+1]); err != nil {
			return Stat{}, fmt.Errorf("field %d: %w", i+4, err)
		}
	}
	if len(f) > 21 {
		st.UTime, _ = strconv.ParseUint(f[11], 10, 64)
		st.STime, _ = strconv.ParseUint(f[12], 10, 64)
		st.RSS, _ = strconv.ParseInt(f[21], 10, 64)
	}
	return st, nil
}

// Pids returns every PID in /proc.
func Pids() []int {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// table reads every process's stat, and which processes each one parents.
func table() (stats map[int]Stat, children map[int][]int) {
	stats = map[int]Stat{}
	children = map[int][]int{}
	for _, pid := range Pids() {
		st, err := ReadStat(pid)
		if err != nil {
			continue
		}
		stats[pid] = st
		children[st.PPID] = append(children[st.PPID], pid)
	}
	return stats, children
}

// below adds to seen every descendant of pid in children.
func below(pid int, children map[int][]int, seen map[int]bool) {
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			seen[c] = true
			queue = append(queue, c) // a tree: each PID comes once
		}
	}
}

// Descendants returns every process below pid: its children, theirs, and
// so on (for tend itself: every program's processes, and the orphans it
// adopted as PID 1 or subreaper).
func Descendants(pid int) []int {
	_, children := table()
	seen := map[int]bool{}
	below(pid, children, seen)
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	return out
}

// Tree maps each program, by name, from its leader PID to every process of
// the program: its process group, its session if it made one, and every
// descendant (a daemon that left the group is still the program's).
func Tree(leaders map[string]int) map[string][]int {
	stats, children := table()
	out := map[string][]int{}
	for name, leader := range leaders {
		seen := map[int]bool{}
		for pid, st := range stats {
			if pid == leader || st.PGRP == leader || st.Session == leader {
				seen[pid] = true
			}
		}
		below(leader, children, seen)
		for pid := range seen {
			out[name] = append(out[name], pid)
		}
	}
	return out
}
