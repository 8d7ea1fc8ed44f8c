package budget

import (
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/procfs"
)

// What the watcher needs from the budget: files written by others grow
// without asking Reserve, so the watcher measures them (SetSize) and then
// asks the budget to make room after the fact.

// Trim deletes the oldest retired files, across all owners, until the
// bytes of all tracked files are within the limit. It returns how many
// bytes are still over the limit (0 or less when it holds).
func (b *Budget) Trim() int64 {
	b.mu.Lock()
	defer b.unlock()
	if b.limit <= 0 {
		return 0
	}
	for b.used > b.limit {
		v := b.oldest(nil, nil)
		if v == nil {
			break
		}
		b.drop(v, true, "disk budget")
	}
	return b.used - b.limit
}

// TrimSpace keeps MinFree on the filesystem holding dir: it measures the
// free space now and deletes the oldest retired files on that filesystem
// until it is back above MinFree. It returns how many bytes are still
// missing (0 or less when it holds).
func (b *Budget) TrimSpace(dir string) int64 {
	b.mu.Lock()
	defer b.unlock()
	if b.minFree <= 0 {
		return 0
	}
	sp := b.spaces[dir]
	if sp == nil {
		return 0
	}
	sp.checked = time.Time{} // measure now: the watched files grew unseen
	for {
		free, ok := sp.free(time.Now())
		if !ok {
			return 0
		}
		if free+sp.freeing >= b.minFree {
			// Counting what the files deleted a moment ago are giving
			// back: deleting more now would delete too much.
			return b.minFree - free - sp.freeing
		}
		v := b.oldest(nil, sp)
		if v == nil {
			return b.minFree - free
		}
		b.drop(v, true, "min free space")
		// Measure again: the estimate does not know how much the
		// filesystem got back.
		sp.checked = time.Time{}
	}
}

// SetRetired marks the file as removable (closed: retired since its last
// change) or not (still open for writing).
func (e *Entry) SetRetired(retired bool, since time.Time) {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if retired == e.retired && (!retired || since.Equal(e.since)) {
		return
	}
	b.seq++
	e.retired, e.since, e.seq = retired, since, b.seq
}

// Truncate cuts the file to zero bytes, for a file still open for writing
// (deleting it would free nothing until it is closed). It is reported as a
// cleanup with reason; it returns the bytes freed.
func (e *Entry) Truncate(reason string) (int64, error) {
	b := e.b
	b.mu.Lock()
	defer b.unlock()
	if e.gone {
		return 0, ErrGone
	}
	if e.id != (procfs.FileID{}) && !e.holds(e.path) {
		return 0, fmt.Errorf("truncate %s: replaced since it was last seen", e.path)
	}
	if err := os.Truncate(e.path, 0); err != nil {
		return 0, fmt.Errorf("truncate %s: %w", e.path, err)
	}
	freed := e.size
	b.used -= freed
	b.owners[e.owner] -= freed
	e.space.since -= freed
	e.size = 0
	b.log.Warn("truncated a log file to keep the disk limits (still open for writing)", zap.String("file", e.path),
		zap.Int64("bytes", freed), zap.String("reason", reason))
	b.removed = append(b.removed, Removal{Path: e.path, Owner: e.owner, Bytes: freed, Reason: reason, Truncated: true})
	return freed, nil
}

// TrackFile adds a watched file: like Track, and the budget will delete or
// truncate the file at path only while path still names the file id.
func (b *Budget) TrackFile(owner, path string, size int64, id procfs.FileID) *Entry {
	e := b.Track(owner, path, size)
	b.mu.Lock()
	e.id = id
	b.mu.Unlock()
	return e
}

// holds reports whether path still names the entry's file.
func (e *Entry) holds(path string) bool {
	var st unix.Stat_t
	return unix.Lstat(path, &st) == nil && procfs.IDOf(&st) == e.id
}
