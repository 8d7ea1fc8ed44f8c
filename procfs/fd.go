package logship

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Files held open, read from /proc: which files a program writes
// (TEND_LOG_WATCH=auto), and whether a watched file is still open for
// writing by any process (then it is truncated, not deleted).

// fileID names a file by device and inode, whatever its path.
type fileID struct{ dev, ino uint64 }

func idOf(st *unix.Stat_t) fileID { return fileID{dev: st.Dev, ino: st.Ino} }

// Open-file flags as /proc/PID/fdinfo shows them (octal).
const (
	accMode  = 0o3
	wrOnly   = 0o1
	rdWr     = 0o2
	appendFl = 0o2000
)

// heldFile is a regular file held open by some process.
type heldFile struct {
	path  string
	id    fileID
	flags int64 // of the first descriptor found
	pids  []int
}

// writable reports whether the descriptor's flags allow writing.
func writable(flags int64) bool { m := flags & accMode; return m == wrOnly || m == rdWr }

// logLike reports whether a descriptor opened with flags looks like a log
// being written: write-only (appending or not), or read-write in append
// mode. A file opened read-write without O_APPEND is written in place (an
// embedded database, a memory-mapped counter file such as the JVM's
// hsperfdata): cutting it would corrupt it, so auto never takes it.
func logLike(flags int64) bool {
	m := flags & accMode
	return m == wrOnly || (m == rdWr && flags&appendFl != 0)
}

// procRoot is /proc; tests may not change it, it is a constant of Linux.
const procRoot = "/proc"

// procStat is what /proc/PID/stat says about process relations.
type procStat struct {
	pid, ppid, pgrp, session int
}

// readStat reads /proc/PID/stat.
func readStat(pid int) (procStat, error) {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", procRoot, pid))
	if err != nil {
		return procStat{}, err
	}
	// comm may hold spaces and parentheses: it ends at the last ')'.
	end := bytes.LastIndexByte(data, ')')
	if end < 0 {
		return procStat{}, fmt.Errorf("malformed %s/%d/stat", procRoot, pid)
	}
	f := strings.Fields(string(data[end+1:]))
	if len(f) < 4 {
		return procStat{}, fmt.Errorf("short %s/%d/stat", procRoot, pid)
	}
	st := procStat{pid: pid}
	st.ppid, _ = strconv.Atoi(f[1])
	st.pgrp, _ = strconv.Atoi(f[2])
	st.session, _ = strconv.Atoi(f[3])
	return st, nil
}

// allPids returns every PID in /proc.
func allPids() []int {
	ents, err := os.ReadDir(procRoot)
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

// programProcs maps each program's leader PID to every process of the
// program: its process group, its session if it made one, and every
// descendant (a daemon that left the group is still the program's).
func programProcs(leaders map[string]int) map[string][]int {
	stats := map[int]procStat{}
	children := map[int][]int{}
	for _, pid := range allPids() {
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	out := map[string][]int{}
	for name, leader := range leaders {
		seen := map[int]bool{}
		for pid, st := range stats {
			if pid == leader || st.pgrp == leader || st.session == leader {
				seen[pid] = true
			}
		}
		queue := []int{leader}
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			for _, c := range children[p] {
				seen[c] = true
				queue = append(queue, c) // a tree: each PID comes once
			}
		}
		for pid := range seen {
			out[name] = append(out[name], pid)
		}
	}
	return out
}

// heldFiles returns the regular files the processes pids hold open (with
// writers, only those open for writing), by file; keep, when set, filters
// paths before anything is stat'ed. Descriptors that are not files (pipes,
// sockets, anon inodes) and files already deleted are skipped.
func heldFiles(pids []int, keep func(path string) bool, writers bool) map[fileID]*heldFile {
	out := map[fileID]*heldFile{}
	for _, pid := range pids {
		dir := fmt.Sprintf("%s/%d/fd", procRoot, pid)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			link, err := os.Readlink(dir + "/" + e.Name())
			if err != nil || !strings.HasPrefix(link, "/") || strings.HasSuffix(link, " (deleted)") {
				continue
			}
			if keep != nil && !keep(link) {
				continue
			}
			flags, ok := fdFlags(pid, e.Name())
			if !ok || (writers && !writable(flags)) {
				continue
			}
			var st unix.Stat_t
			if unix.Stat(dir+"/"+e.Name(), &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
				continue
			}
			id := idOf(&st)
			h := out[id]
			if h == nil {
				h = &heldFile{path: link, id: id, flags: flags}
				out[id] = h
			} else if !writable(h.flags) && writable(flags) {
				h.flags = flags
			}
			if n := len(h.pids); n == 0 || h.pids[n-1] != pid {
				h.pids = append(h.pids, pid)
			}
		}
	}
	return out
}

// fdFlags reads the open flags of one descriptor from /proc/PID/fdinfo.
func fdFlags(pid int, fd string) (int64, bool) {
	data, err := os.ReadFile(fmt.Sprintf("%s/%d/fdinfo/%s", procRoot, pid, fd))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 8, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// mapped reports whether any of pids maps the file into memory;
// truncating such a file would kill the process with SIGBUS.
func mapped(pids []int, id fileID) bool {
	major, minor := unix.Major(id.dev), unix.Minor(id.dev)
	dev := fmt.Sprintf("%02x:%02x", major, minor)
	ino := strconv.FormatUint(id.ino, 10)
	for _, pid := range pids {
		f, err := os.Open(fmt.Sprintf("%s/%d/maps", procRoot, pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// address perms offset dev inode path
			fields := strings.Fields(sc.Text())
			if len(fields) >= 5 && fields[4] == ino && fields[3] == dev {
				f.Close()
				return true
			}
		}
		f.Close()
	}
	return false
}

// systemPath reports whether path is in a pseudo filesystem that is never
// a program's log.
func systemPath(path string) bool {
	for _, p := range []string{"/dev/", "/proc/", "/sys/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
