package logship

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tend/config"
)

// reopenInterval is how often a file sink whose file could not be opened
// tries again; meanwhile its records are dropped and counted.
const reopenInterval = time.Second

// fileSink writes one program's records to <dir>/<program>.log, stdout and
// stderr merged in the order they were read. With the json format each
// line is the JSON object of the console (its "stream" field tells the
// streams apart); otherwise the file holds the program's bytes as it wrote
// them. The file is rotated before a record would take it past the
// rotation size, so files always end at a line boundary.
//
// Before each write the sink reserves the bytes in the disk budget; a
// refused write is dropped and counted, and the first write that succeeds
// afterwards starts with one marker line saying what was dropped. A write
// that fails (ENOSPC, EIO) is cut back to the last line boundary, dropped
// and counted the same way.
type fileSink struct {
	s    *Shipper
	prog *program
	q    *queue
	json bool

	path     string // <dir>/<program>.log
	rotateAt int64
	keep     int // rotated files kept
	f        *os.File
	live     *Entry
	size     int64
	lastNL   bool
	rotated  []rotatedFile // [0] is .1, the newest
	zipping  chan zipResult
	openedAt time.Time // last attempt to open the live file

	handled atomic.Int64 // bytes of batches written or dropped, for tests

	buf    []byte // json records, and a marker line with what follows it
	ts     []byte
	tsOf   time.Time
	lost   Drops // dropped since the last write that succeeded
	reason uint8 // why, a set of reason bits
	errLog bool  // a write error was logged since the last success

	done chan struct{}
	err  error
}

func newFileSink(s *Shipper, p *program) *fileSink {
	w := &fileSink{
		s:        s,
		prog:     p,
		q:        newQueue(s.cfg.Buffer, s.cfg.Mode == config.ModeBlocking),
		json:     s.cfg.Format == config.FormatJSON,
		path:     filepath.Join(s.cfg.Dir, p.name+".log"),
		rotateAt: rotationSize(s.cfg.FileSize, s.cfg.DiskBudget),
		keep:     s.cfg.FileCount - 1,
		lastNL:   true,
		done:     make(chan struct{}),
	}
	w.adoptRotated()
	w.open()
	return w
}

// rotationSize is the size at which files rotate: FileSize, but at most a
// quarter of the disk budget, so that with a budget smaller than FileSize
// the newest logs are still kept in several files rather than the live file
// filling the budget alone.
func rotationSize(fileSize, budget int64) int64 {
	if budget > 0 && fileSize > budget/4 {
		return max(budget/4, 4<<10)
	}
	return fileSize
}

func (w *fileSink) run() {
	defer close(w.done)
	for {
		it, ok := w.q.next(nil)
		if !ok {
			break
		}
		if it.lost.Lines > 0 {
			w.dropped(it.lost.Lines, it.lost.Bytes, reasonBuffer)
		}
		w.write(it.b)
		w.handled.Add(int64(len(it.b.data)))
		it.b.release()
	}
	w.finalMarker()
	w.err = w.finish()
}

// finalMarker writes the marker of drops that no later write carried, so
// that the file itself says lines are missing at its end, when there is
// room for that one line.
func (w *fileSink) finalMarker() {
	if w.lost.Lines == 0 || (w.f == nil && !w.open()) {
		return
	}
	out := w.withMarker(nil)
	if w.live.Reserve(int64(len(out))) != nil {
		return
	}
	n, err := w.f.Write(out)
	if err != nil {
		w.writeFailed(int64(len(out)), n, err)
		return
	}
	w.size += int64(n)
	w.lastNL = true
}

// write writes one batch, rotating between records as needed.
func (w *fileSink) write(b *batch) {
	if w.json {
		w.writeJSON(b)
		return
	}
	// Raw: runs of records are written straight from the batch.
	start, lines := int32(0), int64(0)
	for _, r := range b.recs {
		held := int64(r.off - start) // bytes of the records before r in this run
		if w.size+held+r.rawLen() > w.rotateAt && w.size+held > 0 {
			w.commit(b.data[start:r.off], lines, held)
			if w.size > 0 {
				w.rotate()
			}
			start, lines = r.off, 0
		}
		lines++
	}
	w.commit(b.data[start:], lines, int64(len(b.data))-int64(start))
}

func (w *fileSink) writeJSON(b *batch) {
	if !b.time.Equal(w.tsOf) || w.ts == nil {
		w.ts, w.tsOf = appendTime(w.ts[:0], b.time), b.time
	}
	w.buf = w.buf[:0]
	lines, raw := int64(0), int64(0)
	for _, r := range b.recs {
		mark := len(w.buf)
		w.buf = appendJSONRecord(w.buf, w.ts, w.prog.name, b.stream, b.message(r), r.partial(), false)
		if w.size+int64(len(w.buf)) <= w.rotateAt || (w.size == 0 && lines == 0) {
			lines++
			raw += r.rawLen()
			continue
		}
		if lines > 0 {
			w.commit(w.buf[:mark], lines, raw)
		}
		n := copy(w.buf, w.buf[mark:])
		w.buf = w.buf[:n]
		if w.size > 0 {
			w.rotate()
		}
		lines, raw = 1, r.rawLen()
	}
	w.commit(w.buf, lines, raw)
}

