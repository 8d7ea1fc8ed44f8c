package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Mapped returns the files that the processes pids map into memory, by
// device and inode (/proc/PID/maps). Truncating such a file under a
// process kills it with SIGBUS at its next access past the new end.
func Mapped(pids []int) map[FileID]bool {
	out := map[FileID]bool{}
	for _, pid := range pids {
		f, err := os.Open(fmt.Sprintf("%s/%d/maps", root, pid))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 4096), 1<<20)
		for sc.Scan() {
			if id, ok := parseMapsLine(sc.Bytes()); ok {
				out[id] = true
			}
		}
		f.Close()
	}
	return out
}

// parseMapsLine returns the file a line of /proc/PID/maps maps:
//
//	address perms offset dev inode path
//	7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 1234567 /data/app.log
//
// dev is major:minor in hex; inode 0 is an anonymous mapping.
func parseMapsLine(line []byte) (FileID, bool) {
	fields := bytes.Fields(line)
	if len(fields) < 5 {
		return FileID{}, false
	}
	ino, err := strconv.ParseUint(string(fields[4]), 10, 64)
	if err != nil || ino == 0 {
		return FileID{}, false
	}
	maj, min, ok := bytes.Cut(fields[3], []byte(":"))
	if !ok {
		return FileID{}, false
	}
	major, err1 := strconv.ParseUint(string(maj), 16, 32)
	minor, err2 := strconv.ParseUint(string(min), 16, 32)
	if err1 != nil || err2 != nil {
		return FileID{}, false
	}
	return FileID{Dev: unix.Mkdev(uint32(major), uint32(minor)), Ino: ino}, true
}
