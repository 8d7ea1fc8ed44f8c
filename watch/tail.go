package watch

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/logship"
	"tend/procfs"
	"tend/watch/watchable"
)

// Tailing watched files into the pipeline (TEND_LOG_TAIL).
//
// A tailed file is followed by its inode, not its name, so a rotation
// loses nothing and repeats nothing:
//   - by rename (logback, java.util.logging, the JVM's GC log, logrotate's
//     create): the renamed file is read to its end first (a program that
//     writes on until it reopens is waited for a few seconds), then the
//     new file from its start;
//   - by copytruncate: when the file shrinks (or its bytes before the read
//     offset change), the lines written after tend's last read are taken
//     from the copy (a rotated sibling that holds the same bytes at that
//     offset), then the file is read again from its start.
//
// The watcher opens every file it is to tail the moment it finds it, and
// hands the descriptor over: the tailer reads the file through it even
// when the file is renamed away or deleted (the budget deleting a rotated
// file) before the tailer gets to it, on a busy machine or behind a slow
// console. It holds, the same way, every new rotated sibling of a tailed
// file (a copytruncate copy, or a file rotated before tend saw it under the
// live name) until it knows it does not need it, so that the budget never
// deletes lines the tailer has not read: a deleted file keeps its disk
// space only until the tailer read it.
//
// Files found at start-up are tailed from their end; files created later
// from their start. A new file named like a rotated copy of another
// watched file (app.log.1 next to app.log, a .gz) holds old lines and is
// not tailed; binary files (.hprof, .gz, ...) are never tailed.
//
// Records are framed like program output (lines, long-line pieces, Java
// joining with the program's multiline setting) and go to the console and
// Fluentd with stream "file", never to tend's own files.

const (
	// tailTick is how often tailed files are read without an event while
	// something waits (a joined record waiting for more, a file that left
	// its live path, a copy held) or files were read from lately.
	tailTick = 100 * time.Millisecond
	// tailIdleTick is how often they are read when nothing waits and
	// nothing was read: the safety net for writes no event tells (through
	// a memory mapping). The watcher wakes the tailer at every change it
	// sees; rounds of reading every file every tailTick cost 12 % of a CPU
	// with 1,000 files tailed.
	tailIdleTick = 2 * time.Second
	// tailDrainGrace is how long a file that left the watched set (renamed
	// away, deleted) is still read after its last new byte.
	tailDrainGrace = 3 * time.Second
	// sigLen is how many bytes before the read offset are compared to tell
	// a truncated or replaced file.
	sigLen = 4096
	// copyMaxAge bounds the age of a copytruncate copy.
	copyMaxAge = 5 * time.Minute
	// copyHold bounds how long the tailer holds a rotated sibling it has
	// not needed (when it never learns that it does not need it).
	copyHold = time.Minute
	// shipQueue is how many batches (of up to 64 KiB) read from the files
	// may wait for the sinks, and about how many a round of reading may
	// read before they are handed on: the reading waits on a slow console
	// only once they are full. The budget's read of a file before it
	// truncates it never waits on the console (it adds to the batches
	// waiting; what it reads is bounded by the budget itself).
	shipQueue = 64
)

// tailTarget is a file the watcher wants tailed.
type tailTarget struct {
	path    string
	id      procfs.FileID
	program string
	fresh   bool // first seen after start-up: from its start
}

// tailFile is one file being read.
type tailFile struct {
	id       procfs.FileID
	path     string
	f        *os.File
	prog     *logship.Program
	fr       logship.Framer
	offset   int64
	carry    []byte // bytes read but not yet a whole record
	sig      []byte // the last bytes read, ending at offset
	skipNUL  bool   // after a reset: skip the hole a non-appending writer leaves
	lastData time.Time
	livePath string    // the path it had as a target
	readAt   time.Time // when it was last read with no truncation found
	live     bool      // among the watcher's targets
	leftAt   time.Time // when it left them
	seq      uint64
	// known holds, from a truncation found until the first bytes read
	// after it, the rotated siblings that existed when it was found: a
	// copy made since, of other bytes than the file now starts with, is
	// a generation written and rotated away in between.
	known map[procfs.FileID]bool
}

// handover is a descriptor the watcher opened for the tailer: of a file to
// tail (copy false), or of a new rotated sibling of a tailed file (copy
// true).
type handover struct {
	tg   tailTarget
	f    *os.File
	copy bool
}

