package logship

import "sync/atomic"

// Drops counts what was dropped: records and the bytes the program wrote
// for them.
type Drops struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

// Reason says why records were dropped; each is counted on its own.
type Reason uint8

// Drop reasons.
const (
	// RateLimited: the console's rate limit suppressed them.
	RateLimited Reason = iota
	// DiskLimited: they were not written to the program's file (disk
	// budget, min free space, disk full, or a write error).
	DiskLimited
	// BufferFull: a sink's queue refused them in non-blocking mode, or
	// they were left in a queue when the stop ran out of time.
	BufferFull
	// ForwardFailed: they were not forwarded to Fluentd (its buffer and
	// spool were full while the receiver was down, the disk limits
	// deleted their spooled chunk, or the stop left them).
	ForwardFailed
	reasons
)

// ProgramStats are one program's log counters. A "line" is a record as the
// sinks see it: a line, a piece of a line longer than MaxLine, or a joined
// stack trace. Bytes are counted as the program wrote them, newlines
// included.
type ProgramStats struct {
	// Lines and Bytes were read from the program's pipes (and written for it
	// with WriteLine).
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
	// RateDropped were suppressed on the console by the rate limit.
	RateDropped Drops `json:"rate_dropped"`
	// DiskDropped were not written to the program's file: disk budget, min
	// free space, disk full, or a write error.
	DiskDropped Drops `json:"disk_dropped"`
	// BufferDropped were refused by a full sink queue in non-blocking mode,
	// or abandoned in a queue when Close ran out of time; counted per sink.
	BufferDropped Drops `json:"buffer_dropped"`
	// FileBytes is the size of the program's files on disk now.
	FileBytes int64 `json:"file_bytes"`
	// FluentDropped were not forwarded to Fluentd: its buffer and spool
	// were full while the receiver was down, the disk limits deleted their
	// spooled chunk, or the stop left them.
	FluentDropped Drops `json:"fluent_dropped"`
}

// DropCounter is a concurrent Drops counter.
type DropCounter struct{ lines, bytes atomic.Int64 }

// Add counts lines records of bytes bytes.
func (d *DropCounter) Add(lines, bytes int64) {
	d.lines.Add(lines)
	d.bytes.Add(bytes)
}

// Load returns the counts.
func (d *DropCounter) Load() Drops { return Drops{Lines: d.lines.Load(), Bytes: d.bytes.Load()} }

// Counters are a program's counters, updated by captures and sinks.
type Counters struct {
	lines, bytes atomic.Int64
	drops        [reasons]DropCounter
}

// Drop counts records dropped for reason.
func (c *Counters) Drop(reason Reason, lines, bytes int64) { c.drops[reason].Add(lines, bytes) }

// Dropped returns what was dropped for reason so far.
func (c *Counters) Dropped(reason Reason) Drops { return c.drops[reason].Load() }

// Stats returns the counters (FileBytes left zero: the budget knows it).
func (c *Counters) Stats() ProgramStats {
	return ProgramStats{
		Lines:         c.lines.Load(),
		Bytes:         c.bytes.Load(),
		RateDropped:   c.Dropped(RateLimited),
		DiskDropped:   c.Dropped(DiskLimited),
		BufferDropped: c.Dropped(BufferFull),
		FluentDropped: c.Dropped(ForwardFailed),
	}
}

// Program is the state the pipeline keeps per program name; it outlives
// restarts of the program. Sinks keep their own per-program state (a
// file, a rate limiter) keyed by *Program.
type Program struct {
	// Name is the program's name, such as "main".
	Name string
	// Counters are its log counters.
	Counters Counters

	rate, burst atomic.Int64
	last        lastLines
	opened      bool // sinks were told of it (ProgramOpener); under Pipeline.mu
}

// Limit returns the program's console rate limit: bytes per second and
// burst bytes (see Source).
func (p *Program) Limit() (rate, burst int64) { return p.rate.Load(), p.burst.Load() }

// setLimit sets the console rate limit from src.
func (p *Program) setLimit(src Source) {
	p.rate.Store(src.Rate)
	p.burst.Store(src.Burst)
}
