package budget

import (
	"syscall"
	"time"
)

// How often free space is measured: statfs runs at most every
// spaceInterval, or every spaceQuickInterval once spaceBytes were written
// since the last measure, or every spaceQuickInterval once spaceBytes were
// refused since it (so writing resumes promptly once space comes back).
// In between, free space is estimated as the last measure less the bytes
// reserved since.
const (
	spaceInterval      = 100 * time.Millisecond
	spaceQuickInterval = 10 * time.Millisecond
	spaceBytes         = 1 << 20
)

// freeSpace estimates the free space of the filesystem holding one
// directory, cheaply enough to be asked before every write.
type freeSpace struct {
	dir     string
	checked time.Time
	avail   int64 // bytes available to unprivileged writers at the last measure
	since   int64 // bytes reserved since the last measure, less bytes freed
	held    int64 // bytes reserved and held back by their writers (Entry.SetHeld)
	freeing int64 // bytes of files deleted here whose space is still being freed
	refused int64 // bytes refused for lack of space since the last measure
	full    bool  // a write failed with ENOSPC since the last measure
	failed  bool  // statfs failed: the estimate is not used
}

// stale reports whether a new measure is due.
func (f *freeSpace) stale(now time.Time) bool {
	el := now.Sub(f.checked)
	busy := f.since >= spaceBytes || f.refused >= spaceBytes
	return el >= spaceInterval || el < 0 || (busy && el >= spaceQuickInterval)
}

// free returns the estimated free bytes, measuring again when due. ok is
// false when the filesystem cannot be measured.
func (f *freeSpace) free(now time.Time) (n int64, ok bool) {
	if f.stale(now) {
		var st syscall.Statfs_t
		err := syscall.Statfs(f.dir, &st)
		f.checked, f.since, f.refused, f.full = now, 0, 0, false
		f.failed = err != nil
		f.avail = availBytes(&st)
	}
	if f.failed {
		return 0, false
	}
	return f.avail - f.since - f.held, true
}

// availBytes is the space statfs says unprivileged writers may still use.
// Block counts are in units of the fragment size (f_frsize), which is not
// the preferred I/O size f_bsize on every filesystem (NFS and FUSE report
// a large f_bsize); kernels before 2.6 leave f_frsize zero.
func availBytes(st *syscall.Statfs_t) int64 {
	unit := st.Frsize
	if unit <= 0 {
		unit = st.Bsize
	}
	return int64(st.Bavail) * unit
}