// heldCopy is a new rotated sibling of a tailed file that the tailer
// holds open: it may be the copy copytruncate made, or a file rotated
// away before tend saw it under the live name.
type heldCopy struct {
	id    procfs.FileID
	path  string // where it was found
	f     *os.File
	size  int64
	mtime time.Time
	at    time.Time // when it was handed over
}

// generation is the last file read under a live path.
type generation struct {
	id    procfs.FileID
	mtime time.Time
}

// tailer reads the tailed files on its own goroutine; in blocking mode it
// may wait on a slow sink, which never holds up the watcher.
type tailer struct {
	pl  *logship.Pipeline
	log *zap.Logger

	mu      sync.Mutex
	targets []tailTarget
	handed  []handover
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	running bool
	out     chan *logship.Batch
	shipped chan struct{}

	// reading is held by whoever reads the files: the tailer's goroutine,
	// or the watcher catching up on a file before the budget truncates
	// it. Everything below is guarded by it. The goroutine never holds it
	// while it waits for the sinks: what is read goes to backlog first.
	reading  sync.Mutex
	backlog  []*logship.Batch
	stopped  bool
	catching bool                   // reading for the budget or a last time: no backlog limit
	more     bool                   // the last round stopped at a full backlog
	started  time.Time              // files changed before are not generations it missed
	pending  map[procfs.FileID]bool // handed over to tail, not yet started
	files    map[procfs.FileID]*tailFile
	copies   map[procfs.FileID]*heldCopy
	gens     map[string]generation // by live path
	// seen holds the files read, by inode, so that one found again under
	// a rotated name is not taken for a generation never read; a file's
	// entry goes when it is deleted (its inode may be used again).
	seen map[procfs.FileID]time.Time
	seq  uint64
}

func newTailer(pl *logship.Pipeline, log *zap.Logger) *tailer {
	return &tailer{
		pl:      pl,
		log:     log,
		wake:    make(chan struct{}, 1),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		started: time.Now(),
		pending: map[procfs.FileID]bool{},
		out:     make(chan *logship.Batch, shipQueue),
		shipped: make(chan struct{}),
		files:   map[procfs.FileID]*tailFile{},
		copies:  map[procfs.FileID]*heldCopy{},
		gens:    map[string]generation{},
		seen:    map[procfs.FileID]time.Time{},
	}
}

// update replaces the targets, takes the descriptors handed over with
// them, and wakes the tailer.
func (t *tailer) update(targets []tailTarget, handed []handover) {
	t.mu.Lock()
	t.targets = slices.Clone(targets)
	t.handed = append(t.handed, handed...)
	t.mu.Unlock()
	t.poke()
}

// poke wakes the tailer: files changed, the targets did not.
func (t *tailer) poke() {
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// catchUp reads what is in the file id now, for the budget about to
// truncate it, on the caller's goroutine: it waits only for a read of the
// tailer's in progress, never for the sinks (what it reads joins the
// batches waiting for them).
func (t *tailer) catchUp(id procfs.FileID) {
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	if !running {
		return
	}
	t.reading.Lock()
	defer t.reading.Unlock()
	if t.stopped {
		return
	}
	t.catching = true
	if !t.readOnly(id) {
		t.cycle()
	}
	t.catching = false
}

// run reads the files on every wake-up until stop, then reads them one
// last time and ends every record.
func (t *tailer) run() {
	defer close(t.done)
	t.mu.Lock()
	t.running = true
	t.mu.Unlock()
	go t.ship()
	tick := time.NewTimer(tailTick)
	defer tick.Stop()
	wait := tailTick
	now := make(chan struct{})
	close(now)
	for {
		t.handOn()
		// After a round cut short, the next one at once.
		var again <-chan struct{}
		t.reading.Lock()
		if t.more {
			again = now
		}
		t.reading.Unlock()
		select {
		case <-t.quit:
			t.reading.Lock()
			t.catching = true
			t.cycle()
			for _, tf := range t.files {
				t.close(tf)
			}
			for _, c := range t.copies {
				t.release(c)
			}
			t.mu.Lock()
			for _, h := range t.handed {
				h.f.Close()
			}
			t.handed = nil
			t.mu.Unlock()
			t.stopped = true
			t.reading.Unlock()
			t.handOn()
			close(t.out)
			<-t.shipped
			return
		case <-t.wake:
			wait = tailTick
		case <-tick.C:
		case <-again:
		}
		began := time.Now()
		t.reading.Lock()
		t.cycle()
		quiet := t.quiet(began)
		t.reading.Unlock()
		// Every tailTick while there is something to read or to wait
		// for; then less and less often, up to tailIdleTick.
		if !quiet {
			wait = tailTick
		} else {
			wait = min(2*wait, tailIdleTick)
		}
		tick.Reset(wait)
	}
}

// quiet reports whether the round of reading that began at began found
// nothing to do: no byte read, no round cut short, no descriptor waiting
// to be taken, no copy held, no file that left its live path, no record
// waiting for more lines.
func (t *tailer) quiet(began time.Time) bool {
	if t.more || len(t.copies) > 0 {
		return false
	}
	if t.handedWaiting() {
		return false
	}
	for _, tf := range t.files {
		if !tf.live || !tf.lastData.Before(began) || tf.fr.Pending() || len(tf.carry) > 0 || tf.known != nil {
			return false
		}
	}
	return true
}

// handedWaiting reports whether descriptors handed over by the watcher
// wait to be taken.
func (t *tailer) handedWaiting() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.handed) > 0
}

