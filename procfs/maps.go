package procfs

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"

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
		buf, err = readInto(buf[:0], fmt.Sprintf("%s/%d/maps", root, pid))
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

// readInto appends the whole file at path to buf.
func readInto(buf []byte, path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return buf, err
	}
	defer f.Close()
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := f.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
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
	ino, ok := parseUint(fields[4], 10)
	if !ok || ino == 0 {
		return FileID{}, false
	}
	maj, min, found := bytes.Cut(fields[3], []byte(":"))
	if !found {
		return FileID{}, false
	}
	major, ok1 := parseUint(maj, 16)
	minor, ok2 := parseUint(min, 16)
	if !ok1 || !ok2 || major > math.MaxUint32 || minor > math.MaxUint32 {
		return FileID{}, false
	}
	return FileID{Dev: unix.Mkdev(uint32(major), uint32(minor)), Ino: ino}, true
}

// parseUint parses digits of base 10 or 16, without allocating.
func parseUint(b []byte, base uint64) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		var d uint64
		switch {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if n > (math.MaxUint64-d)/base {
			return 0, false
		}
		n = n*base + d
	}
	return n, true
}
