// Package fluent is the sink that forwards every record to Fluentd (or
// any forward-protocol input). It never slows a program: records are
// copied into a bounded buffer at Push, and one goroutine sends them.
package fluent

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fluent/fluent-logger-golang/fluent"
	"github.com/tinylib/msgp/msgp"
	"go.uber.org/zap"

	"tend/config"
	"tend/logship"
)

// The Fluentd sink forwards every record to a forward-protocol input
// (Fluentd's in_forward, Fluent Bit's forward input, the OpenTelemetry
// Collector's fluentforward receiver) through the client of
// github.com/fluent/fluent-logger-golang.
//
// # Why the client runs in sync mode behind tend's own buffer
//
// What the client (v1.10) does in async mode, read from its code:
//   - Post puts the encoded message on a channel of BufferLimit messages
//     and returns an error when it is full: it never blocks. One goroutine
//     sends them, one message and one write(2) at a time.
//   - A message that cannot be sent is retried MaxRetry times, each try
//     dialling up to MaxRetry times with a backoff growing from RetryWait to
//     MaxRetryWait; with the defaults (13, 500 ms, 60 s) one message waits
//     about two minutes, then is dropped, reported only to
//     AsyncResultCallback and as a line on the process's os.Stderr.
//   - Close without ForceStopAsyncSend closes the channel and waits,
//     without any deadline, until the goroutine has sent every queued
//     message. With the receiver down that is two minutes per message:
//     Close hangs far past any stop budget. With the receiver up but not
//     reading (or not acking), a write or an ack read with the default
//     zero WriteTimeout and ReadTimeout blocks for ever.
//   - Close with ForceStopAsyncSend cancels the dialling and the goroutine
//     then prints "Discarding queued events" and drops whatever is still
//     queued, including what a reachable receiver would have taken. Close
//     also takes the connection lock, which a write or ack read in flight
//     holds, so it can still block on a stalled receiver.
//
// So async mode cannot both flush what a reachable receiver can take and
// return by a deadline when it is unreachable. tend uses the client in sync
// mode (Async false, MaxRetry 1, so one call is one dial at most and one
// write, plus one ack read with TEND_FLUENT_ACK), with dial, write and ack
// timeouts, from one goroutine of its own that takes records from tend's
// bounded buffer. A record leaves the buffer only once the client reports
// it sent (and acknowledged, with ack on); a failed send is retried with
// backoff. Close(ctx) lets that goroutine drain the buffer until ctx's
// deadline, then counts what is left as dropped and returns; a send in
// flight at that moment ends within its I/O timeout.
//
// The client writes one line to os.Stderr when an ack cannot be read or
// does not match; tend has no way to silence it.

// Fluent client settings.
const (
	fluentDialTimeout = 2 * time.Second
	fluentIOTimeout   = 3 * time.Second
	fluentBackoffMin  = 100 * time.Millisecond
	fluentBackoffMax  = 2 * time.Second
	// fluentMaxBytes caps the message bytes the buffer holds, whatever
	// TEND_FLUENT_BUFFER says: a buffer of joined stack traces must not
	// take hundreds of MiB.
	fluentMaxBytes = 64 << 20
	// fluentKeepCap is the largest message buffer a slot keeps for reuse.
	fluentKeepCap = 4 << 10
)

// Status is the state of the Fluentd sink, for `tend status` (the
// "fluent" object of its "logs") and /metrics.
type Status struct {
	// Addr is TEND_FLUENT_ADDR.
	Addr string `json:"addr"`
	// Connected is true while the last send succeeded.
	Connected bool `json:"connected"`
	// Sent counts records the receiver took (acknowledged, with ack on).
	Sent int64 `json:"sent"`
	// Buffered is the number of records waiting to be sent.
	Buffered int `json:"buffered"`
	// Dropped counts records dropped because the buffer was full, or left
	// in it when the stop ran out of time.
	Dropped logship.Drops `json:"dropped"`
	// Failures counts sends that failed and were retried.
	Failures int64 `json:"failures"`
	// LastError is the last send error, if any.
	LastError string `json:"last_error,omitempty"`
}

// fluentEntry is one buffered record; msg is a copy of its message, the
// slot's own buffer, reused.
type fluentEntry struct {
	prog    *logship.Program
	stream  logship.Stream
	time    time.Time
	partial bool
	file    string
	msg     []byte
}

// Sink is the Fluentd sink: a ring of at most TEND_FLUENT_BUFFER
// records, filled by Push without ever waiting, and one goroutine that
// sends them.
type Sink struct {
	log  *zap.Logger
	cfg  fluent.Config
	addr string
	tag  string // the template
	host string
	tags map[tagKey]string // used by the sender only

	mu      sync.Mutex
	ring    []fluentEntry
	head, n int
	bytes   int64
	closing bool          // no more records: send what is left, then stop
	wake    chan struct{} // capacity 1: a record arrived or closing began
	stop    chan struct{} // closed by abort: stop now
	done    chan struct{}

	sent      atomic.Int64
	dropped   logship.DropCounter
	failures  atomic.Int64
	connected atomic.Bool
	lastErr   atomic.Value // string
	stopOnce  sync.Once

	// post sends one record; tests replace it. nil means the client.
	post func(tag string, t time.Time, rec *fluentRecord) error
}