// handOn hands the batches read to the shipper, in order, waiting for it
// when shipQueue batches wait already; it holds no lock meanwhile.
func (t *tailer) handOn() {
	for {
		t.reading.Lock()
		backlog := t.backlog
		t.backlog = nil
		t.reading.Unlock()
		if len(backlog) == 0 {
			return
		}
		for _, b := range backlog {
			t.out <- b
		}
	}
}

// full reports whether a round of reading should stop and let the
// batches read go to the sinks first.
func (t *tailer) full() bool {
	return !t.catching && len(t.backlog) >= shipQueue
}

// ship hands the batches read to the sinks, in order, on a goroutine of
// its own: in blocking mode a slow sink holds it up, and the reading only
// once shipQueue batches wait.
func (t *tailer) ship() {
	defer close(t.shipped)
	for b := range t.out {
		t.pl.Ship(b)
	}
}

// readOnly reads the file id alone, for the budget about to truncate it,
// when that keeps the order of the lines: no file that left its live path
// waits to be read before it, and no descriptor handed over waits. It
// reports whether it did.
func (t *tailer) readOnly(id procfs.FileID) bool {
	tf := t.files[id]
	if tf == nil {
		return false
	}
	if t.handedWaiting() {
		return false
	}
	for _, other := range t.files {
		if other != tf && !other.live && other.livePath == tf.livePath {
			return false
		}
	}
	t.read(tf)
	return true
}

// stop ends the goroutine after its last read, waiting at most until ctx
// is done.
func (t *tailer) stop(ctx context.Context) {
	t.once.Do(func() { close(t.quit) })
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	if !running {
		return
	}
	select {
	case <-t.done:
	case <-ctx.Done():
	}
}

