package config

import (
	"path/filepath"
	"strings"

	"tend/watch/watchable"
)

// formWatchable is what a path of TEND_LOG_WATCH must name, beyond its
// syntax.
const formWatchable = "regular files or directories of them on a filesystem of real files: " +
	"never a pseudo filesystem of the kernel (proc, sysfs, devtmpfs and /dev, cgroup, debugfs, tracefs, securityfs, ...), " +
	"a named pipe, a socket or a device"

// checkWatch refuses a TEND_LOG_WATCH path that names, by itself, what tend
// must never open: a named pipe, a socket or a device, or anything on a
// pseudo filesystem (/proc/kmsg would give the kernel's log away and block
// the reader). A path, a directory and a glob whose matches all lie in one
// directory are checked; a glob over directories (/*/kmsg) is not, as it
// may match real files too: the watcher skips what it reaches there, with
// a warning.
func (b *builder) checkWatch() {
	for _, p := range b.cfg.Log.Watch {
		if p == "auto" {
			continue
		}
		at := p
		if hasMeta(p) {
			if hasMeta(filepath.Dir(p)) {
				continue
			}
			at = filepath.Dir(p)
		}
		if err := watchable.Check(at); err != nil {
			b.fail(Prefix+"LOG_WATCH", strings.Join(b.cfg.Log.Watch, ","),
				err.Error()+": tend never watches or reads it", formWatchable)
		}
	}
}

// hasMeta reports whether path holds a glob's special characters.
func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }
