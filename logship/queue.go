package logship

import (
	"sync"
	"time"
)

// queue is a sink's own bounded queue of batches, bounded by the memory
// its batches hold (their buffers' capacity). In blocking mode a full queue makes the capture wait (and so the
// program, through its pipe); in non-blocking mode a batch that does not fit
// is refused and the caller counts it as dropped. A batch larger than the
// whole limit is still taken when the queue is empty, so nothing is too big
// to pass.
type queue struct {
	mu      sync.Mutex
	space   sync.Cond // signalled when bytes leave the queue or it is aborted
	items   []item
	head    int
	bytes   int64
	limit   int64
	block   bool
	closed  bool          // no more pushes: the consumer stops once empty
	aborted bool          // pushes fail and the consumer stops now
	ready   chan struct{} // wakes the consumer; capacity 1
}

// item is a queued batch and what this sink dropped of the same program
// just before it, so the sink's marker lands where the gap is.
type item struct {
	b    *batch
	lost Drops
}

func newQueue(limit int64, block bool) *queue {
	q := &queue{limit: limit, block: block, ready: make(chan struct{}, 1)}
	q.space.L = &q.mu
	return q
}

// push adds b, waiting for room in blocking mode. It reports false when b
// was not queued (full in non-blocking mode, or the queue was aborted); the
// caller then adds b to lost, which the next batch queued takes along.
func (q *queue) push(b *batch, lost *drops) bool {
	n := int64(cap(b.data))
	q.mu.Lock()
	for !q.aborted && !q.closed && q.bytes > 0 && q.bytes+n > q.limit {
		if !q.block {
			q.mu.Unlock()
			return false
		}
		q.space.Wait()
	}
	if q.aborted || q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, item{b: b, lost: lost.take()})
	q.bytes += n
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return true
}

// next returns the oldest item. It waits until one arrives, or wake fires
// (then it returns an empty item and true), or the queue is closed and
// empty or aborted (then it returns false).
func (q *queue) next(wake <-chan time.Time) (item, bool) {
	for {
		q.mu.Lock()
		if q.aborted {
			q.mu.Unlock()
			return item{}, false
		}
		if q.head < len(q.items) {
			it := q.items[q.head]
			q.items[q.head] = item{}
			q.head++
			if q.head == len(q.items) {
				q.items, q.head = q.items[:0], 0
			}
			q.bytes -= int64(cap(it.b.data))
			q.space.Broadcast()
			q.mu.Unlock()
			return it, true
		}
		if q.closed {
			q.mu.Unlock()
			return item{}, false
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-wake:
			return item{}, true
		}
	}
}

// empty reports whether nothing waits in the queue.
func (q *queue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

// close lets the consumer finish what is queued and stop.
func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.space.Broadcast()
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// abort fails every waiting and future push, stops the consumer, and
// returns the batches that were still queued, for the caller to count and
// release.
func (q *queue) abort() []item {
	q.mu.Lock()
	q.aborted = true
	left := append([]item(nil), q.items[q.head:]...)
	q.items, q.head, q.bytes = nil, 0, 0
	q.space.Broadcast()
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return left
}
