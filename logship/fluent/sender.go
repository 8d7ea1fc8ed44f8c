package fluent

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"

	"tend/forward"
)

// sender is the one goroutine that sends: it seals chunks whose linger
// has passed, hands the oldest sealed chunk to the client (reading it back
// from the spool first when it is only there), collects acks when there is
// nothing new to send, and ends when Close has nothing left to send or
// gives up; what is left then goes to the spool or is counted as dropped.
func (f *Sink) sender() {
	defer close(f.done)
	for f.run.Err() == nil {
		b, wait, finished := f.take(time.Now())
		if finished {
			break
		}
		unsettled := len(f.client.Unsettled())
		switch {
		case b != nil && unsettled < forward.DefaultWindow:
			if b.ch == nil && !f.load(b) {
				continue
			}
			f.send(b)
		case unsettled > 0:
			f.collect(unsettled < forward.DefaultWindow)
		default:
			f.idle(wait)
		}
	}
	f.client.Close()
	f.leftovers()
}

// take does the sender's periodic work and returns the chunk to send
// next, or how long to wait for one, or finished once Close began and
// every chunk was settled.
func (f *Sink) take(now time.Time) (b *batch, wait time.Duration, finished bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	next := f.sealOpenLocked(now, f.closing)
	f.reapSpoolLocked(now)
	for c := range causes {
		if e := &f.events[c]; e.pending.Lines > 0 && now.Sub(e.last) >= dropEventEvery {
			f.logDropLocked(dropCause(c), now)
		}
	}
	if !f.failing && !f.stallLogged && f.pendingLocked() && now.Sub(f.progressAt) >= stallAfter {
		f.stallLogged = true
		f.log.Warn("fluentd took nothing for a while; programs no longer wait for it, records go to the buffer and the spool",
			zap.String("addr", f.addr), zap.Duration("for", now.Sub(f.progressAt).Round(time.Millisecond)))
	}
	if len(f.lost) > 0 && f.everSettled && !f.failing {
		// Losses found since the receiver came back (spooled chunks the
		// budget deleted, say): announce them without waiting for the
		// program's next line.
		f.flushMarkersLocked(now)
	}
	if f.head == nil && len(f.q) > 0 && !f.q[0].busy {
		f.head = f.q[0]
		f.q[0] = nil
		f.q = f.q[1:]
	}
	if f.head != nil {
		return f.head, 0, false
	}
	if f.closing && len(f.q) == 0 && len(f.open) == 0 && f.inClient == 0 {
		return nil, 0, true
	}
	wait = tick
	if !next.IsZero() {
		wait = max(min(wait, next.Sub(now)), time.Millisecond)
	}
	return nil, wait, false
}

// load reads a chunk that is only in the spool back into memory. A file
// the budget deleted, or that cannot be read, is counted as dropped.
func (f *Sink) load(b *batch) bool {
	f.mu.Lock()
	ch := f.chunkLocked(int(b.file.size))
	f.mu.Unlock()
	err := f.spool.load(b, ch)
	now := time.Now()
	f.mu.Lock()
	if err == nil {
		b.ch = ch
		b.size = int64(ch.Size())
		f.memBytes += b.size
		f.memEntries += b.entries
		f.mu.Unlock()
		return true
	}
	f.head = nil
	f.spool.files--
	f.spool.entries -= b.entries
	f.spool.bytes -= b.file.size
	f.dropBatchLocked(causeDisk, b, now)
	f.putChunkLocked(ch)
	f.mu.Unlock()
	if b.file.entry == nil || !b.file.entry.Gone() {
		// A file the budget deleted has had its own event.
		f.log.Warn("fluentd spool: a chunk file cannot be read; its records are dropped", zap.String("file", b.file.path), zap.Error(err))
	}
	f.spool.remove(b.file)
	return false
}

// send hands b to the client, which has room for it in its window: it
// takes it at once, then connects (unless a failure asks it to wait) and
// writes it, within its own dial and write timeouts.
func (f *Sink) send(b *batch) {
	ctx, cancel := context.WithTimeout(f.run, sendBound)
	settled, err := f.client.Send(ctx, b.ch)
	cancel()
	if err == nil {
		f.inflight[b.ch] = b
		f.mu.Lock()
		f.head = nil
		f.inClient++
		f.mu.Unlock()
	}
	f.settle(settled)
	f.observe()
}

