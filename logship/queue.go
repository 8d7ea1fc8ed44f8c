package logship

import (
	"slices"
	"strings"
	"sync"
	"time"
)

// Queue is a sink's own bounded queue of batches, bounded by the memory
// its batches hold (Batch.Size). In blocking mode a full queue makes Push
// wait, and so the capture, and so the program through its pipe; in
// non-blocking mode a batch that does not fit is refused. A batch larger
// than the whole limit is still taken when the queue is empty, so nothing
// is too big to pass.
//
// A refused batch is counted as dropped (BufferFull) in its program's
// counters, and the next batch of the same program that is queued carries
// the count (Item.Lost), so the sink can write its marker where the gap is.
//
// One writer at a time: the sink's goroutine holds the queue from Next
// until Done, and in blocking mode a pusher that finds the queue empty and
// nobody writing may write its batch itself, holding the queue from Claim
// until Done. Handing a batch to an idle sink's goroutine costs a wake-up
// of that goroutine (and often of a thread) for every batch; writing it
// in the pusher's goroutine costs nothing more, and in blocking mode the
// pusher would wait for that write anyway once the queue was full.
type Queue struct {
	mu      sync.Mutex
	space   sync.Cond // signalled when bytes leave the queue or it is aborted
	items   []Item
	head    int
	bytes   int64
	limit   int64
	block   bool
	busy    bool                // a writer holds the queue (Next or Claim, until Done)
	waiter  bool                // Next waits for the writer's Done
	closed  bool                // no more pushes: the consumer stops once empty
	aborted bool                // pushes fail and the consumer stops now
	lost    map[*Program]*Drops // refused since the program's last batch queued
	ready   chan struct{}       // wakes the consumer; capacity 1
}

// Item is a queued batch and what this queue refused of the same program
// just before it.
type Item struct {
	Batch *Batch
	Lost  Drops
}

// NewQueue returns a queue that holds at most limit bytes of batches;
// with block, Push waits for room rather than refusing.
func NewQueue(limit int64, block bool) *Queue {
	q := &Queue{limit: limit, block: block, ready: make(chan struct{}, 1), lost: map[*Program]*Drops{}}
	q.space.L = &q.mu
	return q
}

// Push queues b, taking a reference to it, and waits for room in blocking
// mode. It reports false when b was not queued (full in non-blocking mode,
// or the queue was closed or aborted); b is then counted as dropped.
func (q *Queue) Push(b *Batch) bool {
	n := b.Size()
	q.mu.Lock()
	for !q.aborted && !q.closed && q.bytes > 0 && q.bytes+n > q.limit {
		if !q.block {
			q.refuse(b)
			q.mu.Unlock()
			return false
		}
		q.space.Wait()
	}
	if q.aborted || q.closed {
		q.refuse(b)
		q.mu.Unlock()
		return false
	}
	it := Item{Batch: b}
	if len(q.lost) > 0 {
		if d := q.lost[b.Program]; d != nil {
			it.Lost = *d
			delete(q.lost, b.Program)
		}
	}
	b.Ref()
	q.items = append(q.items, it)
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// refuse counts b as dropped. q.mu is held.
func (q *Queue) refuse(b *Batch) {
	lines, size := b.LineCount(), int64(len(b.Data))
	b.Program.Counters.Drop(BufferFull, lines, size)
	d := q.lost[b.Program]
	if d == nil {
		d = &Drops{}
		q.lost[b.Program] = d
	}
	d.Lines += lines
	d.Bytes += size
}

// Claim reports whether the caller may write its batch itself instead of
// pushing it: in blocking mode, when nothing is queued and nobody writes.
// The caller then holds the queue, as the writer, until it calls Done;
// batches pushed meanwhile wait for the sink's goroutine. Batches of one
// stream keep their order: a batch is written directly only when none is
// queued before it.
func (q *Queue) Claim() bool {
	if !q.block {
		// Non-blocking: the pusher must never wait on the sink's output.
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.busy || q.closed || q.aborted || q.head < len(q.items) {
		return false
	}
	q.busy = true
	return true
}

// Done ends the caller's turn as the writer, taken by Claim or by Next,
// and wakes the sink's goroutine when items were queued meanwhile (or the
// queue was closed): with nothing to do, it is left asleep.
func (q *Queue) Done() {
	q.mu.Lock()
	q.busy = false
	waiting := q.waiter || q.head < len(q.items) || q.closed || q.aborted
	q.mu.Unlock()
	if waiting {
		q.wake()
	}
}

// Next returns the oldest item, and makes the caller the writer until it
// calls Done. It waits until an item arrives and no other writer holds the
// queue, or wake fires (then it returns an empty item and true, also
// holding the queue), or the queue is closed and empty or aborted, with
// no other writer (then it returns false). The caller releases the item's
// batch when done with it.
func (q *Queue) Next(wake <-chan time.Time) (Item, bool) {
	woken := false
	for {
		q.mu.Lock()
		q.waiter = false
		if q.busy {
			// A pusher writes its own batch; its Done wakes us.
			q.waiter = true
			q.mu.Unlock()
			select {
			case <-q.ready:
			case <-wake:
				woken, wake = true, nil
			}
			continue
		}
		if q.aborted {
			q.mu.Unlock()
			return Item{}, false
		}
		if woken {
			q.busy = true
			q.mu.Unlock()
			return Item{}, true
		}
		if q.head < len(q.items) {
			it := q.items[q.head]
			q.items[q.head] = Item{}
			q.head++
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
			}
			q.bytes -= it.Batch.Size()
			q.busy = true
			q.space.Broadcast()
			q.mu.Unlock()
			return it, true
		}
		if q.closed {
			q.mu.Unlock()
			return Item{}, false
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-wake:
			woken, wake = true, nil
		}
	}
}

// Unmarked returns, in program name order, what the queue refused of each
// program since it last queued a batch of that program, and forgets it:
// the drops that no queued batch carries (Item.Lost), for the sink to
// announce when it stops.
func (q *Queue) Unmarked() []ProgramDrops {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make([]ProgramDrops, 0, len(q.lost))
	for p, d := range q.lost {
		out = append(out, ProgramDrops{Program: p, Drops: *d})
	}
	clear(q.lost)
	slices.SortFunc(out, func(a, b ProgramDrops) int { return strings.Compare(a.Program.Name, b.Program.Name) })
	return out
}

// ProgramDrops is what a queue refused of one program.
type ProgramDrops struct {
	Program *Program
	Drops   Drops
}

// Empty reports whether nothing waits in the queue.
func (q *Queue) Empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

// Close lets the consumer finish what is queued and stop; later pushes are
// refused.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
	q.wake()
}

// Abort fails every waiting and future push and stops the consumer. Every
// batch still queued is counted as dropped (BufferFull) and released; it
// returns how many lines they held.
func (q *Queue) Abort() (lines int64) {
	q.mu.Lock()
	q.aborted = true
	left := q.items[q.head:]
	q.items, q.head, q.bytes = nil, 0, 0
	q.space.Broadcast()
	q.mu.Unlock()
	q.wake()
	for _, it := range left {
		b := it.Batch
		n := b.LineCount()
		b.Program.Counters.Drop(BufferFull, n, int64(len(b.Data)))
		lines += n
		b.Release()
	}
	return lines
}

func (q *Queue) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}
