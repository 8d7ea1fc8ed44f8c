package logship

import "sync/atomic"

// Drops counts what was dropped: records and the bytes the program wrote
// for them.
type Drops struct {
	Lines int64 `json:"lines"`
	Bytes int64 `json:"bytes"`
}

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
	// FluentDropped were not forwarded to Fluentd: its buffer was full
	// (the receiver was down or slow), or the stop ran out of time.
	FluentDropped Drops `json:"fluent_dropped"`
}

// drops is a concurrent Drops counter.
type drops struct{ lines, bytes atomic.Int64 }

func (d *drops) add(lines, bytes int64) {
	d.lines.Add(lines)
	d.bytes.Add(bytes)
}

func (d *drops) load() Drops { return Drops{Lines: d.lines.Load(), Bytes: d.bytes.Load()} }

// take returns the counts and resets them.
func (d *drops) take() Drops {
	return Drops{Lines: d.lines.Swap(0), Bytes: d.bytes.Swap(0)}
}

// counters are a program's counters, updated by captures and sinks.
type counters struct {
	lines, bytes atomic.Int64
	rate         drops
	disk         drops
	buffer       drops
	fluent       drops
}
