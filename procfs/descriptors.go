package procfs

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Descriptors remembers the open descriptors of processes from one read of
// /proc/PID/fd to the next, so that reading them again costs far less than
// the first time: the link and the flags (/proc/PID/fdinfo) are read only
// for a descriptor not seen before. It is not safe for concurrent use.
//
// A descriptor is named by its number, and a number closed and opened
// again names another file: Held tells them apart by the device and inode
// of the file each descriptor names (one stat(2) each). Opened does not
// even do that: it lists only the descriptors of a process whose number of
// open descriptors changed, so a process that closed a file and opened
// another since is missed until the next Held.
type Descriptors struct {
	procs map[int]*procDescriptors
	gen   uint64
	buf   []byte // getdents and readlink
}

// procDescriptors is what is known of one process's descriptors.
type procDescriptors struct {
	fdIno uint64 // inode of /proc/PID/fd: another one is another process with this PID
	count int64  // descriptors open at the last listing (0: unknown)
	fds   map[int]*descriptor
	gen   uint64
}

// descriptor is one open descriptor.
type descriptor struct {
	id    FileID
	file  bool   // a regular file, not deleted, with an absolute path
	path  string // for a file
	flags int64  // for a file: -1 until read
	gen   uint64 // the generation of the call that read it
}

// NewDescriptors returns an empty memory of descriptors.
func NewDescriptors() *Descriptors {
	return &Descriptors{procs: map[int]*procDescriptors{}, buf: make([]byte, 32<<10)}
}

// Held returns the regular files the processes pids hold open (with
// writers, only those open for writing), by file; keep, when set, filters
// them by path. Descriptors that are not files (pipes, sockets, anon
// inodes) and files already deleted are left out. Every descriptor is
// checked (one stat each); processes not in pids are forgotten.
func (d *Descriptors) Held(pids []int, keep func(path string) bool, writers bool) map[FileID]*HeldFile {
	return d.collect(pids, keep, writers, false)
}

// Opened returns the regular files (with writers, open for writing) that
// processes pids opened since the last call (by a descriptor number not
// seen before), filtered by keep. A process whose number of descriptors
// did not change is not listed at all: one stat(2) of /proc/PID/fd is
// all it costs. Processes not in pids are forgotten.
func (d *Descriptors) Opened(pids []int, keep func(path string) bool, writers bool) map[FileID]*HeldFile {
	return d.collect(pids, keep, writers, true)
}

// collect refreshes the descriptors of pids (with onlyNew, only those of
// processes whose count changed) and returns their files, or with onlyNew
// only the files of descriptors first seen now; it forgets the processes
// not in pids.
func (d *Descriptors) collect(pids []int, keep func(path string) bool, writers, onlyNew bool) map[FileID]*HeldFile {
	d.gen++
	out := map[FileID]*HeldFile{}
	for _, pid := range pids {
		p := d.refresh(pid, onlyNew)
		if p == nil {
			continue
		}
		for fd, de := range p.fds {
			if de.file && (!onlyNew || de.gen == d.gen) {
				d.add(out, pid, fd, de, keep, writers)
			}
		}
	}
	d.prune()
	return out
}

// add puts descriptor fd of pid into out if keep and writers accept it;
// its flags are read the first time they are needed.
func (d *Descriptors) add(out map[FileID]*HeldFile, pid, fd int, de *descriptor, keep func(string) bool, writers bool) {
	if keep != nil && !keep(de.path) {
		return
	}
	if de.flags < 0 {
		flags, ok := FDFlags(pid, strconv.Itoa(fd))
		if !ok {
			return
		}
		de.flags = flags
	}
	if writers && !Writable(de.flags) {
		return
	}
	h := out[de.id]
	if h == nil {
		h = &HeldFile{Path: de.path, ID: de.id, Flags: de.flags}
		out[de.id] = h
	} else if !Writable(h.Flags) && Writable(de.flags) {
		h.Flags = de.flags
	}
	if n := len(h.Pids); n == 0 || h.Pids[n-1] != pid {
		h.Pids = append(h.Pids, pid)
	}
}

// refresh brings what is known of pid's descriptors up to date and marks
// it seen; it returns nil for a process gone. Without onlyNew, every
// descriptor is stat'ed; with it, a process whose count of descriptors is
// the one of the last listing is not listed, and only descriptors not
// known yet are read. Descriptors read anew get the current generation.
func (d *Descriptors) refresh(pid int, onlyNew bool) *procDescriptors {
	dir := fmt.Sprintf("%s/%d/fd", root, pid)
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		delete(d.procs, pid)
		return nil
	}
	p := d.procs[pid]
	if p == nil || p.fdIno != st.Ino {
		p = &procDescriptors{fdIno: st.Ino, fds: map[int]*descriptor{}}
		d.procs[pid] = p
	} else if onlyNew && st.Size > 0 && st.Size == p.count {
		// Linux 6.2 and later count the open descriptors in the size
		// of /proc/PID/fd; older kernels say 0, and are listed.
		p.gen = d.gen
		return p
	}
	p.gen = d.gen
	p.count = st.Size
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		delete(d.procs, pid)
		return nil
	}
	defer unix.Close(dfd)
	listed := d.listFDs(dfd)
	for _, fd := range listed {
		de := p.fds[fd]
		if de != nil && onlyNew {
			continue
		}
		name := strconv.Itoa(fd)
		var fst unix.Stat_t
		if unix.Fstatat(dfd, name, &fst, 0) != nil {
			if de != nil {
				delete(p.fds, fd)
			}
			continue // closed meanwhile, or a link to nothing
		}
		if de != nil && de.id == IDOf(&fst) {
			continue
		}
		de = &descriptor{id: IDOf(&fst), flags: -1, gen: d.gen}
		p.fds[fd] = de
		if fst.Mode&unix.S_IFMT != unix.S_IFREG {
			continue
		}
		n, err := unix.Readlinkat(dfd, name, d.buf)
		if err != nil {
			continue
		}
		link := string(d.buf[:n])
		if strings.HasPrefix(link, "/") && !strings.HasSuffix(link, " (deleted)") {
			de.file, de.path = true, link
		}
	}
	// Descriptors closed since the last listing.
	if len(p.fds) > 0 {
		open := make(map[int]bool, len(listed))
		for _, fd := range listed {
			open[fd] = true
		}
		for fd := range p.fds {
			if !open[fd] {
				delete(p.fds, fd)
			}
		}
	}
	return p
}

// listFDs returns the descriptor numbers in the /proc/PID/fd directory
// open as dfd.
func (d *Descriptors) listFDs(dfd int) []int {
	var fds []int
	for {
		n, err := unix.Getdents(dfd, d.buf)
		if err != nil || n <= 0 {
			return fds
		}
		for b := d.buf[:n]; len(b) >= 19; {
			// struct linux_dirent64: ino (8), off (8), reclen (2),
			// type (1), name (NUL-terminated).
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			fd, ok := 0, false
			for _, c := range name {
				if c == 0 {
					break
				}
				if c < '0' || c > '9' {
					ok = false
					break
				}
				fd, ok = fd*10+int(c-'0'), true
			}
			if ok {
				fds = append(fds, fd)
			}
			b = b[reclen:]
		}
	}
}

// prune forgets the processes not seen in the current generation.
func (d *Descriptors) prune() {
	for pid, p := range d.procs {
		if p.gen != d.gen {
			delete(d.procs, pid)
		}
	}
}
