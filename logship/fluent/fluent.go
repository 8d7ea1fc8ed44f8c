// Package fluent is the sink that forwards every record to Fluentd (or any
// forward-protocol input) through package forward.
//
// # The path of a record
//
//	Push: the record is encoded into the open chunk of its program and stream (copied out of the batch)
//	  -> the chunk is sealed at 256 KiB (less for a small buffer) or 100 ms after its first record
//	  -> the queue of sealed chunks, in memory                      [TEND_FLUENT_BUFFER bytes, open chunks included]
//	     -> past it, the newest chunks go to the spool, on disk    [TEND_FLUENT_SPOOL_SIZE, the disk budget]
//	  -> one sender: forward.Client, a window of 4 chunks in flight, one message and one ack per chunk
//
// Where a record waits, and where it is dropped:
//   - While the receiver takes chunks (it settled one within the last 10 s
//     and the client saw no failure since), a program that writes faster
//     fills the memory buffer, then the spool, and then, in blocking mode,
//     waits in Push, and so on its pipe: nothing is lost.
//   - While the receiver is down, refuses, or takes nothing for 10 s,
//     nothing waits for it: records fill the buffer, then the spool (whose
//     oldest chunks go first when it is full), and past that the newest
//     records are dropped. In non-blocking mode that is so at all times.
//
// Every drop is counted by cause (Status.DroppedBy and the program's
// FluentDropped), announced by a warning at most every 10 s per cause, and
// by a record "dropped N records (M bytes) from NAME (cause)" in the
// program's stream once the receiver takes records again.
//
// Close sends what is left until it is all taken, or the receiver took
// nothing for 2 s while failing (refused, unreachable, timed out) or for
// 10 s at all, or the context ends. What is left then goes to the spool, for the next
// start, or is counted as dropped.
package fluent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"tend/budget"
	"tend/config"
	"tend/forward"
	"tend/logship"
)

// Timing and sizes of the sink. The time limits are part of what README
// promises.
const (
	// maxSeal is the size at which a chunk is sealed; a small buffer
	// seals at an eighth of itself.
	maxSeal = 256 << 10
	minSeal = 4 << 10
	// minChunk is the least room a new chunk is made with. A chunk is
	// made with the room its key's last chunk took, and its buffer
	// doubles as it fills, up to the seal size: chunks sealed by their
	// linger (a program that logs now and then) stay small, those of a
	// burst are made at once at the seal size.
	minChunk = 1 << 10
	// linger is how long a chunk stays open after its first record.
	linger = 100 * time.Millisecond
	// stallAfter: a receiver that settled no chunk for this long while
	// chunks wait is taken as not answering, even before the client's own
	// timeouts say so: programs no longer wait for it, and Close gives up
	// on it. It is the ack timeout: a receiver under load (Fluentd writing
	// its buffer, collecting garbage) pauses for seconds.
	stallAfter = 10 * time.Second
	// closeGrace: Close gives up on a receiver that fails (refuses, is
	// unreachable, closes, times out) and settled nothing for this long.
	closeGrace = 2 * time.Second
	// collectSlice bounds a wait for acks (and, after a failure, for the
	// reconnection), so that the sender sees failures and new chunks. It
	// is longer than dialTimeout, so that a dial is not cut short by it.
	// A chunk is handed to the client only when the window has room, so
	// that no call is ever cut short in the middle of a write: half a
	// message closes the connection, and without ack the receiver may
	// read what was still in the old connection after what comes on the
	// new one.
	collectSlice = 2500 * time.Millisecond
	// sendBound bounds a send, which takes the chunk at once and connects
	// and writes within the client's own timeouts.
	sendBound = 30 * time.Second
	// Timeouts of the client (see forward.Config). The dial is short, so
	// that an unreachable receiver is seen as failing soon; writes and acks
	// keep the client's defaults (10 s and 30 s), generous because a
	// receiver under load stops reading for seconds, and each time one
	// passes the connection is made again and its chunks sent again.
	dialTimeout  = 2 * time.Second
	writeTimeout = forward.DefaultWriteTimeout
	ackTimeout   = forward.DefaultAckTimeout
	// spillReserve is the part of Close's time kept for writing what is
	// left to the spool (at most a fifth of the time Close has).
	spillReserve = 500 * time.Millisecond
	// dropEventEvery is the least time between two warnings of one cause.
	dropEventEvery = 10 * time.Second
	// tick bounds the sender's sleep: drop warnings, lost spool chunks.
	tick = time.Second
	// keepChunks is how many settled chunks are kept for reuse.
	keepChunks = forward.DefaultWindow + 2
	// entryOverhead is an upper bound of an entry's encoded size besides
	// its message, program, stream, host and file.
	entryOverhead = 64
)