// collect waits for the acks of the chunks the client holds (or for it to
// connect again and send them) until all are settled or collectSlice
// passes; while the window has room and the receiver takes chunks, a new
// chunk sealed ends the wait too (the client has written every chunk it
// holds then: only the wait for acks is cut short, which costs nothing).
func (f *Sink) collect(room bool) {
	ctx, cancel := context.WithTimeout(f.run, collectSlice)
	defer cancel()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	f.mu.Lock()
	failing := f.failing
	f.mu.Unlock()
	if room && !failing {
		wg.Go(func() {
			select {
			case <-f.wake:
				cancel()
			case <-stop:
			}
		})
	}
	settled, _ := f.client.Flush(ctx)
	close(stop)
	wg.Wait()
	f.settle(settled)
	f.observe()
}

// idle waits for new work, at most wait.
func (f *Sink) idle(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-f.wake:
	case <-t.C:
	case <-f.run.Done():
	}
}

// settle takes back the chunks the receiver took: counted as sent, their
// memory freed, their spool files deleted.
func (f *Sink) settle(settled []*forward.Chunk) {
	if len(settled) == 0 {
		return
	}
	now := time.Now()
	var files []*spoolFile
	f.mu.Lock()
	for _, ch := range settled {
		b := f.inflight[ch]
		if b == nil {
			continue
		}
		delete(f.inflight, ch)
		f.inClient--
		f.sent += b.entries
		if f.ack {
			f.acked += b.entries
		}
		f.memBytes -= b.size
		f.memEntries -= b.entries
		f.putChunkLocked(ch)
		b.ch = nil
		if b.file != nil {
			files = append(files, b.file)
			f.spool.files--
			f.spool.entries -= b.entries
			f.spool.bytes -= b.file.size
			b.file = nil
		}
	}
	f.progressAt = now
	f.everSettled = true
	f.stallLogged = false
	f.broadcastLocked()
	f.mu.Unlock()
	for _, sf := range files {
		f.spool.remove(sf)
	}
}

// observe takes the client's state after a call: a new failure is a
// retry; a change between failing and not wakes every Push waiting for
// room and is an event, and when the receiver takes records again the
// losses not yet announced get their marker records.
func (f *Sink) observe() {
	err := f.client.Err()
	now := time.Now()
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil && !sameError(err, f.lastErr) {
		f.retries++
		f.lastErrText = err.Error()
	}
	f.lastErr = err
	was := f.failing
	f.failing = err != nil
	if was == f.failing {
		return
	}
	f.broadcastLocked()
	if f.failing {
		f.log.Warn("cannot send logs to fluentd; keeping them in the buffer and the spool, retrying", zap.String("addr", f.addr), zap.Error(err))
		return
	}
	f.log.Info("fluentd takes records again", zap.String("addr", f.addr))
	if f.flushMarkersLocked(now) {
		f.wakeSender()
	}
}

// sameError compares two errors without panicking on an error type that
// is not comparable.
func sameError(a, b error) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}

// spillLocked moves the newest chunk that is only in memory (sealing the
// largest open one if there is none) to the spool, and reports whether it
// did: memory was freed. While the receiver takes records and Push may
// wait (blocking mode), the spool keeps to its cap and to the disk budget
// without deleting anything; otherwise its oldest chunks make room. f.mu
// is held; it is released while the file is written.
func (f *Sink) spillLocked(now time.Time) bool {
	s := f.spool
	if s == nil || now.Before(s.retryAt) {
		return false
	}
	var v *batch
	for i := len(f.q) - 1; i >= 0; i-- {
		if b := f.q[i]; b.ch != nil && !b.busy && b.file == nil {
			v = b
			break
		}
	}
	if v == nil {
		for _, o := range f.open {
			if o.entries > 0 && (v == nil || o.size > v.size) {
				v = o
			}
		}
		if v == nil {
			return false
		}
		f.sealLocked(v, now)
		f.wakeSender()
	}
	keep := f.blocking && f.healthyLocked(now)
	var victims []*batch
	if s.bytes+v.size > s.cap {
		if keep {
			return false
		}
		var ok bool
		if victims, ok = f.spoolVictimsLocked(v.size, now); !ok {
			return false
		}
	}
	if keep && s.budget != nil && s.budget.Limit() > 0 && s.budget.Used()+v.size > s.budget.Limit() {
		// The budget would make room by deleting the oldest files, older
		// spooled chunks among them, while nothing needs to be lost.
		return false
	}
	v.busy = true
	f.mu.Unlock()
	for _, b := range victims {
		s.remove(b.file)
	}
	sf, err := s.write(v)
	f.mu.Lock()
	v.busy = false
	f.wakeSender()
	if err != nil {
		s.retryAt = now.Add(spoolRetry)
		f.log.Warn("fluentd spool: cannot write a chunk; records past the buffer are dropped", zap.String("spool", s.dir), zap.Error(err))
		return false
	}
	v.file = sf
	s.files++
	s.entries += v.entries
	s.bytes += sf.size
	f.memBytes -= v.size
	f.memEntries -= v.entries
	f.putChunkLocked(v.ch)
	v.ch = nil
	f.broadcastLocked()
	return true
}