type tagKey struct {
	program string
	stream  logship.Stream
}

// New checks cfg and starts the sink. Its events go to log (nil: none).
func New(cfg config.Fluent, log *zap.Logger) (*Sink, error) {
	f, err := newSink(cfg, log)
	if err != nil {
		return nil, err
	}
	go f.run()
	return f, nil
}

// newSink checks cfg and returns the sink, not yet running.
func newSink(cfg config.Fluent, log *zap.Logger) (*Sink, error) {
	if log == nil {
		log = zap.NewNop()
	}
	lc := fluent.Config{
		Timeout:            fluentDialTimeout,
		WriteTimeout:       fluentIOTimeout,
		ReadTimeout:        fluentIOTimeout,
		MaxRetry:           1,
		SubSecondPrecision: true,
		RequestAck:         cfg.Ack,
	}
	if path, ok := strings.CutPrefix(cfg.Addr, "unix://"); ok {
		lc.FluentNetwork, lc.FluentSocketPath = "unix", path
	} else {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("fluent address %q: %w", cfg.Addr, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("fluent address %q: bad port", cfg.Addr)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		lc.FluentNetwork, lc.FluentHost, lc.FluentPort = "tcp", host, n
	}
	size := cfg.Buffer
	if size <= 0 {
		size = 8192
	}
	tag := cfg.Tag
	if tag == "" {
		tag = "tend.{program}.{stream}"
	}
	host, _ := os.Hostname()
	return &Sink{
		log:  log,
		cfg:  lc,
		addr: cfg.Addr,
		tag:  tag,
		host: host,
		tags: map[tagKey]string{},
		ring: make([]fluentEntry, size),
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}, nil
}

// Push copies b's records into the buffer. It never waits: what does not
// fit is dropped and counted (ForwardFailed).
func (f *Sink) Push(b *logship.Batch) {
	p := b.Program
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return
	}
	var lostLines, lostBytes int64
	for _, r := range b.Records {
		msg := b.Message(r)
		if f.n == len(f.ring) || f.bytes+int64(len(msg)) > fluentMaxBytes {
			lostLines++
			lostBytes += r.RawLen()
			continue
		}
		e := &f.ring[(f.head+f.n)%len(f.ring)]
		e.prog, e.stream, e.time, e.partial, e.file = p, b.Stream, b.Time, r.Partial(), b.File
		e.msg = append(e.msg[:0], msg...)
		f.n++
		f.bytes += int64(len(msg))
	}
	f.mu.Unlock()
	if lostLines > 0 {
		p.Counters.Drop(logship.ForwardFailed, lostLines, lostBytes)
		f.dropped.Add(lostLines, lostBytes)
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// peek returns the oldest record without removing it. It waits for one;
// it returns false once closing with nothing left, or after abort.
func (f *Sink) peek() (*fluentEntry, bool) {
	for {
		f.mu.Lock()
		if f.n > 0 {
			e := &f.ring[f.head]
			f.mu.Unlock()
			return e, true
		}
		closing := f.closing
		f.mu.Unlock()
		if closing {
			return nil, false
		}
		select {
		case <-f.wake:
		case <-f.stop:
			return nil, false
		}
	}
}

// pop removes the oldest record, which was sent.
func (f *Sink) pop() {
	f.mu.Lock()
	e := &f.ring[f.head]
	f.bytes -= int64(len(e.msg))
	if cap(e.msg) > fluentKeepCap {
		e.msg = nil
	}
	e.prog = nil
	f.head = (f.head + 1) % len(f.ring)
	f.n--
	f.mu.Unlock()
}

// run sends records until close and empty, or abort.
func (f *Sink) run() {
	defer close(f.done)
	var client *fluent.Fluent
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	post := f.post
	if post == nil {
		post = func(tag string, t time.Time, rec *fluentRecord) error {
			if client == nil {
				// In sync mode New dials at once; on failure it still
				// returns a client that dials again at the next send.
				c, err := fluent.New(f.cfg)
				if c == nil {
					return err
				}
				client = c
				if err != nil {
					return err
				}
			}
			return client.PostWithTime(tag, t, rec)
		}
	}
	var rec fluentRecord
	wait := time.Duration(0)
	failing := false
	for {
		e, ok := f.peek()
		if !ok {
			return
		}
		rec = fluentRecord{msg: e.msg, program: e.prog.Name, stream: e.stream.String(),
			host: f.host, file: e.file, partial: e.partial}
		err := post(f.tagOf(e.prog.Name, e.stream), e.time, &rec)
		if err == nil {
			f.pop()
			f.sent.Add(1)
			f.connected.Store(true)
			if failing {
				f.log.Info("fluentd reachable again", zap.String("addr", f.addr))
				failing = false
			}
			wait = 0
			continue
		}
		f.failures.Add(1)
		f.connected.Store(false)
		f.lastErr.Store(err.Error())
		if !failing {
			f.log.Warn("cannot send logs to fluentd; buffering and retrying", zap.String("addr", f.addr), zap.Error(err))
			failing = true
		}
		wait = min(max(2*wait, fluentBackoffMin), fluentBackoffMax)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-f.stop:
			t.Stop()
			return
		}
	}
}

// tagOf renders the tag template for a program and stream.
func (f *Sink) tagOf(program string, stream logship.Stream) string {
	k := tagKey{program, stream}
	if t, ok := f.tags[k]; ok {
		return t
	}
	t := strings.NewReplacer("{program}", program, "{stream}", stream.String()).Replace(f.tag)
	f.tags[k] = t
	return t
}

// Close lets the goroutine send what is buffered until ctx's deadline;
// what is left then is counted as dropped, and Close returns without
// waiting for a send in flight (it ends within its I/O timeout).
func (f *Sink) Close(ctx context.Context) error {
	f.close()
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
	}
	if n := f.abort(); n > 0 {
		f.log.Error("fluentd flush ran out of time", zap.Int64("dropped_records", n))
	}
	return fmt.Errorf("fluent: close: %w", context.Cause(ctx))
}