// Options are what New needs beyond config.Fluent.
type Options struct {
	// Logger receives the sink's events; nil discards them.
	Logger *zap.Logger
	// Budget, when set, counts the spool's chunk files under the disk
	// budget and the free-space guard.
	Budget *budget.Budget
	// Blocking is TEND_LOG_MODE=blocking: Push waits for room while the
	// receiver takes records.
	Blocking bool
	// Hostname is every record's "host"; empty means os.Hostname.
	Hostname string
}

// Status is the state of the Fluentd sink, for `tend status` (the
// "fluent" object of its "logs") and /metrics.
type Status struct {
	// Addr is TEND_FLUENT_ADDR.
	Addr string `json:"addr"`
	// Connected is true while the receiver takes chunks: one was settled,
	// and since then no failure and no wait of 10 s without one.
	Connected bool `json:"connected"`
	// Sent counts records the receiver took: acknowledged with ack on,
	// written to the connection without.
	Sent int64 `json:"sent"`
	// Acked counts records the receiver acknowledged (ack on only).
	Acked int64 `json:"acked"`
	// Buffered and BufferedBytes are the records in memory and the bytes
	// they take, encoded (what TEND_FLUENT_BUFFER bounds).
	Buffered      int64 `json:"buffered"`
	BufferedBytes int64 `json:"buffered_bytes"`
	// SpooledChunks, SpooledRecords and SpooledBytes are in the spool's
	// files.
	SpooledChunks  int64 `json:"spooled_chunks"`
	SpooledRecords int64 `json:"spooled_records"`
	SpooledBytes   int64 `json:"spooled_bytes"`
	// Dropped counts every record dropped; DroppedBy by cause.
	Dropped   logship.Drops `json:"dropped"`
	DroppedBy DropCauses    `json:"dropped_by"`
	// Retries counts failures (a refused or lost connection, a write or
	// an ack that did not come in time) after which tend connected again
	// and sent the chunks not yet settled.
	Retries int64 `json:"retries"`
	// LastError is the last failure, if any.
	LastError string `json:"last_error,omitempty"`
}

// DropCauses are the records dropped, by cause.
type DropCauses struct {
	// BufferFull: the memory buffer was full and the spool could not take
	// them (none, full, or failing) while the receiver took nothing, or
	// in non-blocking mode.
	BufferFull logship.Drops `json:"buffer_full"`
	// SpoolFull: spooled chunks deleted, the oldest first, to keep the
	// spool under TEND_FLUENT_SPOOL_SIZE during an outage.
	SpoolFull logship.Drops `json:"spool_full"`
	// DiskLimits: spooled chunks the disk budget or the free-space guard
	// deleted or refused, or chunk files that could not be read back.
	DiskLimits logship.Drops `json:"disk_limits"`
	// Stop: left in memory when tend exited without a spool, or when the
	// stop budget ran out.
	Stop logship.Drops `json:"stop"`
}

// tagKey is a program and stream; each has its own open chunk.
type tagKey struct {
	program, stream string
}

// keyState is what the sink keeps of a program and stream between its
// chunks.
type keyState struct {
	// tag is the Fluentd tag of its records.
	tag string
	// lastSize is the size of its last sealed chunk, which its next
	// chunk is made to hold.
	lastSize int
}