// cycle reads every tailed file: files that left the targets first (a
// renamed file's last lines come before the new file's first), then the
// rest, then new targets.
func (t *tailer) cycle() {
	t.more = true // until it gets to the end
	t.mu.Lock()
	targets := t.targets
	handed := t.handed
	t.handed = nil
	t.mu.Unlock()
	now := time.Now()
	byID := make(map[procfs.FileID]tailTarget, len(targets))
	for _, tg := range targets {
		byID[tg.id] = tg
	}
	// The copies first: a new file to tail may follow a generation that
	// only a copy holds.
	clear(t.pending)
	for _, h := range handed {
		if !h.copy {
			t.pending[h.tg.id] = true
		}
	}
	for _, h := range handed {
		if h.copy {
			if t.pending[h.tg.id] {
				h.f.Close()
				continue
			}
			t.holdCopy(h)
		}
	}
	for _, h := range handed {
		if !h.copy {
			t.adopt(h, now)
		}
	}
	order := make([]*tailFile, 0, len(t.files))
	for id, tf := range t.files {
		if tg, ok := byID[id]; ok {
			tf.path, tf.live, tf.leftAt = tg.path, true, time.Time{}
		} else if tf.live {
			tf.live, tf.leftAt = false, now
		}
		order = append(order, tf)
	}
	// Files that left first, in the order of their last writes: the
	// generations of a live path one after another.
	mtimes := make(map[*tailFile]time.Time, len(order))
	for _, tf := range order {
		var st unix.Stat_t
		if !tf.live && unix.Fstat(int(tf.f.Fd()), &st) == nil {
			mtimes[tf] = mtimeOf(&st)
		}
	}
	slices.SortFunc(order, func(a, b *tailFile) int {
		if a.live != b.live {
			if !a.live {
				return -1
			}
			return 1
		}
		if c := mtimes[a].Compare(mtimes[b]); c != 0 {
			return c
		}
		return int(a.seq) - int(b.seq)
	})
	for _, tf := range order {
		t.read(tf)
		if t.full() {
			// The rest when the sinks took these: a file is never
			// closed (nor a generation after it read) before it was
			// read to its end.
			return
		}
	}
	slices.SortFunc(targets, func(a, b tailTarget) int { return cmpString(a.path, b.path) })
	for _, tg := range targets {
		if _, ok := t.files[tg.id]; !ok {
			if tf := t.open(tg); tf != nil {
				t.read(tf)
				if t.full() {
					return
				}
			}
		}
	}
	t.more = false
	t.releaseCopies(now)
	t.forgetSeen(now)
	for _, tf := range order {
		if tf.live {
			continue
		}
		var st unix.Stat_t
		gone := unix.Fstat(int(tf.f.Fd()), &st) != nil || st.Nlink == 0
		if gone || now.Sub(maxTime(tf.leftAt, tf.lastData)) >= tailDrainGrace {
			t.close(tf)
		}
	}
	// Joined records waiting for a next line that does not come.
	for _, tf := range t.files {
		if tf.fr.Pending() && now.Sub(tf.lastData) >= logship.FlushDelay {
			t.flushPending(tf)
		}
	}
}

// open starts tailing a target.
func (t *tailer) open(tg tailTarget) *tailFile {
	f, st, ok := openID(tg.path, tg.id)
	if !ok {
		// Rotated away since the watcher saw it: it is in the same
		// directory under another name.
		if f, st, ok = findID(filepath.Dir(tg.path), tg.id); !ok {
			return nil
		}
		tg.path = f.Name()
	}
	return t.start(tg, f, &st, true)
}

// adopt starts tailing a file through the descriptor the watcher handed
// over; a file already tailed keeps its own. A file no longer among the
// targets (renamed away since) is read to its end like any that left.
func (t *tailer) adopt(h handover, now time.Time) {
	delete(t.pending, h.tg.id)
	if _, ok := t.files[h.tg.id]; ok {
		h.f.Close()
		return
	}
	if c := t.copies[h.tg.id]; c != nil {
		t.release(c)
	}
	var st unix.Stat_t
	if unix.Fstat(int(h.f.Fd()), &st) != nil {
		h.f.Close()
		return
	}
	tf := t.start(h.tg, h.f, &st, true)
	t.mu.Lock()
	live := slices.ContainsFunc(t.targets, func(tg tailTarget) bool { return tg.id == h.tg.id })
	t.mu.Unlock()
	if !live {
		tf.live, tf.leftAt = false, now
	}
}

// start follows f, the file tg names, from its start when tg is fresh,
// else from its end. A fresh file that takes the place of another under
// the same live path comes after the rotated siblings written since that
// one (generations rotated away before tend saw them): those are read
// first, whole.
func (t *tailer) start(tg tailTarget, f *os.File, st *unix.Stat_t, live bool) *tailFile {
	tf := t.newTailFile(tg, f)
	tf.live = live
	if tg.fresh {
		if g, ok := t.gens[tg.path]; !ok || g.id != tg.id {
			// A first file there too: files created since tend started
			// and rotated before it saw them come before it.
			if !ok {
				g.mtime = t.started
			}
			t.findMissed(tf, g)
			t.missedGenerations(tf, g, tg)
		}
		tf.offset, tf.skipNUL, tf.sig = dataStart(f, st.Size), true, nil
	} else {
		tf.offset = st.Size
		tf.sig = readSig(f, st.Size, nil)
	}
	t.files[tg.id] = tf
	t.seen[tg.id] = time.Now()
	return tf
}

// newTailFile is a file to read as tg says, through f.
func (t *tailer) newTailFile(tg tailTarget, f *os.File) *tailFile {
	src := t.pl.Source(tg.program)
	t.seq++
	return &tailFile{
		id: tg.id, path: tg.path, livePath: tg.path, f: f, live: true, seq: t.seq, lastData: time.Now(),
		prog: t.pl.Program(src),
		fr:   t.pl.NewFramer(src.Multiline),
	}
}

