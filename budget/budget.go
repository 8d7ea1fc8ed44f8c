// Package budget keeps every file tend writes or watches under one disk
// budget and above a minimum of free space: tend's own log files (live,
// rotated, compressed), and the files the programs write themselves. A
// writer asks before each write; when room is needed the budget deletes the
// oldest retired files first, across all owners, and refuses the write only
// when none is left. Every deletion and truncation it makes is a cleanup:
// kept for `tend status`, counted, and handed to the TEND_ON_LOG_CLEANUP
// hook on a goroutine of its own.
package budget

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/procfs"
)

// Errors of Entry.Reserve: why a write may not happen now.
var (
	// ErrOverBudget: the write would pass the disk budget and no retired
	// file is left to delete.
	ErrOverBudget = errors.New("disk budget full")
	// ErrLowSpace: the write would leave less than the minimum free space
	// and no retired file on that filesystem is left to delete.
	ErrLowSpace = errors.New("free space below the minimum")
	// ErrDiskFull: the filesystem has no room for the write, or a write
	// failed with ENOSPC a moment ago; writes are refused until the next
	// free-space measure shows room.
	ErrDiskFull = errors.New("disk full")
	// ErrGone: the budget deleted the entry's file.
	ErrGone = errors.New("file deleted for the disk budget")
)

// Options configure a Budget.
type Options struct {
	// Limit caps the bytes of all tracked files together (0: no cap).
	Limit int64
	// MinFree is the free space kept on each filesystem holding a tracked
	// file (0: none; a full disk is still handled).
	MinFree int64
	// Logger receives an event for every deletion (nil: none).
	Logger *zap.Logger
	// OnRemove, when set, is called after every deletion or truncation
	// the budget makes to keep its limits, outside the budget's lock; it
	// must not block.
	OnRemove func(Removal)
	// Hook, when set, runs TEND_ON_LOG_CLEANUP for one cleanup. It runs on
	// a goroutine of its own, one at a time, never on a writer's path;
	// cleanups that find its queue full are counted and skipped. ctx ends
	// when the hook has run too long or StopHooks cuts it.
	Hook func(ctx context.Context, r Removal) error
}

// Removal describes a file the budget deleted, or truncated, to keep its
// limits.
type Removal struct {
	Path   string
	Owner  string
	Bytes  int64
	Reason string // "disk budget", "min free space" or "disk full"
	// Truncated is set when the file was cut to zero bytes rather than
	// deleted: a program still held it open for writing.
	Truncated bool
}

// Budget keeps a set of files under one byte limit and above a minimum of
// free space. Every file is an Entry with an owner (a program name). A
// writer asks Reserve before each write; when the write would pass a limit,
// the budget deletes retired files (rotated logs, or files a watcher marked
// removable), the oldest first across all owners, and refuses the write
// only when none is left. Deletions and renames of tracked files go through
// the budget, under its lock, so a writer never races a deletion.
//
// Sizes are counted as bytes written (apparent size), which is what `du
// --apparent-size` and a sum of file sizes show.
type Budget struct {
	mu       sync.Mutex
	limit    int64
	minFree  int64
	used     int64
	freeing  int64              // bytes of deleted files whose space the kernel is still freeing
	freed    sync.Cond          // signalled when freeing drops; L is &mu
	closeFD  func(fd int) error // closes a deleted file's last descriptor (tests hold it)
	seq      uint64
	entries  map[*Entry]struct{}
	owners   map[string]int64
	spaces   map[string]*freeSpace
	removed  []Removal // deletions not yet passed to onRemove
	log      *zap.Logger
	onRemove func(Removal)
	clean    *cleanups
}

// Entry is one file in a Budget.
type Entry struct {
	b       *Budget
	owner   string
	path    string
	space   *freeSpace
	size    int64
	retired bool
	since   time.Time
	seq     uint64
	gone    bool
	held    int64 // reserved bytes its writer keeps back for now (SetHeld)
	// id, when set (watched files), is the file's device and inode: a
	// path that holds another file by now is never deleted for it.
	id procfs.FileID
}