// Report returns the sink's state under "fluent".
func (f *Sink) Report() any {
	return struct {
		Fluent *Status `json:"fluent"`
	}{f.status()}
}

// close stops taking records; the goroutine sends what is left and ends.
func (f *Sink) close() {
	f.mu.Lock()
	f.closing = true
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// abort stops the goroutine now and counts what is left as dropped. A
// send in flight ends within its I/O timeout; abort does not wait for it.
func (f *Sink) abort() int64 {
	f.stopOnce.Do(func() { close(f.stop) })
	f.mu.Lock()
	f.closing = true
	var lines, bytes int64
	for i := 0; i < f.n; i++ {
		e := &f.ring[(f.head+i)%len(f.ring)]
		if e.prog != nil {
			e.prog.Counters.Drop(logship.ForwardFailed, 1, int64(len(e.msg)))
		}
		lines++
		bytes += int64(len(e.msg))
	}
	// The goroutine may still send the head record: the ring is left as
	// it is and only counted.
	f.mu.Unlock()
	f.dropped.Add(lines, bytes)
	return lines
}

// status returns the sink's counters.
func (f *Sink) status() *Status {
	f.mu.Lock()
	n := f.n
	f.mu.Unlock()
	st := &Status{
		Addr:      f.addr,
		Connected: f.connected.Load(),
		Sent:      f.sent.Load(),
		Buffered:  n,
		Dropped:   f.dropped.Load(),
		Failures:  f.failures.Load(),
	}
	if s, ok := f.lastErr.Load().(string); ok {
		st.LastError = s
	}
	return st
}

// fluentRecord is the record sent for one log record:
//
//	{"message": "...", "program": "main", "stream": "stdout", "host": "pod-1"}
//
// plus "partial": true on pieces of a line longer than LOG_MAX_LINE and
// "file": PATH on records tailed from a watched file. The message is the
// program's bytes (a joined stack trace is one message, newlines inside),
// without the final newline. The event time is when tend read the bytes,
// with nanoseconds (the forward protocol's EventTime).
type fluentRecord struct {
	msg                         []byte
	program, stream, host, file string
	partial                     bool
}

// MarshalMsg implements msgp.Marshaler: the record as a msgpack map,
// without going through reflection.
func (r *fluentRecord) MarshalMsg(b []byte) ([]byte, error) {
	n := uint32(4)
	if r.partial {
		n++
	}
	if r.file != "" {
		n++
	}
	b = msgp.AppendMapHeader(b, n)
	b = msgp.AppendString(b, "message")
	b = msgp.AppendStringFromBytes(b, r.msg)
	b = msgp.AppendString(b, "program")
	b = msgp.AppendString(b, r.program)
	b = msgp.AppendString(b, "stream")
	b = msgp.AppendString(b, r.stream)
	b = msgp.AppendString(b, "host")
	b = msgp.AppendString(b, r.host)
	if r.partial {
		b = msgp.AppendString(b, "partial")
		b = msgp.AppendBool(b, true)
	}
	if r.file != "" {
		b = msgp.AppendString(b, "file")
		b = msgp.AppendString(b, r.file)
	}
	return b, nil
}

// Msgsize implements msgp.Sizer: an upper bound of the encoded size.
func (r *fluentRecord) Msgsize() int {
	return msgp.MapHeaderSize + 6*msgp.StringPrefixSize + 40 +
		len(r.msg) + len(r.program) + len(r.stream) + len(r.host) + len(r.file) + msgp.BoolSize
}