// batch is one chunk of records with what the sink knows of it. It is
// open (seq 0) while records are appended, then sealed; it lives in
// memory (ch), on disk (file), or both while a spooled chunk is sent.
type batch struct {
	key  tagKey
	tag  string
	prog *logship.Program // nil for a chunk an earlier run spooled
	ch   *forward.Chunk   // nil while the chunk is only on disk
	// first is when the first record was appended.
	first time.Time
	// seq orders sealed chunks, across runs through the spool.
	seq uint64
	// size is the encoded entries' size, entries their number (records
	// and markers), records the program's records among them and raw the
	// bytes the program wrote for those.
	size, entries, records, raw int64
	// carried is what the marker records in the chunk announce.
	carried logship.Drops
	file    *spoolFile
	// busy: a Push is writing the chunk to the spool.
	busy bool
}

// Sink is the Fluentd sink.
type Sink struct {
	log      *zap.Logger
	addr     string
	template string
	host     string
	limit    int64
	seal     int
	blocking bool
	ack      bool
	spool    *spool // nil: no spool

	// Owned by the sender goroutine.
	client   *forward.Client
	inflight map[*forward.Chunk]*batch

	run    context.Context // ends when the sender must give up
	cancel context.CancelFunc
	done   chan struct{} // closed when the sender has ended
	wake   chan struct{} // capacity 1: new work for the sender

	mu         sync.Mutex
	keys       map[tagKey]*keyState
	open       map[tagKey]*batch
	q          []*batch // sealed, oldest first
	head       *batch   // taken by the sender, not yet by the client
	inClient   int      // chunks the client holds
	memBytes   int64
	memEntries int64
	free       []*forward.Chunk
	nextSeq    uint64
	room       chan struct{} // closed when room may have been made

	failing     bool
	lastErr     error
	lastErrText string
	retries     int64
	everSettled bool
	progressAt  time.Time // the last settle, or when chunks began to wait
	stallLogged bool

	closing    bool
	closeStart time.Time
	deadline   time.Time
	aborted    bool

	sent, acked int64
	dropped     [causes]logship.Drops
	events      [causes]dropEvent
	lost        map[tagKey]*lostRecords
	// spooledAtEnd is what Close left in the spool for the next start.
	spooledAtEnd struct{ chunks, records int64 }
}

// New checks cfg, opens the spool (taking the chunks an earlier run left
// there first in line) and starts the sender.
func New(cfg config.Fluent, opts Options) (*Sink, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	fc := forward.Config{
		Addr: cfg.Addr, Ack: cfg.Ack, SharedKey: cfg.SharedKey, Hostname: cfg.Hostname,
		DialTimeout: dialTimeout, WriteTimeout: writeTimeout, AckTimeout: ackTimeout,
	}
	if cfg.TLS {
		tc, err := forward.TLSConfig(cfg.TLSCA, cfg.TLSCert, cfg.TLSKey, "")
		if err != nil {
			return nil, fmt.Errorf("fluent: %w", err)
		}
		fc.TLS = tc
	}
	client, err := forward.NewClient(fc)
	if err != nil {
		return nil, fmt.Errorf("fluent: %w", err)
	}
	limit := cfg.Buffer
	if limit <= 0 {
		limit = 8 << 20
	}
	template := cfg.Tag
	if template == "" {
		template = "tend.{program}.{stream}"
	}
	host := opts.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	f := &Sink{
		log:      log,
		addr:     cfg.Addr,
		template: template,
		host:     host,
		limit:    limit,
		seal:     int(min(max(limit/8, minSeal), maxSeal)),
		blocking: opts.Blocking,
		ack:      cfg.Ack,
		client:   client,
		inflight: map[*forward.Chunk]*batch{},
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		keys:     map[tagKey]*keyState{},
		open:     map[tagKey]*batch{},
		room:     make(chan struct{}),
		lost:     map[tagKey]*lostRecords{},
		nextSeq:  1,
	}
	if cfg.Spool != "" {
		size := cfg.SpoolSize
		if size <= 0 {
			size = 256 << 20
		}
		sp, left, err := openSpool(cfg.Spool, size, opts.Budget, log)
		if err != nil {
			return nil, err
		}
		f.spool = sp
		f.q = left
		for _, b := range left {
			f.nextSeq = max(f.nextSeq, b.seq+1)
		}
		f.progressAt = time.Now()
	}
	f.run, f.cancel = context.WithCancel(context.Background())
	go f.sender()
	return f, nil
}