// New returns an empty budget. With a Hook it starts the goroutine that
// runs it; StopHooks ends it.
func New(o Options) *Budget {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	b := &Budget{
		limit:    o.Limit,
		minFree:  o.MinFree,
		entries:  map[*Entry]struct{}{},
		owners:   map[string]int64{},
		spaces:   map[string]*freeSpace{},
		log:      log,
		onRemove: o.OnRemove,
		clean:    newCleanups(log, o.Hook),
	}
	b.freed.L = &b.mu
	b.closeFD = unix.Close
	if o.Hook != nil {
		go b.clean.run()
	} else {
		close(b.clean.done)
	}
	return b
}

// Track adds a file of size bytes, owned by owner. The file may already
// be larger than the budget allows; the next Reserve makes room.
func (b *Budget) Track(owner, path string, size int64) *Entry {
	b.mu.Lock()
	defer b.mu.Unlock()
	dir := filepath.Dir(path)
	sp := b.spaces[dir]
	if sp == nil {
		sp = &freeSpace{dir: dir}
		b.spaces[dir] = sp
	}
	e := &Entry{b: b, owner: owner, path: path, space: sp, size: size}
	b.entries[e] = struct{}{}
	b.used += size
	b.owners[owner] += size
	return e
}

// Used returns the bytes of all tracked files, and of the files deleted
// a moment ago whose space the kernel is still freeing.
func (b *Budget) Used() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used + b.freeing
}

// Usage returns the bytes of the files of one owner.
func (b *Budget) Usage(owner string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.owners[owner]
}

// Limit returns the byte cap (0: none).
func (b *Budget) Limit() int64 { return b.limit }

// MinFree returns the free space kept on each filesystem (0: none).
func (b *Budget) MinFree() int64 { return b.minFree }

// unlock releases the lock, then records and reports the cleanups made
// under it.
func (b *Budget) unlock() {
	removed := b.removed
	b.removed = nil
	b.mu.Unlock()
	for _, r := range removed {
		b.clean.record(r)
		if b.onRemove != nil {
			b.onRemove(r)
		}
	}
}

// oldest returns the retired file that goes first, other than keep; with
// sp set, only one on that filesystem. b.mu is held.
func (b *Budget) oldest(keep *Entry, sp *freeSpace) *Entry {
	var v *Entry
	for e := range b.entries {
		if !e.retired || e == keep || (sp != nil && e.space != sp) {
			continue
		}
		if v == nil || e.since.Before(v.since) || (e.since.Equal(v.since) && e.seq < v.seq) {
			v = e
		}
	}
	return v
}

// drop untracks e; when del is set it also deletes the file. reason, when
// set, makes it a reported cleanup. b.mu is held.
func (b *Budget) drop(e *Entry, del bool, reason string) error {
	var err error
	if del && e.id != (procfs.FileID{}) && !e.holds(e.path) {
		// A watched file renamed or replaced since it was last seen: it
		// is only untracked; the watcher finds it again where it is.
		del, reason = false, ""
	}
	freeing := false
	if del {
		freeing, err = b.remove(e)
	}
	delete(b.entries, e)
	b.used -= e.size
	b.owners[e.owner] -= e.size
	if del && err == nil && !freeing {
		e.space.since -= e.size
	}
	e.gone = true
	if reason != "" {
		b.log.Warn("deleted a log file to keep the disk limits", zap.String("file", e.path),
			zap.Int64("bytes", e.size), zap.String("reason", reason), zap.Error(err))
		b.removed = append(b.removed, Removal{Path: e.path, Owner: e.owner, Bytes: e.size, Reason: reason})
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", e.path, err)
	}
	return nil
}