// holdCopy keeps a new rotated sibling of a tailed file open until the
// tailer knows whether it needs it.
func (t *tailer) holdCopy(h handover) {
	var st unix.Stat_t
	_, read := t.seen[h.tg.id]
	if _, ok := t.files[h.tg.id]; ok || read || unix.Fstat(int(h.f.Fd()), &st) != nil {
		h.f.Close()
		return
	}
	if old := t.copies[h.tg.id]; old != nil {
		old.f.Close()
	}
	t.copies[h.tg.id] = &heldCopy{id: h.tg.id, path: h.tg.path, f: h.f, size: st.Size, mtime: mtimeOf(&st), at: time.Now()}
}

func (t *tailer) release(c *heldCopy) {
	c.f.Close()
	delete(t.copies, c.id)
	t.seen[c.id] = time.Now()
}

// forgetSeen lets go of the files read longer than copyMaxAge ago and
// closed since.
func (t *tailer) forgetSeen(now time.Time) {
	for id, at := range t.seen {
		if _, open := t.files[id]; !open && now.Sub(at) >= copyMaxAge {
			delete(t.seen, id)
		}
	}
}

// siblingCopies returns the held copies that are rotated siblings of the
// live file at path, written after since, oldest first.
func (t *tailer) siblingCopies(path string, since time.Time) []*heldCopy {
	dir, base := filepath.Split(path)
	var out []*heldCopy
	for _, c := range t.copies {
		// Now, not when it was handed over: a copy may have been found
		// while it was being written.
		var st unix.Stat_t
		if unix.Fstat(int(c.f.Fd()), &st) == nil {
			c.size, c.mtime = st.Size, mtimeOf(&st)
		}
		cdir, cbase := filepath.Split(c.path)
		if cdir == dir && rotatedSibling(cbase, base) && c.mtime.After(since) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *heldCopy) int { return a.mtime.Compare(b.mtime) })
	return out
}

// findMissed holds the rotated siblings of tf's live path that were
// written after g and that the tailer has not read: files that were under
// the live path and that tend never saw there (the watcher may see them
// only after the new file, or never: a listing of a directory in the
// middle of a rotation can miss a file).
func (t *tailer) findMissed(tf *tailFile, g generation) {
	dir, base := filepath.Split(tf.livePath)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		name := e.Name()
		if !rotatedSibling(name, base) || !tailable(name) {
			continue
		}
		path := filepath.Join(dir, name)
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || !mtimeOf(&st).After(g.mtime) {
			continue
		}
		id := procfs.IDOf(&st)
		_, tailed := t.files[id]
		_, read := t.seen[id]
		_, held := t.copies[id]
		if tailed || read || held || id == tf.id || t.pending[id] {
			continue
		}
		if f, ok := openFor(path, id); ok {
			t.holdCopy(handover{tg: tailTarget{path: path, id: id}, f: f, copy: true})
		}
	}
}

// missedGenerations reads, whole and in order, the files that were under
// tf's live path after g, the last file tailed there, and that tend never
// saw under that name: the rotated siblings written after g's last write.
func (t *tailer) missedGenerations(tf *tailFile, g generation, tg tailTarget) {
	now := time.Now()
	for _, c := range t.siblingCopies(tf.livePath, g.mtime) {
		if c.id == tf.id || t.pending[c.id] {
			continue
		}
		if samePrefix(tf.f, c.f, c.size) {
			// A copy of this very file, not yet truncated: it is read
			// from the file.
			break
		}
		// Read like a file that left the live path: before the live
		// file, in the order of the last writes.
		delete(t.copies, c.id)
		old := t.newTailFile(tailTarget{path: c.path, id: c.id, program: tg.program}, c.f)
		old.livePath, old.live, old.leftAt = tf.livePath, false, now
		old.offset, old.skipNUL = dataStart(c.f, c.size), true
		t.files[c.id] = old
		t.seen[c.id] = now
	}
}

// readWhole reads all of c as the lines of tf, and lets c go.
func (t *tailer) readWhole(tf *tailFile, c *heldCopy) {
	off := dataStart(c.f, c.size)
	for {
		var n int
		off, n, _ = t.pull(tf, c.f, off, c.size)
		if n == 0 {
			break
		}
	}
	t.finish(tf)
	t.release(c)
	t.seen[c.id] = time.Now()
}

