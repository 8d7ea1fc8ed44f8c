package budget

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Cleanups made for the disk limits are kept for `tend status` and handed
// to the cleanup hook.
const (
	// cleanupsKept is how many recent cleanups `tend status` lists.
	cleanupsKept = 20
	// hookQueue is how many cleanups wait for the hook; more are skipped
	// and counted.
	hookQueue = 16
	// hookTimeout bounds one run of the hook.
	hookTimeout = 30 * time.Second
)

// Cleanup is one deletion or truncation made to keep the disk limits.
type Cleanup struct {
	Time    time.Time `json:"time"`
	File    string    `json:"file"`
	Program string    `json:"program,omitempty"`
	Bytes   int64     `json:"bytes"`
	// Action is "deleted" or "truncated" (the file was still open for
	// writing, so deleting it would have freed nothing).
	Action string `json:"action"`
	// Reason is "disk budget", "min free space" or "disk full".
	Reason string `json:"reason"`
}

// cleanups records every cleanup and runs the hook for each, on its own
// goroutine: record never waits.
type cleanups struct {
	log *zap.Logger

	mu     sync.Mutex
	recent [cleanupsKept]Cleanup
	next   int
	n      int
	total  int64
	bytes  int64
	closed bool

	hook    func(ctx context.Context, r Removal) error
	queue   chan Removal
	skipped atomic.Int64 // queue full, or tend stopping
	failed  atomic.Int64
	ctx     context.Context
	cancel  context.CancelFunc
	quit    chan struct{}
	done    chan struct{}
}

func newCleanups(log *zap.Logger, hook func(context.Context, Removal) error) *cleanups {
	ctx, cancel := context.WithCancel(context.Background())
	return &cleanups{
		log:    log,
		hook:   hook,
		queue:  make(chan Removal, hookQueue),
		ctx:    ctx,
		cancel: cancel,
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
	}
}

// record keeps r for the status and queues the hook for it.
func (c *cleanups) record(r Removal) {
	action := "deleted"
	if r.Truncated {
		action = "truncated"
	}
	c.mu.Lock()
	c.recent[c.next] = Cleanup{Time: time.Now(), File: r.Path, Program: r.Owner, Bytes: r.Bytes, Action: action, Reason: r.Reason}
	c.next = (c.next + 1) % cleanupsKept
	c.n = min(c.n+1, cleanupsKept)
	c.total++
	c.bytes += r.Bytes
	closed := c.closed
	if c.hook != nil && !closed {
		select {
		case c.queue <- r:
		default:
			c.skipped.Add(1)
			if c.skipped.Load() == 1 {
				c.log.Warn("log cleanup hook cannot keep up; skipping it for some cleanups")
			}
		}
	}
	c.mu.Unlock()
}

// run runs the hook for each queued cleanup until stop.
func (c *cleanups) run() {
	defer close(c.done)
	for {
		select {
		case <-c.quit:
			return
		case r := <-c.queue:
			ctx, cancel := context.WithTimeout(c.ctx, hookTimeout)
			err := c.hook(ctx, r)
			cancel()
			if err != nil {
				c.failed.Add(1)
				c.log.Warn("log cleanup hook failed", zap.String("file", r.Path), zap.Error(err))
			}
		}
	}
}

// stop ends the hook goroutine: a hook running may finish until soft is
// done, then it is cancelled; the wait ends at hard in any case. Queued
// cleanups whose hook did not start are counted as skipped.
func (c *cleanups) stop(soft, hard context.Context) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	select {
	case <-c.done:
	case <-soft.Done():
		c.cancel()
		select {
		case <-c.done:
		case <-hard.Done():
		}
	}
	c.cancel()
	for {
		select {
		case <-c.queue:
			c.skipped.Add(1)
		default:
			return
		}
	}
}

// list returns the recent cleanups, oldest first, and the totals.
func (c *cleanups) list() (recent []Cleanup, total, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := c.n; i > 0; i-- {
		recent = append(recent, c.recent[(c.next-i+cleanupsKept)%cleanupsKept])
	}
	return recent, c.total, c.bytes
}

// StopHooks ends the hook goroutine: a hook running may finish until soft
// is done, then it is cancelled; the wait ends at hard in any case. Queued
// cleanups whose hook did not start are counted as skipped, and so are
// cleanups made afterwards.
func (b *Budget) StopHooks(soft, hard context.Context) { b.clean.stop(soft, hard) }