// remove deletes e's file. A file it can open is unlinked while held open
// and closed on a goroutine of its own (release): the close is where the
// kernel frees the file's pages, a few milliseconds per 50 MiB, and
// neither the writer that needed the room nor the budget's lock waits for
// it unless the room is needed before it ends. freeing reports that case:
// the bytes count in b.freeing until then. b.mu is held.
func (b *Budget) remove(e *Entry) (freeing bool, err error) {
	fd, oerr := unix.Open(e.path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err = os.Remove(e.path); err != nil {
		if oerr == nil {
			unix.Close(fd)
		}
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		return false, err
	}
	if oerr != nil {
		return false, nil
	}
	b.freeing += e.size
	e.space.freeing += e.size
	go b.release(fd, e.size, e.space)
	return true, nil
}

// release closes the last descriptor of a deleted file, which frees its
// space, and wakes the writers waiting for that room.
func (b *Budget) release(fd int, size int64, sp *freeSpace) {
	b.closeFD(fd)
	b.mu.Lock()
	b.freeing -= size
	sp.freeing -= size
	sp.checked = time.Time{} // measure again: the space came back
	b.freed.Broadcast()
	b.mu.Unlock()
}

// Reserve accounts n more bytes to e before they are written, deleting the
// oldest retired files when the write would pass the limit or the minimum
// of free space. It returns ErrOverBudget, ErrLowSpace, ErrDiskFull or
// ErrGone when the write must not happen; nothing is accounted then, and
// Room tells how many bytes would have fitted. It blocks on nothing but
// the budget's lock and, when the room it needs is that of files deleted
// a moment ago, on the kernel's freeing of their space.
func (e *Entry) Reserve(n int64) error {
	b := e.b
	b.mu.Lock()
	defer b.unlock()
	for {
		if e.gone {
			return ErrGone
		}
		// After a wait for files being freed, others may have taken the
		// room: look again from the start.
		waited, err := b.makeRoom(e, n)
		if err != nil {
			return err
		}
		if waited {
			continue
		}
		sp := e.space
		now := time.Now()
		if sp.full && !sp.stale(now) {
			sp.refused += n
			return ErrDiskFull
		}
		if waited, err = b.keepFree(e, n, now); err != nil {
			return err
		}
		if waited {
			continue
		}
		b.used += n
		e.size += n
		b.owners[e.owner] += n
		sp.since += n
		return nil
	}
}

// makeRoom deletes the oldest retired files other than e until n more
// bytes fit the budget, counting the files still being freed as gone,
// then waits once for their space when the room is theirs (waited).
// b.mu is held.
func (b *Budget) makeRoom(e *Entry, n int64) (waited bool, err error) {
	if b.limit <= 0 || b.used+b.freeing+n <= b.limit {
		return false, nil
	}
	// Delete nothing when deleting every retired file would not do.
	var retired int64
	for v := range b.entries {
		if v.retired && v != e {
			retired += v.size
		}
	}
	if b.used-retired+n > b.limit {
		return false, short(ErrOverBudget, b.limit-(b.used-retired))
	}
	for b.used+n > b.limit {
		v := b.oldest(e, nil)
		if v == nil {
			return false, short(ErrOverBudget, b.limit-b.used)
		}
		b.drop(v, true, "disk budget")
	}
	if b.used+b.freeing+n > b.limit {
		b.freed.Wait()
		return true, nil
	}
	return false, nil
}

// keepFree deletes the oldest retired files on e's filesystem other than
// e until n more bytes leave the minimum of free space, or waits once for
// the space of files being freed there when that will do (waited).
// b.mu is held.
func (b *Budget) keepFree(e *Entry, n int64, now time.Time) (waited bool, err error) {
	sp := e.space
	for {
		free, ok := sp.free(now)
		if !ok || free-n >= b.minFree {
			return false, nil
		}
		if sp.freeing > 0 && free+sp.freeing-n >= b.minFree {
			b.freed.Wait()
			return true, nil
		}
		v := b.oldest(e, sp)
		if v == nil {
			sp.refused += n
			if b.minFree == 0 {
				return false, short(ErrDiskFull, free)
			}
			return false, short(ErrLowSpace, free-b.minFree)
		}
		reason := "min free space"
		if b.minFree == 0 {
			reason = "disk full"
		}
		b.drop(v, true, reason)
	}
}

// shortError is a refusal of Reserve that says how many bytes would fit.
type shortError struct {
	err  error
	room int64
}

func (e *shortError) Error() string { return e.err.Error() }
func (e *shortError) Unwrap() error { return e.err }

// short returns err with the room left, when there is some.
func short(err error, room int64) error {
	if room <= 0 {
		return err
	}
	return &shortError{err: err, room: room}
}

// Room returns how many bytes a refused Reserve would have accepted at
// the time it refused: a writer can keep the whole lines that fit and
// drop only the rest. It is 0 for any other error.
func Room(err error) int64 {
	var s *shortError
	if errors.As(err, &s) {
		return s.room
	}
	return 0
}

// Unreserve gives back n bytes reserved but not written.
func (e *Entry) Unreserve(n int64) {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.gone {
		return
	}
	b.used -= n
	e.size -= n
	b.owners[e.owner] -= n
	e.space.since -= n
}

// SetHeld records that n of the bytes reserved to e are not on the disk
// yet: its writer holds them back for a moment (to end its writes on
// boundaries of the file). A free-space measure taken meanwhile does not
// see them, so the estimate counts them apart until they are written or
// given back (SetHeld(0), then Unreserve for those that failed).
func (e *Entry) SetHeld(n int64) {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	d := n - e.held
	e.held = n
	e.space.held += d
	e.space.since -= d
}

// SetSize records the file's size as measured (for files written by
// others, such as watched application logs).
func (e *Entry) SetSize(n int64) {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.gone {
		return
	}
	b.used += n - e.size
	b.owners[e.owner] += n - e.size
	e.size = n
}

// Size returns the bytes accounted to the file.
func (e *Entry) Size() int64 {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	return e.size
}

// NoSpace reports that a write to the file failed with ENOSPC. The budget
// deletes the oldest retired file on that filesystem, if any, and refuses
// writes there until the next free-space measure shows room, so a full disk
// costs no more than one failed write per measure interval.
func (e *Entry) NoSpace() {
	b := e.b
	b.mu.Lock()
	defer b.unlock()
	if v := b.oldest(e, e.space); v != nil {
		b.drop(v, true, "disk full")
		e.space.checked = time.Time{} // measure again at the next write
		return
	}
	e.space.full = true
	e.space.checked = time.Now()
}

// Retire marks the file as removable: when room is needed, retired files
// go oldest first, by since.
func (e *Entry) Retire(since time.Time) {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	e.retired, e.since, e.seq = true, since, b.seq
}

// Path returns the file's current path.
func (e *Entry) Path() string {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	return e.path
}

// Gone reports whether the budget deleted the file.
func (e *Entry) Gone() bool {
	e.b.mu.Lock()
	defer e.b.mu.Unlock()
	return e.gone
}

// Rename renames the file on disk (in the same directory) and in the
// budget, atomically with respect to deletions.
func (e *Entry) Rename(path string) error {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.gone {
		return ErrGone
	}
	if err := os.Rename(e.path, path); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	e.path = path
	return nil
}

// Remove deletes the file and untracks it (a deletion by its owner, such
// as rotation past the file count; not reported as a cleanup).
func (e *Entry) Remove() error {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if e.gone {
		return nil
	}
	return b.drop(e, true, "")
}

// Forget untracks the file without deleting it.
func (e *Entry) Forget() {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if !e.gone {
		b.drop(e, false, "")
	}
}

// Replace makes e take old's place, as a compressed copy takes the place
// of the file it was made from: old is deleted and e is retired with old's
// age. When the budget deleted old meanwhile, e is deleted instead and
// Replace returns false.
func (e *Entry) Replace(old *Entry) bool {
	b := e.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if old.gone || e.gone {
		if !e.gone {
			b.drop(e, true, "")
		}
		return false
	}
	e.retired, e.since, e.seq = true, old.since, old.seq
	b.drop(old, true, "")
	return true
}