// releaseCopies lets go of the held copies the tailer does not need: those
// whose bytes the live file they were copied from was read past (no
// truncation since), and those held for longer than copyHold.
func (t *tailer) releaseCopies(now time.Time) {
	for _, c := range t.copies {
		if now.Sub(c.at) >= copyHold {
			t.release(c)
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(int(c.f.Fd()), &st) == nil {
			c.size, c.mtime = st.Size, mtimeOf(&st)
		}
		dir, cbase := filepath.Split(c.path)
		for _, tf := range t.files {
			ldir, lbase := filepath.Split(tf.livePath)
			// The copy was complete (its last write some milliseconds
			// before, for the coarse clock of file times) when a read of
			// the live file began that found it not truncated and went
			// past the copy's end.
			if tf.live && ldir == dir && rotatedSibling(cbase, lbase) && tf.readAt.After(c.mtime.Add(10*time.Millisecond)) &&
				len(tf.sig) > 0 && tf.offset >= c.size {
				t.release(c)
				break
			}
		}
	}
}

// close reads nothing more from tf: its last incomplete record is handed
// on, and the file is closed.
func (t *tailer) close(tf *tailFile) {
	t.finish(tf)
	t.noteGeneration(tf)
	var st unix.Stat_t
	if unix.Fstat(int(tf.f.Fd()), &st) != nil || st.Nlink == 0 {
		delete(t.seen, tf.id)
	} else {
		t.seen[tf.id] = time.Now()
	}
	tf.f.Close()
	delete(t.files, tf.id)
}

// read reads tf from its offset to its end, after checking that the bytes
// before the offset are still the ones read (else the file was truncated
// or replaced in place).
func (t *tailer) read(tf *tailFile) {
	var st unix.Stat_t
	if unix.Fstat(int(tf.f.Fd()), &st) != nil {
		return
	}
	began := time.Now()
	cut := st.Size < tf.offset || (len(tf.sig) > 0 && !bytes.Equal(readSig(tf.f, tf.offset, tf.sig), tf.sig))
	if cut {
		t.truncated(tf, st.Size)
	}
	for {
		off, n, moved := t.pull(tf, tf.f, tf.offset, -1)
		if moved {
			// Truncated (and maybe written past the offset again) while
			// this loop read it: what was read at the old offset may be
			// the next generation's.
			cut = true
			size := int64(0)
			if unix.Fstat(int(tf.f.Fd()), &st) == nil {
				size = st.Size
			}
			t.truncated(tf, size)
			continue
		}
		tf.offset = off
		if n == 0 || t.full() {
			break
		}
	}
	if !cut {
		tf.readAt = began
	}
	t.noteGeneration(tf)
}

// noteGeneration remembers tf as the last file read under its live path,
// with its last write.
func (t *tailer) noteGeneration(tf *tailFile) {
	var st unix.Stat_t
	if unix.Fstat(int(tf.f.Fd()), &st) != nil {
		return
	}
	if g, ok := t.gens[tf.livePath]; ok && g.id != tf.id && !tf.live {
		// A file that left: the one now under the path is newer.
		return
	}
	t.gens[tf.livePath] = generation{id: tf.id, mtime: mtimeOf(&st)}
}

// pull reads one buffer from r at off (up to end, when end >= 0), frames
// it and hands the whole records on. It returns the new offset and the
// number of bytes read. Reading tf's own file, it reports moved, and
// hands nothing on, when the bytes before off are no longer the ones read
// last: the file was truncated before or while the buffer was read, and
// the buffer may hold a later generation's bytes at the old offset (a
// copytruncate rotation and a fast writer between two reads).
func (t *tailer) pull(tf *tailFile, r *os.File, off, end int64) (int64, int, bool) {
	b := t.pl.NewBatch(tf.prog, logship.File, len(tf.carry)+logship.ReadSize)
	b.File = tf.path
	b.Data = append(b.Data, tf.carry...)
	start := len(b.Data)
	room := b.Data[start:cap(b.Data)]
	if end >= 0 && int64(len(room)) > end-off {
		room = room[:max(end-off, 0)]
	}
	n, err := r.ReadAt(room, off)
	if err != nil && !errors.Is(err, io.EOF) {
		t.log.Warn("reading a tailed file", zap.String("file", tf.path), zap.Error(err))
	}
	if r == tf.f && len(tf.sig) > 0 && !bytes.Equal(readSig(r, off, tf.sig), tf.sig) {
		// Checked after the read: a truncation before it shows now.
		b.Release()
		return off, 0, true
	}
	if n == 0 {
		b.Release()
		return off, 0, false
	}
	if r == tf.f && tf.known != nil {
		t.skippedGenerations(tf, b.Data[start:start+n])
	}
	off += int64(n)
	chunk := b.Data[start : start+n]
	if tf.skipNUL {
		k := 0
		for k < len(chunk) && chunk[k] == 0 {
			k++
		}
		if k > 0 {
			copy(chunk, chunk[k:])
			chunk = chunk[:len(chunk)-k]
		}
		if len(chunk) > 0 {
			tf.skipNUL = false
		}
	}
	b.Data = b.Data[:start+len(chunk)]
	tf.sig = append(tf.sig[:0], b.Data[max(len(b.Data)-sigLen, 0):]...)
	tf.lastData = time.Now()
	b.Records = tf.fr.Frame(b.Data, b.Records)
	t.emit(tf, b)
	return off, n, false
}

// emit ships the whole records of b and keeps the rest in tf.carry.
func (t *tailer) emit(tf *tailFile, b *logship.Batch) {
	cut := tf.fr.Cut()
	tf.carry = append(tf.carry[:0], b.Data[cut:]...)
	b.Data = b.Data[:cut]
	tf.fr.Shift(cut)
	if len(b.Records) == 0 {
		b.Release()
		return
	}
	t.backlog = append(t.backlog, b)
}

// flushPending hands on a joined record that waited long enough.
func (t *tailer) flushPending(tf *tailFile) {
	b := t.pl.NewBatch(tf.prog, logship.File, len(tf.carry))
	b.File = tf.path
	b.Data = append(b.Data, tf.carry...)
	b.Records = tf.fr.Flush(b.Records)
	t.emit(tf, b)
}

// finish hands on everything left in tf.carry, a last line without its
// newline included.
func (t *tailer) finish(tf *tailFile) {
	if len(tf.carry) == 0 && !tf.fr.Pending() {
		return
	}
	b := t.pl.NewBatch(tf.prog, logship.File, len(tf.carry))
	b.File = tf.path
	b.Data = append(b.Data, tf.carry...)
	b.Records = tf.fr.Finish(b.Data, b.Records)
	t.emit(tf, b)
	tf.fr.Reset()
}

// truncated handles a file cut shorter (copytruncate, the budget, a
// program starting over) or rewritten in place: what was written after the
// last read is taken from a copy when one exists, then the file is read
// from its start.
func (t *tailer) truncated(tf *tailFile, size int64) {
	// The copies made since, some maybe before the watcher saw them.
	t.findMissed(tf, generation{mtime: t.started})
	recovered := len(tf.sig) > 0 && t.fromCopy(tf)
	t.finish(tf)
	tf.offset, tf.skipNUL = dataStart(tf.f, size), true
	tf.sig = tf.sig[:0]
	tf.known = make(map[procfs.FileID]bool, len(t.copies))
	for id := range t.copies {
		tf.known[id] = true
	}
	t.log.Info("tailed file truncated or rewritten; reading it from its start",
		zap.String("file", tf.path), zap.Bool("rest_from_copy", recovered))
}

// fromCopy looks for the copy copytruncate made of tf (a rotated sibling
// holding the same bytes before tf's offset) and reads its bytes past the
// offset. It reports whether it found one.
func (t *tailer) fromCopy(tf *tailFile) bool {
	for _, c := range t.siblingCopies(tf.livePath, time.Time{}) {
		if c.size < tf.offset || !bytes.Equal(readSig(c.f, tf.offset, tf.sig), tf.sig) {
			continue
		}
		off := tf.offset
		for {
			var n int
			off, n, _ = t.pull(tf, c.f, off, c.size)
			if n == 0 {
				break
			}
		}
		used := c.mtime
		t.release(c)
		t.seen[c.id] = time.Now()
		// Copies made after this one hold generations the tailer never
		// saw in the live file, each read whole, in order; up to the one
		// the live file still is (copied, not yet truncated), which is
		// read from the live file.
		for _, later := range t.siblingCopies(tf.livePath, used) {
			if samePrefix(tf.f, later.f, later.size) {
				break
			}
			t.finish(tf)
			t.readWhole(tf, later)
		}
		// Older ones are not needed any more.
		for _, old := range t.siblingCopies(tf.livePath, time.Time{}) {
			if !old.mtime.After(used) {
				t.release(old)
			}
		}
		return true
	}
	dir, base := filepath.Split(tf.path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !tailable(name) || !rotatedSibling(name, base) {
			continue
		}
		c, _, err := watchable.Open(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		var st unix.Stat_t
		ok := unix.Fstat(int(c.Fd()), &st) == nil && procfs.IDOf(&st) != tf.id && st.Size >= tf.offset &&
			time.Since(mtimeOf(&st)) < copyMaxAge && bytes.Equal(readSig(c, tf.offset, tf.sig), tf.sig)
		if ok {
			off := tf.offset
			for {
				var n int
				off, n, _ = t.pull(tf, c, off, st.Size)
				if n == 0 {
					break
				}
			}
		}
		c.Close()
		if ok {
			return true
		}
	}
	return false
}

// skippedGenerations reads, whole and in order, the copies made of the
// generations that were written to tf's file and rotated away between the
// truncation the tailer found and its first read after it (head is what
// that read found at the start of the file): on a busy machine a
// copytruncate rotation can come in between. A copy that starts like head
// is of the generation being read (from the file itself); an empty one is
// being made. A generation rotated away is copied whole before its file
// is truncated, so before head was read.
func (t *tailer) skippedGenerations(tf *tailFile, head []byte) {
	known := tf.known
	tf.known = nil
	t.findMissed(tf, generation{mtime: t.started})
	skipNUL := tf.skipNUL
	head = head[:min(len(head), 4096)]
	for _, c := range t.siblingCopies(tf.livePath, time.Time{}) {
		if known[c.id] || c.size == 0 {
			continue
		}
		n := min(int64(len(head)), c.size)
		buf := make([]byte, n)
		if k, _ := c.f.ReadAt(buf, 0); int64(k) != n || bytes.Equal(buf, head[:n]) {
			break
		}
		t.log.Info("reading a generation of a tailed file rotated away before it was read",
			zap.String("file", tf.path), zap.String("copy", c.path))
		t.readWhole(tf, c)
	}
	tf.skipNUL = skipNUL
}

// samePrefix reports whether live starts with the same bytes as the copy
// c of size n: the live file is still the generation c copied.
func samePrefix(live, c *os.File, n int64) bool {
	n = min(n, 4096)
	a, b := make([]byte, n), make([]byte, n)
	ka, _ := live.ReadAt(a, 0)
	kb, _ := c.ReadAt(b, 0)
	return int64(ka) == n && int64(kb) == n && bytes.Equal(a, b)
}

// openID opens path if it still names the file id.
func openID(path string, id procfs.FileID) (*os.File, unix.Stat_t, bool) {
	f, st, err := watchable.Open(path)
	if err != nil {
		return nil, st, false
	}
	if procfs.IDOf(&st) != id {
		f.Close()
		return nil, st, false
	}
	return f, st, true
}

// findID opens the file id in dir, whatever its name.
func findID(dir string, id procfs.FileID) (*os.File, unix.Stat_t, bool) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		var st unix.Stat_t
		path := filepath.Join(dir, e.Name())
		if unix.Lstat(path, &st) == nil && procfs.IDOf(&st) == id {
			return openID(path, id)
		}
	}
	return nil, unix.Stat_t{}, false
}

// readSig returns the sigLen bytes (fewer near the start) before off in
// f; with like set, as many as like holds.
func readSig(f *os.File, off int64, like []byte) []byte {
	n := int64(sigLen)
	if like != nil {
		n = int64(len(like))
	}
	n = min(n, off)
	if n <= 0 {
		return nil
	}
	buf := make([]byte, n)
	if k, _ := f.ReadAt(buf, off-n); int64(k) != n {
		return nil
	}
	return buf
}

// dataStart is the first offset of f holding data: a program that does
// not append writes on at its old offset after a truncation, and the file
// starts with a hole.
func dataStart(f *os.File, size int64) int64 {
	off, err := unix.Seek(int(f.Fd()), 0, unix.SEEK_DATA)
	if err != nil {
		if errors.Is(err, unix.ENXIO) {
			// Nothing but a hole, or nothing: its size now, not as
			// measured before (a file cut again since is empty).
			var st unix.Stat_t
			if unix.Fstat(int(f.Fd()), &st) == nil {
				size = st.Size
			}
			return size
		}
		return 0
	}
	return off
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