// ReadsLines reports true: every line is a record of its own.
func (f *Sink) ReadsLines() bool { return true }

// Push encodes b's records into their chunk. When the memory buffer is
// full, the newest chunks go to the spool; when the spool cannot take them
// either, Push waits while the receiver takes records (blocking mode), and
// otherwise drops the rest of b's records and counts them.
func (f *Sink) Push(b *logship.Batch) {
	// Every line is a record (runs never come: ReadsLines).
	var split []logship.Record
	recs := b.Lines(&split)
	if len(recs) == 0 {
		return
	}
	p := b.Program
	key := tagKey{p.Name, b.Stream.String()}
	overhead := f.overhead(key, b.File)
	rec := forward.Record{Program: key.program, Stream: key.stream, Host: f.host, File: b.File}
	now := time.Now()
	wake := false
	f.mu.Lock()
	o := f.openLocked(key, p, now)
	for i, r := range recs {
		rec.Message, rec.Partial = b.Message(r), r.Partial()
		need := len(rec.Message) + overhead // the entry's encoded size, at most
		if f.memBytes+int64(need) > f.limit && !f.closing {
			if !f.roomLocked(int64(need)) {
				var raw int64
				for _, r := range recs[i:] {
					raw += r.RawLen()
				}
				f.dropLocked(causeBuffer, key, p, int64(len(recs)-i), raw, time.Now())
				break
			}
			// The lock was let go: the chunk may have been sealed.
			now = time.Now()
			o = f.openLocked(key, p, now)
		}
		if o.entries == 0 {
			wake = true // its linger starts
		}
		if l := f.lost[key]; l != nil && !f.failing {
			f.markerLocked(o, key, l, now)
		}
		if o.entries > 0 && o.ch.Size()+need > f.seal {
			f.sealLocked(o, now)
			wake = true
			o = f.openLocked(key, p, now)
		}
		if o.ch.Available() < need {
			o.ch.Grow(need, f.seal)
		}
		before := o.ch.Size()
		o.ch.Append(b.Time, &rec)
		grown := int64(o.ch.Size() - before)
		o.size += grown
		o.entries++
		o.records++
		o.raw += r.RawLen()
		f.memBytes += grown
		f.memEntries++
	}
	f.mu.Unlock()
	if wake {
		f.wakeSender()
	}
}

// roomLocked makes room for need more bytes in the memory buffer: it
// spills the newest chunks to the spool, or, while the receiver takes
// records in blocking mode, waits for the sender to free some. A record
// larger than the whole buffer is taken when the buffer is empty. It
// reports false when the record must be dropped instead. f.mu is held; it
// is let go meanwhile.
func (f *Sink) roomLocked(need int64) bool {
	for f.memBytes > 0 && f.memBytes+need > f.limit && !f.closing {
		now := time.Now()
		if f.spillLocked(now) {
			continue
		}
		if !f.blocking || !f.healthyLocked(now) {
			return false
		}
		f.waitRoomLocked(now)
	}
	return true
}

// overhead bounds the encoded size of an entry besides its message.
func (f *Sink) overhead(key tagKey, file string) int {
	return entryOverhead + len(key.program) + len(key.stream) + len(f.host) + len(file)
}

// openLocked returns the open chunk of key, making one when there is
// none. f.mu is held.
func (f *Sink) openLocked(key tagKey, p *logship.Program, now time.Time) *batch {
	o := f.open[key]
	if o != nil {
		if o.prog == nil {
			o.prog = p
		}
		return o
	}
	k := f.keys[key]
	if k == nil {
		k = &keyState{tag: strings.NewReplacer("{program}", key.program, "{stream}", key.stream).Replace(f.template)}
		f.keys[key] = k
	}
	size := min(max(k.lastSize, minChunk), f.seal)
	ch := f.chunkLocked(size)
	ch.Reset(k.tag)
	ch.Grow(size, size)
	o = &batch{key: key, tag: k.tag, prog: p, ch: ch, first: now}
	f.open[key] = o
	return o
}

