package admin

import (
	"net"
	"sync"
	"time"
)

// evictAfter is how long a connection must have waited for a request
// before it may be closed to make room: a client that connected a moment
// ago is most likely sending its request right now.
const evictAfter = 100 * time.Millisecond

// limitListener holds at most max connections open at once, so that no
// number of clients can take all of tend's descriptors. At the cap, Accept
// first closes the connection that has waited longest for a request (an
// HTTP keep-alive connection between requests, or a client that connected
// and sent nothing), and otherwise waits for a connection to end; clients
// beyond the cap wait in the kernel's accept queue, which costs tend no
// descriptor.
//
// Accept reserves a slot before it takes a connection from the kernel, so
// at the cap one idle connection may be closed before the next client
// arrives; such a client only has to connect again.
type limitListener struct {
	net.Listener
	slots chan struct{} // one token per open connection
	done  chan struct{} // closed by Close
	once  sync.Once
	// wake tells a waiting Accept that a connection became idle.
	wake chan struct{}

	mu sync.Mutex
	// waiting holds the open connections that wait for a request, with
	// the time they began to wait.
	waiting map[*limitConn]time.Time
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{
		Listener: ln,
		slots:    make(chan struct{}, max),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		waiting:  map[*limitConn]time.Time{},
	}
}

// Accept waits for a free slot, then for a connection. A new connection
// counts as waiting for its request until markActive.
func (l *limitListener) Accept() (net.Conn, error) {
	if !l.acquire() {
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	lc := &limitConn{Conn: c, l: l}
	l.markIdle(lc)
	return lc, nil
}

// acquire takes a slot, closing the longest-waiting connection when none
// is free; it reports false once the listener is closed.
func (l *limitListener) acquire() bool {
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.done:
			return false
		default:
		}
		oldest, wait := l.oldestWaiting()
		if oldest != nil && wait >= evictAfter {
			oldest.Close() // frees its slot
			continue
		}
		retry := evictAfter - wait
		if oldest == nil {
			retry = time.Second
		}
		timer := time.NewTimer(retry)
		select {
		case l.slots <- struct{}{}:
			timer.Stop()
			return true
		case <-l.done:
			timer.Stop()
			return false
		case <-l.wake:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (l *limitListener) oldestWaiting() (*limitConn, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var oldest *limitConn
	var since time.Time
	for c, t := range l.waiting {
		if oldest == nil || t.Before(since) {
			oldest, since = c, t
		}
	}
	if oldest == nil {
		return nil, 0
	}
	return oldest, time.Since(since)
}

// markIdle records that c waits for a request from now on.
func (l *limitListener) markIdle(c *limitConn) {
	l.mu.Lock()
	if !c.closed {
		l.waiting[c] = time.Now()
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// markActive records that c is serving a request: it is not closed to
// make room until it waits again.
func (l *limitListener) markActive(c *limitConn) {
	l.mu.Lock()
	delete(l.waiting, c)
	l.mu.Unlock()
}

// Close stops Accept, including one waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn is a connection that gives its slot back when closed.
type limitConn struct {
	net.Conn
	l      *limitListener
	once   sync.Once
	closed bool // under l.mu
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.closed = true
		delete(c.l.waiting, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
