// Package logfile is the sink that writes each program's records to its
// own file, <dir>/<program>.log, rotated at a size into <program>.log.1 ...
// (gzipped when asked), with every byte under the disk budget: before each
// write the budget deletes the oldest rotated files, tend's and watched
// ones alike, and a write that still does not fit is dropped, counted and
// announced by a marker line in the file.
//
// One Sink serves the pipeline; inside, each program has its own writer:
// a queue and a goroutine, so a program whose disk is slow never holds up
// another's file.
package logfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"tend/budget"
	"tend/config"
	"tend/logship"
)

// reopenInterval is how often a file sink whose file could not be opened
// tries again; meanwhile its records are dropped and counted.
const reopenInterval = time.Second

// Sink is the file sink: one writer per program, made when the program's
// output is first captured (OpenProgram).
type Sink struct {
	cfg     config.Log
	budget  *budget.Budget
	log     *zap.Logger
	stopZip chan struct{} // closed when Close runs out of time
	zipOnce sync.Once

	mu      sync.Mutex
	writers map[*logship.Program]*writer
	closing bool
}

// New checks cfg, creates cfg.Dir, and returns the sink writing there
// under b (nil: a budget without limits). Its events go to log.
func New(cfg config.Log, b *budget.Budget, log *zap.Logger) (*Sink, error) {
	cfg, err := logship.Check(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Dir == "" {
		return nil, errors.New("logfile: no log directory")
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("logfile: log directory: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	if b == nil {
		b = budget.New(budget.Options{Logger: log})
	}
	return &Sink{
		cfg:     cfg,
		budget:  b,
		log:     log,
		stopZip: make(chan struct{}),
		writers: map[*logship.Program]*writer{},
	}, nil
}

// OpenProgram opens p's file (adopting the rotated files a previous run
// left, under the budget) and starts its writer.
func (s *Sink) OpenProgram(p *logship.Program) { s.writer(p) }

// writer returns p's writer, starting it on first use.
func (s *Sink) writer(p *logship.Program) *writer {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writers[p]
	if w == nil && !s.closing {
		w = newWriter(s, p)
		s.writers[p] = w
		go w.run()
	}
	return w
}

// Push queues b for its program's writer. Records tailed from a watched
// file (stream File) are not written: the program's own file holds them.
func (s *Sink) Push(b *logship.Batch) {
	if b.Stream == logship.File {
		return
	}
	if w := s.writer(b.Program); w != nil {
		if w.q.Claim() {
			// Nothing queued and the writer idle: write it here rather
			// than wake the writer's goroutine (blocking mode only).
			w.handle(logship.Item{Batch: b})
			w.q.Done()
			return
		}
		w.q.Push(b)
	}
}

// ReadsLines reports false: raw files take runs of lines as they came,
// and JSON files split them in the scan that escapes them.
func (s *Sink) ReadsLines() bool { return false }

// Close lets every writer write what is queued, then syncs and closes
// every file. When ctx ends first, what is still queued is counted as
// dropped and a compression running is abandoned.
func (s *Sink) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	ws := make([]*writer, 0, len(s.writers))
	for _, w := range s.writers {
		ws = append(ws, w)
	}
	s.mu.Unlock()
	for _, w := range ws {
		w.q.Close()
	}
	var errs []error
	for _, w := range ws {
		select {
		case <-w.done:
			errs = append(errs, w.err)
			continue
		case <-ctx.Done():
		}
		s.zipOnce.Do(func() { close(s.stopZip) })
		var n int64
		for _, w := range ws {
			n += w.q.Abort()
		}
		s.log.Error("log file flush ran out of time", zap.Int64("dropped_lines", n))
		return fmt.Errorf("logfile: close: %w", context.Cause(ctx))
	}
	return errors.Join(errs...)
}

// Report returns nil: the files' bytes are the budget's to report.
func (s *Sink) Report() any { return nil }

// writer writes one program's records to <dir>/<program>.log, stdout and
// stderr merged in the order they were read. With the json format each
// line is the JSON object of the console (its "stream" field tells the
// streams apart); otherwise the file holds the program's bytes as it wrote
// them. The file is rotated before a record would take it past the
// rotation size, so rotated files always end at a line boundary. A raw
// file written in volume may hold back the end of a write for a moment
// (hold.go).
//
// Before each write the sink reserves the bytes in the disk budget; a
// refused write is dropped and counted, and the first write that succeeds
// afterwards starts with one marker line saying what was dropped. A write
// that fails (ENOSPC, EIO) is cut back to where the file ended before it,
// and its lines, with those held before it, are dropped and counted the
// same way.
type writer struct {
	s    *Sink
	prog *logship.Program
	q    *logship.Queue
	json bool

	lines []logship.Record // runs split into lines (Batch.Lines, AppendLines)

	path      string // <dir>/<program>.log
	rotateAt  int64
	keep      int // rotated files kept
	f         *os.File
	live      *budget.Entry
	size      int64 // bytes of the live file, those held included
	lastNL    bool  // the last byte written to the file is a newline (endsLine counts held bytes)
	aligned   bool  // the live file is a regular file taking raw bytes: its writes end on alignSize boundaries (hold.go)
	held      []byte
	heldNoted int64       // len(held) as the budget knows it
	timer     *time.Timer // runs while bytes are held, to write them when no write comes
	armed     bool
	rotated   []rotatedFile // [0] is .1, the newest
	zipping   chan zipResult
	openedAt  time.Time // last attempt to open the live file

	handled atomic.Int64 // bytes of batches written or dropped, for tests

	buf    []byte // json records, and a marker line with what follows it
	ts     []byte
	tsOf   time.Time
	start  []byte        // the start of the JSON objects of the batch being written
	lost   logship.Drops // dropped since the last write that succeeded
	reason logship.Loss  // why
	errLog bool          // a write error was logged since the last success

	done chan struct{}
	err  error
}

func newWriter(s *Sink, p *logship.Program) *writer {
	w := &writer{
		s:        s,
		prog:     p,
		q:        logship.NewQueue(s.cfg.Buffer, s.cfg.Mode == config.ModeBlocking),
		json:     s.cfg.Format == config.FormatJSON,
		path:     filepath.Join(s.cfg.Dir, p.Name+".log"),
		rotateAt: rotationSize(s.cfg.FileSize, s.cfg.DiskBudget),
		keep:     s.cfg.FileCount - 1,
		lastNL:   true,
		done:     make(chan struct{}),
		timer:    time.NewTimer(time.Hour),
	}
	w.timer.Stop()
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

func (w *writer) run() {
	defer close(w.done)
	for {
		it, ok := w.q.Next(w.timer.C)
		if !ok {
			break
		}
		if it.Batch == nil {
			// Bytes were held for holdFor and no write came.
			w.armed = false
			w.flushHeld()
			w.q.Done()
			continue
		}
		w.handle(it)
		it.Batch.Release()
		w.q.Done()
	}
	w.timer.Stop()
	// What the queue refused after the last batch it took is announced
	// by the final marker.
	for _, u := range w.q.Unmarked() {
		w.dropped(u.Drops.Lines, u.Drops.Bytes, logship.LostBuffer)
	}
	w.flushHeld()
	w.finalMarker()
	w.err = w.finish()
}

// handle writes one queued or pushed batch; the caller holds the queue.
func (w *writer) handle(it logship.Item) {
	if it.Lost.Lines > 0 {
		w.dropped(it.Lost.Lines, it.Lost.Bytes, logship.LostBuffer)
	}
	w.write(it.Batch)
	w.handled.Add(int64(len(it.Batch.Data)))
}

// finalMarker writes the marker of drops that no later write carried, so
// that the file itself says lines are missing at its end, when there is
// room for that one line.
func (w *writer) finalMarker() {
	if w.lost.Lines == 0 || (w.f == nil && !w.open()) {
		return
	}
	out := w.withMarker(nil)
	if w.live.Reserve(int64(len(out))) != nil {
		return
	}
	w.put(out, true)
}

// write writes one batch, rotating between records as needed.
func (w *writer) write(b *logship.Batch) {
	if w.json {
		w.writeJSON(b)
		return
	}
	// Raw: runs of records are written straight from the batch. The
	// marker of earlier drops, if any, starts the next commit.
	marker := w.markerLen()
	if w.size+marker+int64(len(b.Data)) <= w.rotateAt {
		// All of it fits: no record needs looking at.
		w.commit(b.Data, b.Records, int64(len(b.Data)))
		return
	}
	recs := b.Lines(&w.lines) // files rotate between lines
	start, first := int32(0), 0
	for i, r := range recs {
		held := int64(r.Off - start) // bytes of the records before r in this run
		if w.size+marker+held+r.RawLen() > w.rotateAt && w.size+held > 0 {
			w.commit(b.Data[start:r.Off], recs[first:i], held)
			if w.size > 0 {
				w.rotate()
			}
			start, first, marker = r.Off, i, w.markerLen()
		}
	}
	w.commit(b.Data[start:], recs[first:], int64(len(b.Data))-int64(start))
}

func (w *writer) writeJSON(b *logship.Batch) {
	if !b.Time.Equal(w.tsOf) || w.ts == nil {
		w.ts, w.tsOf = logship.AppendTime(w.ts[:0], b.Time), b.Time
	}
	w.start = logship.AppendJSONStart(w.start[:0], w.ts, w.prog.Name, b.Stream)
	w.buf = w.buf[:0]
	// Every line gets its record in w.lines as it is formatted: a run is
	// split in the scan that escapes it (AppendJSONNext).
	w.lines = w.lines[:0]
	first, raw := 0, int64(0)
	marker := w.markerLen() // of earlier drops, starting the next commit
	for _, r := range b.Records {
		rest := b.Message(r)
		for more := true; more; {
			mark := len(w.buf)
			var line logship.Record
			w.buf, line, rest, more = b.AppendJSONNext(w.buf, w.start, r, rest)
			w.lines = append(w.lines, line)
			i := len(w.lines) - 1
			if w.size+marker+int64(len(w.buf)) <= w.rotateAt || (w.size == 0 && i == first) {
				raw += line.RawLen()
				continue
			}
			w.commit(w.buf[:mark], w.lines[first:i], raw)
			n := copy(w.buf, w.buf[mark:])
			w.buf = w.buf[:n]
			if w.size > 0 {
				w.rotate()
			}
			first, raw, marker = i, line.RawLen(), w.markerLen()
		}
	}
	w.commit(w.buf, w.lines[first:], raw)
}

// commit writes p, the records recs (raw bytes as the program wrote
// them) as the file takes them, after the marker of earlier drops if there
// were any. When the budget or the free space leaves room for only part of
// p, the whole records that fit are written and only the rest is dropped.
func (w *writer) commit(p []byte, recs []logship.Record, raw int64) {
	if len(recs) == 0 {
		return
	}
	// The lines of recs, counted when some are dropped (in JSON, never
	// a run).
	lines := func() int64 { return logship.CountLines(p, recs[0].Off, recs) }
	if w.f == nil && !w.open() {
		w.dropped(lines(), raw, logship.LostError)
		return
	}
	out := p
	if w.lost.Lines > 0 {
		out = w.withMarker(p)
	}
	if err := w.reserve(int64(len(out))); err != nil {
		room := budget.Room(err) - int64(len(out)-len(p))
		// What fits is counted in whole lines. (recs holds a run only
		// when it is the batch's own records, never w.lines.)
		if logship.HasRun(recs) {
			recs = logship.AppendLines(w.lines[:0], p, recs[0].Off, recs)
		}
		if n, kept := w.fitting(p, recs, room); kept > 0 {
			keptRaw := w.commitPart(p[:n], recs[:kept])
			w.dropped(int64(len(recs)-kept), raw-keptRaw, reasonOf(err))
			return
		}
		w.dropped(int64(len(recs)), raw, reasonOf(err))
		return
	}
	// With a marker, all of it is written now: bytes held are only ever
	// the program's.
	if err := w.put(out, w.lost.Lines > 0); err != nil {
		w.dropped(lines(), raw, reasonOf(err))
		return
	}
	if w.lost.Lines > 0 {
		w.s.log.Info("log file writing resumed", zap.String("program", w.prog.Name),
			zap.Int64("dropped_lines", w.lost.Lines), zap.Int64("dropped_bytes", w.lost.Bytes))
		w.lost, w.reason, w.errLog = logship.Drops{}, 0, false
	}
}

// commitPart commits the first records of a batch that fitted the room a
// refusal left, and returns the bytes the program wrote for them.
func (w *writer) commitPart(p []byte, recs []logship.Record) (raw int64) {
	for _, r := range recs {
		raw += r.RawLen()
	}
	w.commit(p, recs, raw)
	return raw
}

// fitting returns how many leading records of recs, held in p as the file
// takes them, fit in room bytes, and the bytes they take in p. In JSON
// every record ends with the only unescaped newline; in raw the records
// are the program's bytes, back to back.
func (w *writer) fitting(p []byte, recs []logship.Record, room int64) (n, kept int) {
	if room <= 0 {
		return 0, 0
	}
	if room > int64(len(p)) {
		room = int64(len(p))
	}
	if w.json {
		for kept < len(recs) {
			i := bytes.IndexByte(p[n:room], '\n')
			if i < 0 {
				break
			}
			n, kept = n+i+1, kept+1
		}
		return n, kept
	}
	base := recs[0].Off
	for _, r := range recs {
		end := int(r.RawEnd() - base)
		if int64(end) > room {
			break
		}
		n, kept = end, kept+1
	}
	return n, kept
}

// reserve asks the budget for n bytes. When the budget is full and holds
// no retired file at all (every program's live file together fill it), the
// live file is rotated so that it can go, rather than refusing every write
// from now on.
func (w *writer) reserve(n int64) error {
	err := w.live.Reserve(n)
	if errors.Is(err, budget.ErrOverBudget) && w.size >= w.rotateAt/4 {
		w.rotate()
		if w.f == nil {
			return err
		}
		err = w.live.Reserve(n)
	}
	return err
}

// markerLen returns the length of the marker the next write starts with,
// 0 when nothing was dropped: the file rotates before the marker and the
// records after it would take it past the rotation size.
func (w *writer) markerLen() int64 {
	if w.lost.Lines == 0 {
		return 0
	}
	n := int64(len(w.withMarker(nil)))
	if w.json {
		// The marker's time, written later, may take up to 10 bytes
		// more (RFC 3339 drops the trailing zeros of its fraction).
		n += 10
	}
	return n
}

// withMarker returns the marker line of the drops so far followed by p.
func (w *writer) withMarker(p []byte) []byte {
	var out []byte
	if w.json {
		out = logship.AppendJSONRecord(nil, logship.AppendTime(nil, time.Now()), w.prog.Name, logship.Stdout,
			logship.AppendDropped(nil, w.prog.Name, w.lost, w.reason), false, true)
	} else {
		if !w.endsLine() {
			out = append(out, '\n')
		}
		out = append(logship.AppendDropped(out, w.prog.Name, w.lost, w.reason), '\n')
	}
	return append(out, p...)
}

// writeFailed undoes a failed write of want bytes of which n were written:
// the file is cut back to its size before the write (w.size, which holds
// no held bytes then) and the bytes are given back to the budget.
func (w *writer) writeFailed(want int64, n int, err error) {
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
func (w *writer) dropped(lines, raw int64, reason logship.Loss) {
	if w.lost.Lines == 0 {
		w.s.log.Warn("dropping log file lines", zap.String("program", w.prog.Name),
			zap.Stringer("reason", reason))
	}
	w.lost.Lines += lines
	w.lost.Bytes += raw
	w.reason |= reason
	if reason != logship.LostBuffer { // the queue counted these when it refused them
		w.prog.Counters.Drop(logship.DiskLimited, lines, raw)
	}
}

func reasonOf(err error) logship.Loss {
	switch {
	case errors.Is(err, budget.ErrOverBudget):
		return logship.LostBudget
	case errors.Is(err, budget.ErrLowSpace):
		return logship.LostMinFree
	case errors.Is(err, budget.ErrDiskFull), errors.Is(err, syscall.ENOSPC):
		return logship.LostNoSpace
	}
	return logship.LostError
}

// open opens (or creates) the live file and tracks it; on failure it
// logs, and is tried again at most every reopenInterval.
func (w *writer) open() bool {
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
	w.aligned = st.Mode().IsRegular() && !w.json
	w.live = w.s.budget.Track(w.prog.Name, w.path, w.size)
	return true
}

// finish waits for a running compression, then syncs and closes the file.
func (w *writer) finish() error {
	w.waitZip()
	if w.f == nil {
		return nil
	}
	var errs []error
	// EINVAL: the file cannot be synced (a device, such as /dev/null).
	if err := w.f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		errs = append(errs, fmt.Errorf("log file: %w", err))
	}
	if err := w.f.Close(); err != nil {
		errs = append(errs, fmt.Errorf("log file: %w", err))
	}
	w.f = nil
	return errors.Join(errs...)
}
