package fluent

import (
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"tend/forward"
	"tend/logship"
)

// dropCause says why records were dropped on their way to Fluentd.
type dropCause uint8

// The causes, as DropCauses names them.
const (
	causeBuffer dropCause = iota
	causeSpool
	causeDisk
	causeStop
	causes
)

// causeNames are the causes in Status, events and /metrics.
var causeNames = [causes]string{"buffer_full", "spool_full", "disk_limits", "stop"}

// causeTexts are the causes in marker records.
var causeTexts = [causes]string{"fluentd buffer full", "fluentd spool full", "disk limits", "stop"}

// dropEvent is what one cause dropped since its last warning.
type dropEvent struct {
	last    time.Time
	pending logship.Drops
}

// lostRecords is what a program's stream lost and no marker record has
// announced yet.
type lostRecords struct {
	drops  logship.Drops
	causes [causes]bool
}

// dropLocked counts records dropped for cause: in the sink's counters and
// the program's (when known), in the marker to come for key, and in the
// cause's warning. f.mu is held.
func (f *Sink) dropLocked(c dropCause, key tagKey, p *logship.Program, lines, bytes int64, now time.Time) {
	if lines == 0 {
		return
	}
	f.dropped[c].Lines += lines
	f.dropped[c].Bytes += bytes
	if p != nil {
		p.Counters.Drop(logship.ForwardFailed, lines, bytes)
	}
	l := f.lost[key]
	if l == nil {
		l = &lostRecords{}
		f.lost[key] = l
	}
	l.drops.Lines += lines
	l.drops.Bytes += bytes
	l.causes[c] = true
	e := &f.events[c]
	e.pending.Lines += lines
	e.pending.Bytes += bytes
	if now.Sub(e.last) >= dropEventEvery {
		f.logDropLocked(c, now)
	}
}

// dropBatchLocked drops a whole chunk: its records, and again the drops
// its markers announced, which are to be announced anew. f.mu is held.
func (f *Sink) dropBatchLocked(c dropCause, b *batch, now time.Time) {
	f.dropLocked(c, b.key, b.prog, b.records, b.raw, now)
	if b.carried.Lines > 0 {
		l := f.lost[b.key]
		if l == nil {
			l = &lostRecords{}
			f.lost[b.key] = l
		}
		l.drops.Lines += b.carried.Lines
		l.drops.Bytes += b.carried.Bytes
		l.causes[c] = true
	}
}

// logDropLocked writes the warning of one cause and starts its next 10 s.
// f.mu is held.
func (f *Sink) logDropLocked(c dropCause, now time.Time) {
	e := &f.events[c]
	f.log.Warn("dropped records on their way to fluentd", zap.String("addr", f.addr), zap.String("cause", causeNames[c]),
		zap.Int64("records", e.pending.Lines), zap.Int64("bytes", e.pending.Bytes), zap.Int64("records_total", f.dropped[c].Lines),
		zap.String("last_error", f.lastErrText))
	e.last = now
	e.pending = logship.Drops{}
}

// markerLocked appends to o the record that announces what key lost:
//
//	dropped 1200 records (144000 bytes) from main (fluentd buffer full)
//
// with "tend": true, and forgets the loss. f.mu is held.
func (f *Sink) markerLocked(o *batch, key tagKey, l *lostRecords, now time.Time) {
	msg := make([]byte, 0, 96)
	msg = append(msg, "dropped "...)
	msg = strconv.AppendInt(msg, l.drops.Lines, 10)
	msg = append(msg, " records ("...)
	msg = strconv.AppendInt(msg, l.drops.Bytes, 10)
	msg = append(msg, " bytes) from "...)
	msg = append(msg, key.program...)
	var why []string
	for c, ok := range l.causes {
		if ok {
			why = append(why, causeTexts[c])
		}
	}
	msg = append(msg, " ("+strings.Join(why, ", ")+")"...)
	before := o.ch.Size()
	o.ch.Append(now, &forward.Record{Message: msg, Program: key.program, Stream: key.stream, Host: f.host, Tend: true})
	grown := int64(o.ch.Size() - before)
	o.size += grown
	o.entries++
	o.carried.Lines += l.drops.Lines
	o.carried.Bytes += l.drops.Bytes
	f.memBytes += grown
	f.memEntries++
	delete(f.lost, key)
}

// flushMarkersLocked appends a marker for every stream with a loss not yet
// announced to its open chunk. It reports whether it appended any. f.mu
// is held.
func (f *Sink) flushMarkersLocked(now time.Time) bool {
	any := false
	for key, l := range f.lost {
		f.markerLocked(f.openLocked(key, nil, now), key, l, now)
		any = true
	}
	return any
}
