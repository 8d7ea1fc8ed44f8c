package procfs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount is one filesystem mounted in tend's mount namespace, as
// /proc/self/mountinfo lists it.
type Mount struct {
	// Dev is the device number the files of the mount have (st_dev).
	Dev uint64
	// Point is where it is mounted.
	Point string
	// FSType is the filesystem type, such as "ext4", "tmpfs", "proc" or
	// "devtmpfs".
	FSType string
}

// Mounts reads /proc/self/mountinfo.
func Mounts() ([]Mount, error) {
	f, err := os.Open(root + "/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		m, err := parseMountinfo(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s/self/mountinfo: %w", root, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s/self/mountinfo: %w", root, err)
	}
	return out, nil
}

// parseMountinfo parses one line of /proc/self/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// fields: mount ID, parent ID, major:minor, root, mount point, options,
// optional fields up to "-", then the filesystem type, the source and the
// superblock options. Spaces in paths are written \040.
func parseMountinfo(line []byte) (Mount, error) {
	f := bytes.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if string(f[i]) == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || sep+1 >= len(f) {
		return Mount{}, fmt.Errorf("malformed line %.80q", line)
	}
	maj, min, ok := strings.Cut(string(f[2]), ":")
	major, err1 := strconv.ParseUint(maj, 10, 32)
	minor, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return Mount{}, fmt.Errorf("malformed device %q", f[2])
	}
	return Mount{
		Dev:    unix.Mkdev(uint32(major), uint32(minor)),
		Point:  unescapeMount(string(f[4])),
		FSType: string(f[sep+1]),
	}, nil
}

// unescapeMount undoes the octal escapes (\040 for a space, \011, \012,
// \134) of a path in /proc/self/mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
