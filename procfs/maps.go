package procfs

import (
	"bytes"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// Mapped returns the files that the processes pids map into memory, by
// device and inode (/proc/PID/maps). Truncating such a file under a
// process kills it with SIGBUS at its next access past the new end.
func Mapped(pids []int) map[FileID]bool {
	out := map[FileID]bool{}
	buf := make([]byte, 0, 64<<10)
	for _, pid := range pids {
		var err error
		buf, err = ReadInto(buf[:0], fmt.Sprintf("%s/%d/maps", root, pid))
		if err != nil {
			continue
		}
		for rest := buf; len(rest) > 0; {
			line := rest
			if i := bytes.IndexByte(rest, '\n'); i >= 0 {
				line, rest = rest[:i], rest[i+1:]
			} else {
				rest = nil
			}
			if id, ok := parseMapsLine(line); ok {
				out[id] = true
			}
		}
	}
	return out
}

// parseMapsLine returns the file a line of /proc/PID/maps maps:
//
//	address perms offset dev inode path
//	7f2c0a000000-7f2c0a021000 rw-s 00000000 08:01 1234567 /data/app.log
//
// dev is major:minor in hex; inode 0 is an anonymous mapping. It reads
// the fields in place: a JVM maps hundreds of regions, and the budget
// reads them all just before each truncation.
func parseMapsLine(line []byte) (FileID, bool) {
	var fields [5][]byte
	for i := range fields {
		line = bytes.TrimLeft(line, " ")
		end := bytes.IndexByte(line, ' ')
		if end < 0 {
			end = len(line)
		}
		fields[i], line = line[:end], line[end:]
	}
	ino, err := strconv.ParseUint(string(fields[4]), 10, 64)
	if err != nil || ino == 0 {
		return FileID{}, false
	}
	maj, min, found := bytes.Cut(fields[3], []byte(":"))
	if !found {
		return FileID{}, false
	}
	major, err1 := strconv.ParseUint(string(maj), 16, 32)
	minor, err2 := strconv.ParseUint(string(min), 16, 32)
	if err1 != nil || err2 != nil {
		return FileID{}, false
	}
	return FileID{Dev: unix.Mkdev(uint32(major), uint32(minor)), Ino: ino}, true
}