// commit writes p (lines records, raw bytes as the program wrote them),
// after the marker of earlier drops if there were any.
func (w *fileSink) commit(p []byte, lines, raw int64) {
	if lines == 0 {
		return
	}
	if w.f == nil && !w.open() {
		w.dropped(lines, raw, reasonError)
		return
	}
	out := p
	if w.lost.Lines > 0 {
		out = w.withMarker(p)
	}
	if err := w.reserve(int64(len(out))); err != nil {
		w.dropped(lines, raw, reasonOf(err))
		return
	}
	n, err := w.f.Write(out)
	if err != nil {
		w.writeFailed(int64(len(out)), n, err)
		w.dropped(lines, raw, reasonOf(err))
		return
	}
	w.size += int64(n)
	w.lastNL = out[len(out)-1] == '\n'
	if w.lost.Lines > 0 {
		w.s.log.Info("log file writing resumed", zap.String("program", w.prog.name),
			zap.Int64("dropped_lines", w.lost.Lines), zap.Int64("dropped_bytes", w.lost.Bytes))
		w.lost, w.reason, w.errLog = Drops{}, 0, false
	}
}

// reserve asks the budget for n bytes. When the budget is full and holds
// no retired file at all (every program's live file together fill it), the
// live file is rotated so that it can go, rather than refusing every write
// from now on.
func (w *fileSink) reserve(n int64) error {
	err := w.live.Reserve(n)
	if errors.Is(err, ErrOverBudget) && w.size >= w.rotateAt/4 {
		w.rotate()
		if w.f == nil {
			return err
		}
		err = w.live.Reserve(n)
	}
	return err
}

// withMarker returns the marker line of the drops so far followed by p.
func (w *fileSink) withMarker(p []byte) []byte {
	var out []byte
	if w.json {
		out = appendJSONRecord(nil, appendTime(nil, time.Now()), w.prog.name, Stdout,
			droppedText(nil, w.prog.name, w.lost, w.reason), false, true)
	} else {
		if !w.lastNL {
			out = append(out, '\n')
		}
		out = append(droppedText(out, w.prog.name, w.lost, w.reason), '\n')
	}
	return append(out, p...)
}

// writeFailed undoes a failed write of want bytes of which n were written:
// the file is cut back to its last line boundary and the bytes are given
// back to the budget.
func (w *fileSink) writeFailed(want int64, n int, err error) {
	if n > 0 {
		if terr := w.f.Truncate(w.size); terr != nil {
			// The partial bytes stay; account them as they are.
			w.size += int64(n)
			w.lastNL = false
			want -= int64(n)
		}
	}
	w.live.Unreserve(want)
	if errors.Is(err, syscall.ENOSPC) {
		w.live.NoSpace()
		return
	}
	if !w.errLog {
		w.errLog = true
		w.s.log.Error("writing log file", zap.String("file", w.path), zap.Error(err))
	}
}

// dropped counts records that did not reach the file.
func (w *fileSink) dropped(lines, raw int64, reason uint8) {
	if w.lost.Lines == 0 {
		w.s.log.Warn("dropping log file lines", zap.String("program", w.prog.name),
			zap.String("reason", reasonNames[bitIndex(reason)]))
	}
	w.lost.Lines += lines
	w.lost.Bytes += raw
	w.reason |= reason
	if reason != reasonBuffer { // buffer drops were counted when refused
		w.prog.stats.disk.add(lines, raw)
	}
}

func reasonOf(err error) uint8 {
	switch {
	case errors.Is(err, ErrOverBudget):
		return reasonBudget
	case errors.Is(err, ErrLowSpace):
		return reasonMinFree
	case errors.Is(err, ErrDiskFull), errors.Is(err, syscall.ENOSPC):
		return reasonNoSpace
	}
	return reasonError
}

func bitIndex(b uint8) int {
	for i := 0; i < 8; i++ {
		if b&(1<<i) != 0 {
			return i
		}
	}
	return 0
}

// open opens (or creates) the live file and tracks it; on failure it
// logs, and is tried again at most every reopenInterval.
func (w *fileSink) open() bool {
	now := time.Now()
	if !w.openedAt.IsZero() && now.Sub(w.openedAt) < reopenInterval {
		return false
	}
	w.openedAt = now
	// The directory may have been removed under a running tend.
	os.MkdirAll(filepath.Dir(w.path), 0o755)
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		w.s.log.Error("opening log file", zap.String("file", w.path), zap.Error(err))
		return false
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		w.s.log.Error("opening log file", zap.String("file", w.path), zap.Error(err))
		return false
	}
	w.f, w.size, w.openedAt = f, st.Size(), time.Time{}
	w.live = w.s.budget.Track(w.prog.name, w.path, w.size)
	return true
}

// finish waits for a running compression, then syncs and closes the file.
func (w *fileSink) finish() error {
	w.waitZip()
	if w.f == nil {
		return nil
	}
	var errs []error
	// EINVAL: the file cannot be synced (a device, such as /dev/null).
	if err := w.f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		errs = append(errs, fmt.Errorf("logship: log file: %w", err))
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("logship: log file: %w", err))
	}
	w.f = nil
	return errors.Join(errs...)
}
