// Package watchable tells the files tend may watch (and read, to tail
// them) from those it must never open: files on a pseudo filesystem of the
// kernel (proc, sysfs, cgroup, debugfs, tracefs, securityfs, devtmpfs and
// whatever is mounted at /dev, ...), whose "files" block a reader
// (/proc/kmsg), consume kernel state when read, never end, or trigger
// actions; and files that are not regular files (named pipes, sockets,
// devices), which a reader blocks on or changes.
//
// Filesystems are told by their type (statfs f_type), not by path, so a
// proc mounted elsewhere, or a symbolic link into /sys, is known as well.
package watchable

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"

	"tend/procfs"
)

// Magic numbers (statfs f_type) that golang.org/x/sys/unix does not name.
const (
	configfsMagic = 0x62656570
	mqueueMagic   = 0x19800202
	fusectlMagic  = 0x65735543
)

// pseudo names the pseudo filesystems by their statfs type.
var pseudo = map[int64]string{
	unix.PROC_SUPER_MAGIC:      "proc",
	unix.SYSFS_MAGIC:           "sysfs",
	unix.CGROUP_SUPER_MAGIC:    "cgroup",
	unix.CGROUP2_SUPER_MAGIC:   "cgroup2",
	unix.DEBUGFS_MAGIC:         "debugfs",
	unix.TRACEFS_MAGIC:         "tracefs",
	unix.SECURITYFS_MAGIC:      "securityfs",
	unix.DEVPTS_SUPER_MAGIC:    "devpts",
	unix.BPF_FS_MAGIC:          "bpf",
	unix.PSTOREFS_MAGIC:        "pstore",
	unix.EFIVARFS_MAGIC:        "efivarfs",
	unix.BINFMTFS_MAGIC:        "binfmt_misc",
	unix.SELINUX_MAGIC:         "selinuxfs",
	unix.SMACK_MAGIC:           "smackfs",
	unix.NSFS_MAGIC:            "nsfs",
	unix.RDTGROUP_SUPER_MAGIC:  "resctrl",
	unix.HUGETLBFS_MAGIC:       "hugetlbfs",
	unix.AUTOFS_SUPER_MAGIC:    "autofs",
	unix.USBDEVICE_SUPER_MAGIC: "usbdevfs",
	configfsMagic:              "configfs",
	mqueueMagic:                "mqueue",
	fusectlMagic:               "fusectl",
}

// Pseudo returns the name of the pseudo filesystem that path (followed
// through symbolic links) is on, or "" when it is on a filesystem that
// holds real files. devtmpfs, and a tmpfs mounted at /dev (as container
// runtimes do), have the type of tmpfs: they are told by the mount table.
func Pseudo(path string) (string, error) {
	var sfs unix.Statfs_t
	if err := unix.Statfs(path, &sfs); err != nil {
		return "", err
	}
	if name, ok := pseudo[int64(sfs.Type)]; ok {
		return name, nil
	}
	if sfs.Type != unix.TMPFS_MAGIC && sfs.Type != unix.RAMFS_MAGIC {
		return "", nil
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", err
	}
	mounts, err := procfs.Mounts()
	if err != nil {
		// Without the mount table a tmpfs is taken for what it most
		// likely is: a filesystem of real files.
		return "", nil
	}
	return devFS(mounts, st.Dev), nil
}

// devFS returns "devtmpfs" when dev is the device of a devtmpfs, or of
// whatever is mounted at /dev, and "" otherwise.
func devFS(mounts []procfs.Mount, dev uint64) string {
	for _, m := range mounts {
		if m.Dev == dev && (m.FSType == "devtmpfs" || m.Point == "/dev") {
			return "devtmpfs"
		}
	}
	return ""
}

// Filesystems remembers, by device, which devices are pseudo filesystems,
// so that a directory of thousands of files costs one statfs. The zero
// value is ready to use; it is safe for concurrent use.
type Filesystems struct {
	mu    sync.Mutex
	byDev map[uint64]string
}

// Pseudo is Pseudo(path) for a file or directory of device dev (its
// st_dev), remembered for dev. A path that cannot be looked at is taken
// for a real file: it is not remembered, and the caller's own look at it
// fails anyway.
func (c *Filesystems) Pseudo(path string, dev uint64) string {
	c.mu.Lock()
	name, ok := c.byDev[dev]
	c.mu.Unlock()
	if ok {
		return name
	}
	name, err := Pseudo(path)
	if err != nil {
		return ""
	}
	c.mu.Lock()
	if c.byDev == nil {
		c.byDev = map[uint64]string{}
	}
	c.byDev[dev] = name
	c.mu.Unlock()
	return name
}

// NotRegular names the type of a file that is not a regular file (st_mode
// & S_IFMT), such as "named pipe (FIFO)"; "" for a regular file.
func NotRegular(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFIFO:
		return "named pipe (FIFO)"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFLNK:
		return "symbolic link"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}

// ErrPseudo is wrapped by the errors of Check for a path on a pseudo
// filesystem.
var ErrPseudo = errors.New("a pseudo filesystem of the kernel")

// ErrNotRegular is wrapped by the errors of Check for a path that is
// neither a regular file nor a directory.
var ErrNotRegular = errors.New("neither a regular file nor a directory")

// Check reports why a path named to be watched must not be: it is (through
// symbolic links) neither a regular file nor a directory, or it is on a
// pseudo filesystem. A path that does not exist yet is checked by its
// nearest existing directory: a file created later in /proc or /dev is on
// the same pseudo filesystem. nil means it may be watched.
func Check(path string) error {
	var st unix.Stat_t
	at := path
	for {
		err := unix.Stat(at, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) {
			return fmt.Errorf("cannot look at %s: %w", at, err)
		}
		parent := filepath.Dir(at)
		if parent == at {
			return nil
		}
		at = parent
	}
	if at == path {
		if kind := NotRegular(st.Mode); kind != "" && kind != "directory" {
			return fmt.Errorf("%s is a %s: %w", path, kind, ErrNotRegular)
		}
	}
	name, err := Pseudo(at)
	if err != nil {
		return fmt.Errorf("cannot look at %s: %w", at, err)
	}
	if name != "" {
		if at != path {
			return fmt.Errorf("%s would be in %s, on a %s filesystem, %w", path, at, name, ErrPseudo)
		}
		return fmt.Errorf("%s is on a %s filesystem, %w", path, name, ErrPseudo)
	}
	return nil
}

// Open opens path for reading, for a tailer: it never blocks (O_NONBLOCK:
// a named pipe put in the file's place is not waited on), never follows a
// symbolic link, and returns the file only when it is a regular file,
// with its stat.
func Open(path string) (*os.File, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, st, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, st, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if kind := NotRegular(st.Mode); kind != "" {
		unix.Close(fd)
		return nil, st, fmt.Errorf("%s is a %s: %w", path, kind, ErrNotRegular)
	}
	return os.NewFile(uintptr(fd), path), st, nil
}