// sealLocked closes o to more records and queues it. f.mu is held.
func (f *Sink) sealLocked(o *batch, now time.Time) {
	if !f.pendingLocked() {
		// The wait for the receiver starts now, not at its last settle.
		f.progressAt = now
	}
	delete(f.open, o.key)
	f.keys[o.key].lastSize = o.ch.Size()
	o.seq = f.nextSeq
	f.nextSeq++
	f.q = append(f.q, o)
}

// sealOpenLocked seals every open chunk (all when every is set, else those
// whose linger has passed), oldest first, and returns when the next one
// is due (zero: none open). f.mu is held.
func (f *Sink) sealOpenLocked(now time.Time, every bool) (next time.Time) {
	var due []*batch
	for _, o := range f.open {
		switch {
		case o.entries == 0 && every:
			delete(f.open, o.key)
			f.putChunkLocked(o.ch)
		case o.entries == 0:
		case every || !now.Before(o.first.Add(linger)):
			due = append(due, o)
		case next.IsZero() || o.first.Add(linger).Before(next):
			next = o.first.Add(linger)
		}
	}
	// Map order is random: seal in the order the chunks were opened.
	for len(due) > 0 {
		i := 0
		for j, o := range due {
			if o.first.Before(due[i].first) {
				i = j
			}
		}
		f.sealLocked(due[i], now)
		due = append(due[:i], due[i+1:]...)
	}
	return next
}

// pendingLocked reports whether sealed chunks wait for the receiver.
// f.mu is held.
func (f *Sink) pendingLocked() bool {
	return f.head != nil || len(f.q) > 0 || f.inClient > 0
}

// healthyLocked reports whether the receiver takes chunks: no failure
// since the last settle, and a settle within stallAfter while chunks
// wait. f.mu is held.
func (f *Sink) healthyLocked(now time.Time) bool {
	return !f.failing && !(f.pendingLocked() && now.Sub(f.progressAt) >= stallAfter)
}

// waitRoomLocked waits until room may have been made (a chunk settled or
// spilled, the receiver's state changed, Close began) or the receiver
// would count as stalled. f.mu is held; it is released meanwhile.
func (f *Sink) waitRoomLocked(now time.Time) {
	room := f.room
	wait := stallAfter
	if f.pendingLocked() {
		wait = max(f.progressAt.Add(stallAfter).Sub(now), time.Millisecond)
	}
	f.mu.Unlock()
	t := time.NewTimer(wait)
	select {
	case <-room:
	case <-t.C:
	}
	t.Stop()
	f.mu.Lock()
}

// broadcastLocked wakes every Push waiting for room. f.mu is held.
func (f *Sink) broadcastLocked() {
	close(f.room)
	f.room = make(chan struct{})
}

// wakeSender tells the sender that there is new work.
func (f *Sink) wakeSender() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// chunkLocked returns a chunk to fill, reused when one is free, else one
// made with room for size bytes. f.mu is held.
func (f *Sink) chunkLocked(size int) *forward.Chunk {
	if n := len(f.free); n > 0 {
		ch := f.free[n-1]
		f.free = f.free[:n-1]
		return ch
	}
	return forward.NewChunk(size)
}

// putChunkLocked keeps a chunk no longer used for reuse, unless enough
// are kept or it grew past a sealed chunk's size (a huge record). f.mu
// is held.
func (f *Sink) putChunkLocked(ch *forward.Chunk) {
	if ch != nil && len(f.free) < keepChunks && ch.Size() <= 2*f.seal {
		f.free = append(f.free, ch)
	}
}

// Close sends what is left until the receiver has it all, or gives up on
// a receiver that takes nothing (2 s while it fails, 10 s at all) or when
// ctx ends (keeping time to write what is left to the spool). What is
// left goes to the spool for the next start, or is counted as dropped.
func (f *Sink) Close(ctx context.Context) error {
	now := time.Now()
	f.mu.Lock()
	f.closing = true
	f.closeStart = now
	if dl, ok := ctx.Deadline(); ok {
		f.deadline = dl
	}
	f.flushMarkersLocked(now)
	f.sealOpenLocked(now, true)
	f.broadcastLocked()
	f.mu.Unlock()
	f.wakeSender()

	var giveUpAt time.Time
	if dl, ok := ctx.Deadline(); ok && f.spool != nil {
		giveUpAt = dl.Add(-min(spillReserve, time.Until(dl)/5))
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return f.finish(nil)
		case <-ctx.Done():
			f.mu.Lock()
			f.aborted = true
			f.mu.Unlock()
			f.cancel()
			// The sender only counts what is left once aborted (the
			// client returns at ctx's end): a moment for the numbers.
			select {
			case <-f.done:
			case <-time.After(100 * time.Millisecond):
			}
			return f.finish(context.Cause(ctx))
		case now := <-t.C:
			if f.giveUp(now, giveUpAt) {
				f.cancel()
			}
		}
	}
}