// spoolVictimsLocked takes the oldest chunks that are only in the spool
// out of the queue until need more bytes fit under the spool's cap, and
// counts them as dropped; the caller deletes their files. It takes none
// and reports false when that would not be enough. f.mu is held.
func (f *Sink) spoolVictimsLocked(need int64, now time.Time) ([]*batch, bool) {
	s := f.spool
	var victims []*batch
	freed := int64(0)
	for _, b := range f.q {
		if s.bytes-freed+need <= s.cap {
			break
		}
		if b.ch == nil && !b.busy && b.file != nil {
			victims = append(victims, b)
			freed += b.file.size
		}
	}
	if s.bytes-freed+need > s.cap {
		return nil, false
	}
	f.removeLocked(victims)
	for _, b := range victims {
		s.files--
		s.entries -= b.entries
		s.bytes -= b.file.size
		f.dropBatchLocked(causeSpool, b, now)
	}
	return victims, true
}

// reapSpoolLocked counts as dropped the queued chunks, only on disk, whose
// files the disk budget deleted. f.mu is held.
func (f *Sink) reapSpoolLocked(now time.Time) {
	s := f.spool
	if s == nil || s.budget == nil {
		return
	}
	var gone []*batch
	for _, b := range f.q {
		if b.ch == nil && !b.busy && b.file != nil && b.file.entry != nil && b.file.entry.Gone() {
			gone = append(gone, b)
		}
	}
	f.removeLocked(gone)
	for _, b := range gone {
		s.files--
		s.entries -= b.entries
		s.bytes -= b.file.size
		f.dropBatchLocked(causeDisk, b, now)
	}
}

// removeLocked takes bs out of the queue. f.mu is held.
func (f *Sink) removeLocked(bs []*batch) {
	if len(bs) == 0 {
		return
	}
	out := make(map[*batch]bool, len(bs))
	for _, b := range bs {
		out[b] = true
	}
	q := f.q[:0]
	for _, b := range f.q {
		if !out[b] {
			q = append(q, b)
		}
	}
	clear(f.q[len(q):])
	f.q = q
}

// leftovers handles what is left when the sender ends: every chunk not
// settled, in order (those the client holds, the next one, the queue, the
// open ones), goes to the spool for the next start, or is counted as
// dropped when there is no spool, the spool cannot take it, or Close ran
// out of time. Chunks already in the spool stay there.
func (f *Sink) leftovers() {
	now := time.Now()
	f.mu.Lock()
	// A Push may still be writing a chunk to the spool: it ends soon.
	for until := now.Add(time.Second); f.busyLocked() && time.Now().Before(until); {
		f.mu.Unlock()
		time.Sleep(time.Millisecond)
		f.mu.Lock()
	}
	var order []*batch
	for _, ch := range f.client.Unsettled() {
		if b := f.inflight[ch]; b != nil {
			order = append(order, b)
			delete(f.inflight, ch)
		}
	}
	f.inClient = 0
	if f.head != nil {
		order = append(order, f.head)
		f.head = nil
	}
	f.sealOpenLocked(now, true)
	order = append(order, f.q...)
	f.q = nil
	f.mu.Unlock()

	var kept []*batch
	for _, b := range order {
		f.mu.Lock()
		if b.file == nil && f.spool != nil && !f.aborted && !b.busy && (f.deadline.IsZero() || time.Now().Before(f.deadline)) &&
			f.spool.bytes+b.size <= f.spool.cap {
			f.mu.Unlock()
			sf, err := f.spool.write(b)
			f.mu.Lock()
			if err != nil {
				f.log.Warn("fluentd spool: cannot write a chunk left at the stop; its records are dropped", zap.String("spool", f.spool.dir), zap.Error(err))
			} else {
				b.file = sf
				f.spool.files++
				f.spool.entries += b.entries
				f.spool.bytes += sf.size
			}
		}
		if b.ch != nil {
			f.memBytes -= b.size
			f.memEntries -= b.entries
			f.putChunkLocked(b.ch)
			b.ch = nil
		}
		if b.file != nil {
			kept = append(kept, b)
		} else {
			f.dropBatchLocked(causeStop, b, time.Now())
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range kept {
		if b.file.entry != nil && b.file.entry.Gone() {
			// The budget deleted it to make room for a later one.
			f.dropBatchLocked(causeDisk, b, time.Now())
			continue
		}
		f.spooledAtEnd.chunks++
		f.spooledAtEnd.records += b.records
	}
}

// busyLocked reports whether a Push is writing a queued chunk to the
// spool. f.mu is held.
func (f *Sink) busyLocked() bool {
	for _, b := range f.q {
		if b.busy {
			return true
		}
	}
	return false
}
