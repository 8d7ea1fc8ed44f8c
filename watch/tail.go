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
// Files found at start-up are tailed from their end; files created later
// from their start. A new file named like a rotated copy of another
// watched file (app.log.1 next to app.log, a .gz) holds old lines and is
// not tailed; binary files (.hprof, .gz, ...) are never tailed.
//
// Records are framed like program output (lines, long-line pieces, Java
// joining with the program's multiline setting) and go to the console and
// Fluentd with stream "file", never to tend's own files.

const (
	// tailTick is how often tailed files are read without an event: the
	// safety net, and the clock of joined records waiting for more.
	tailTick = 100 * time.Millisecond
	// tailDrainGrace is how long a file that left the watched set (renamed
	// away, deleted) is still read after its last new byte.
	tailDrainGrace = 3 * time.Second
	// sigLen is how many bytes before the read offset are compared to tell
	// a truncated or replaced file.
	sigLen = 64
	// copyMaxAge bounds the age of a copytruncate copy.
	copyMaxAge = 5 * time.Minute
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
	live     bool      // among the watcher's targets
	leftAt   time.Time // when it left them
	seq      uint64
}

type catchReq struct {
	id   procfs.FileID
	done chan struct{}
}

// tailer reads the tailed files on its own goroutine; in blocking mode it
// may wait on a slow sink, which never holds up the watcher.
type tailer struct {
	pl  *logship.Pipeline
	log *zap.Logger

	mu      sync.Mutex
	targets []tailTarget
	wake    chan struct{}
	catch   chan catchReq
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	running bool

	files map[procfs.FileID]*tailFile // the goroutine's own
	seq   uint64
}

func newTailer(pl *logship.Pipeline, log *zap.Logger) *tailer {
	return &tailer{
		pl:    pl,
		log:   log,
		wake:  make(chan struct{}, 1),
		catch: make(chan catchReq),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		files: map[procfs.FileID]*tailFile{},
	}
}

// update replaces the targets and wakes the tailer.
func (t *tailer) update(targets []tailTarget) {
	t.mu.Lock()
	t.targets = slices.Clone(targets)
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// catchUp asks the tailer to read what is in the file now, and waits for
// it at most timeout.
func (t *tailer) catchUp(ctx context.Context, id procfs.FileID, timeout time.Duration) {
	t.mu.Lock()
	running := t.running
	t.mu.Unlock()
	if !running {
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	req := catchReq{id: id, done: make(chan struct{})}
	select {
	case t.catch <- req:
	case <-timer.C:
		return
	case <-ctx.Done():
		return
	}
	select {
	case <-req.done:
	case <-timer.C:
	case <-ctx.Done():
	}
}

// run reads the files on every wake-up until stop, then reads them one
// last time and ends every record.
func (t *tailer) run() {
	defer close(t.done)
	t.mu.Lock()
	t.running = true
	t.mu.Unlock()
	tick := time.NewTicker(tailTick)
	defer tick.Stop()
	for {
		select {
		case <-t.quit:
			t.cycle()
			for _, tf := range t.files {
				t.close(tf)
			}
			return
		case req := <-t.catch:
			t.cycle()
			close(req.done)
			continue
		case <-t.wake:
		case <-tick.C:
		}
		t.cycle()
	}
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
	t.mu.Lock()
	targets := t.targets
	t.mu.Unlock()
	now := time.Now()
	byID := make(map[procfs.FileID]tailTarget, len(targets))
	for _, tg := range targets {
		byID[tg.id] = tg
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
	slices.SortFunc(order, func(a, b *tailFile) int {
		if a.live != b.live {
			if !a.live {
				return -1
			}
			return 1
		}
		return int(a.seq) - int(b.seq)
	})
	for _, tf := range order {
		t.read(tf)
	}
	slices.SortFunc(targets, func(a, b tailTarget) int { return cmpString(a.path, b.path) })
	for _, tg := range targets {
		if _, ok := t.files[tg.id]; !ok {
			if tf := t.open(tg); tf != nil {
				t.read(tf)
			}
		}
	}
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
	src := t.pl.Source(tg.program)
	t.seq++
	tf := &tailFile{
		id: tg.id, path: tg.path, f: f, live: true, seq: t.seq, lastData: time.Now(),
		prog: t.pl.Program(src),
		fr:   t.pl.NewFramer(src.Multiline),
	}
	if tg.fresh {
		tf.offset, tf.skipNUL = dataStart(f, st.Size), true
	} else {
		tf.offset = st.Size
		tf.sig = readSig(f, st.Size, nil)
	}
	t.files[tg.id] = tf
	return tf
}

// close reads nothing more from tf: its last incomplete record is handed
// on, and the file is closed.
func (t *tailer) close(tf *tailFile) {
	t.finish(tf)
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
	if st.Size < tf.offset || (len(tf.sig) > 0 && !bytes.Equal(readSig(tf.f, tf.offset, tf.sig), tf.sig)) {
		t.truncated(tf, st.Size)
	}
	for {
		off, n := t.pull(tf, tf.f, tf.offset, -1)
		tf.offset = off
		if n == 0 {
			return
		}
	}
}

// pull reads one buffer from r at off (up to end, when end >= 0), frames
// it and hands the whole records on. It returns the new offset and the
// number of bytes read.
func (t *tailer) pull(tf *tailFile, r *os.File, off, end int64) (int64, int) {
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
	if n == 0 {
		b.Release()
		return off, 0
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
	return off, n
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
	t.pl.Ship(b)
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
	recovered := len(tf.sig) > 0 && t.fromCopy(tf)
	t.finish(tf)
	tf.offset, tf.skipNUL = dataStart(tf.f, size), true
	tf.sig = tf.sig[:0]
	t.log.Info("tailed file truncated or rewritten; reading it from its start",
		zap.String("file", tf.path), zap.Bool("rest_from_copy", recovered))
}

// fromCopy looks for the copy copytruncate made of tf (a rotated sibling
// holding the same bytes before tf's offset) and reads its bytes past the
// offset. It reports whether it found one.
func (t *tailer) fromCopy(tf *tailFile) bool {
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
		c, err := os.Open(filepath.Join(dir, name))
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
				off, n = t.pull(tf, c, off, st.Size)
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

// openID opens path if it still names the file id.
func openID(path string, id procfs.FileID) (*os.File, unix.Stat_t, bool) {
	var st unix.Stat_t
	f, err := os.Open(path)
	if err != nil {
		return nil, st, false
	}
	if unix.Fstat(int(f.Fd()), &st) != nil || procfs.IDOf(&st) != id {
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
			return size // nothing but a hole
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