// giveUp reports whether Close should stop sending: the receiver took
// nothing for closeGrace while failing, or for stallAfter at all, since
// Close began; or the time kept for the spool has come.
func (f *Sink) giveUp(now, at time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	since := f.closeStart
	if f.progressAt.After(since) {
		since = f.progressAt
	}
	idle := now.Sub(since)
	return f.failing && idle >= closeGrace || idle >= stallAfter || !at.IsZero() && !now.Before(at)
}

// finish writes the event that says what became of the records and
// returns Close's error: cause (ctx's) when the stop ran out of time, an
// error when records were dropped at the stop, else nil.
func (f *Sink) finish(cause error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for c := range causes {
		if f.events[c].pending.Lines > 0 {
			f.logDropLocked(dropCause(c), now)
		}
	}
	var total logship.Drops
	fields := []zap.Field{zap.String("addr", f.addr), zap.Int64("records_sent", f.sent)}
	for c := range causes {
		total.Lines += f.dropped[c].Lines
		total.Bytes += f.dropped[c].Bytes
		if f.dropped[c].Lines > 0 {
			fields = append(fields, zap.Int64("dropped_"+causeNames[c], f.dropped[c].Lines))
		}
	}
	fields = append(fields, zap.Int64("records_never_arrived", total.Lines))
	if f.spooledAtEnd.chunks > 0 {
		fields = append(fields, zap.Int64("records_spooled_for_next_start", f.spooledAtEnd.records),
			zap.Int64("chunks_spooled_for_next_start", f.spooledAtEnd.chunks), zap.String("spool", f.spool.dir))
	}
	switch {
	case cause != nil:
		f.log.Error("fluentd flush ran out of time", fields...)
		return fmt.Errorf("fluent: close: %w", cause)
	case total.Lines > 0 || f.spooledAtEnd.chunks > 0:
		f.log.Warn("not every record reached fluentd", fields...)
	default:
		f.log.Info("every record reached fluentd", fields...)
	}
	if d := f.dropped[causeStop]; d.Lines > 0 {
		return fmt.Errorf("fluent: %d records not delivered to %s at the stop: %w", d.Lines, f.addr, errUnreachable)
	}
	return nil
}

// errUnreachable is wrapped by Close's error when the receiver did not
// take what was left.
var errUnreachable = errors.New("the receiver took nothing")

// Report returns the sink's state under "fluent".
func (f *Sink) Report() any {
	return struct {
		Fluent *Status `json:"fluent"`
	}{f.Status()}
}

// Status returns the sink's counters.
func (f *Sink) Status() *Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.reapSpoolLocked(now)
	st := &Status{
		Addr:          f.addr,
		Connected:     f.everSettled && f.healthyLocked(now),
		Sent:          f.sent,
		Acked:         f.acked,
		Buffered:      f.memEntries,
		BufferedBytes: f.memBytes,
		Retries:       f.retries,
		LastError:     f.lastErrText,
		DroppedBy: DropCauses{
			BufferFull: f.dropped[causeBuffer],
			SpoolFull:  f.dropped[causeSpool],
			DiskLimits: f.dropped[causeDisk],
			Stop:       f.dropped[causeStop],
		},
	}
	for _, d := range f.dropped {
		st.Dropped.Lines += d.Lines
		st.Dropped.Bytes += d.Bytes
	}
	if f.spool != nil {
		st.SpooledChunks, st.SpooledRecords, st.SpooledBytes = f.spool.files, f.spool.entries, f.spool.bytes
	}
	return st
}
