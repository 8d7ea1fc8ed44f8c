package forward

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// listener accepts connections and hands each to serve; it counts them
// and closes them all at the end of the test.
type listener struct {
	addr     string
	accepted atomic.Int64
}

func listen(t *testing.T, serve func(net.Conn)) *listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &listener{addr: l.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			r.accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go serve(c)
		}
	}()
	return r
}

// neverRead holds the connection open and never reads or writes.
func neverRead(net.Conn) {}

// bigChunk returns a chunk of about 1 MiB.
func bigChunk() *Chunk {
	ch := new(Chunk)
	ch.Reset("tend.main.stdout")
	msg := bytes.Repeat([]byte("x"), 1000)
	for range 1000 {
		ch.Append(time.Now(), &Record{Message: msg, Program: "main", Stream: "stdout"})
	}
	return ch
}

// returnsBy runs f and fails the test if it has not returned 10 s after
// the deadline (a hang, not a timing measure).
func returnsBy(t *testing.T, deadline time.Time, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(time.Until(deadline) + 10*time.Second):
		t.Fatal("still blocked 10s after its deadline")
	}
}

// A receiver that accepts and never reads: Send keeps taking chunks until
// the socket buffers are full, then returns by its deadline with an error
// saying so, with ack on or off.
func TestSendReturnsByItsDeadlineWhenTheReceiverNeverReads(t *testing.T) {
	t.Parallel()
	for _, ack := range []bool{false, true} {
		t.Run(map[bool]string{false: "ack off", true: "ack on"}[ack], func(t *testing.T) {
			r := listen(t, neverRead)
			c, err := NewClient(Config{Addr: r.addr, Ack: ack})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			deadline := time.Now().Add(2 * time.Second)
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			var sendErr error
			taken := 0
			returnsBy(t, deadline, func() {
				for sendErr == nil {
					_, sendErr = c.Send(ctx, bigChunk())
					if sendErr == nil {
						taken++
					}
				}
			})
			if !errors.Is(sendErr, context.DeadlineExceeded) {
				t.Errorf("Send = %v, want an error wrapping context.DeadlineExceeded", sendErr)
			}
			if n := len(c.Unsettled()); ack && n != taken || n > DefaultWindow {
				t.Errorf("%d chunks unsettled of %d taken; the window is %d", n, taken, DefaultWindow)
			}
		})
	}
}

// flushUntil sends ch, then flushes in short slices until done reports
// true (or 30 s pass, failing the test); it returns the error of one more
// Flush, cut short by its deadline.
func flushUntil(t *testing.T, c *Client, ch *Chunk, done func() bool) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Send(ctx, ch); err != nil {
		t.Fatalf("Send with room in the window: %v", err)
	}
	for !done() {
		if ctx.Err() != nil {
			t.Fatalf("not done after 30s; last error %v", c.Err())
		}
		fctx, fcancel := context.WithTimeout(ctx, time.Second)
		c.Flush(fctx)
		fcancel()
	}
	fctx, fcancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer fcancel()
	_, err := c.Flush(fctx)
	return err
}

// smallChunk returns a chunk of one record.
func smallChunk() *Chunk {
	ch := new(Chunk)
	ch.Reset("tend.main.stdout")
	ch.Append(time.Now(), &Record{Message: []byte("hello"), Program: "main", Stream: "stdout"})
	return ch
}

// A receiver that reads but never acknowledges: after the ack timeout the
// client takes the connection for dead and sends the chunk again on a new
// one; Flush returns by its deadline, saying why.
func TestAckTimeoutResendsOnANewConnection(t *testing.T) {
	t.Parallel()
	r := listen(t, func(c net.Conn) { io.Copy(io.Discard, c) })
	c, err := NewClient(Config{Addr: r.addr, Ack: true, AckTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flushErr := flushUntil(t, c, smallChunk(), func() bool { return r.accepted.Load() >= 2 })
	if !errors.Is(c.Err(), ErrAckTimeout) {
		t.Errorf("Err = %v, want ErrAckTimeout", c.Err())
	}
	if !errors.Is(flushErr, ErrAckTimeout) || !errors.Is(flushErr, context.DeadlineExceeded) {
		t.Errorf("Flush = %v, want it to say its deadline passed after an ack timeout", flushErr)
	}
	if len(c.Unsettled()) != 1 {
		t.Errorf("%d chunks unsettled, want the 1 never acked", len(c.Unsettled()))
	}
}

// A receiver without <security> never sends HELO: with a shared key the
// connection fails after the dial timeout, saying what is missing.
func TestSharedKeyWithoutHELOFailsClearly(t *testing.T) {
	t.Parallel()
	r := listen(t, neverRead)
	c, err := NewClient(Config{Addr: r.addr, SharedKey: "k", DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	flushErr := flushUntil(t, c, smallChunk(), func() bool { return c.Err() != nil })
	const want = "shared key handshake: no HELO from the receiver within 300ms (has its input a <security> section?)"
	if c.Err() == nil || c.Err().Error() != want {
		t.Errorf("Err = %v, want %q", c.Err(), want)
	}
	if flushErr == nil || !strings.Contains(flushErr.Error(), want) {
		t.Errorf("Flush = %v, want it to say %q", flushErr, want)
	}
}

// A cancelled context (no deadline) ends a wait for an ack at once, and
// is no failure of the receiver: the connection stays.
func TestCancelEndsTheWaitForAnAck(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The receiver cancels once it has read the whole chunk, so that the
	// client is waiting for the ack.
	ch := bigChunk()
	size := int64(ch.Size())
	r := listen(t, func(c net.Conn) {
		io.CopyN(io.Discard, c, size)
		cancel()
		io.Copy(io.Discard, c)
	})
	c, err := NewClient(Config{Addr: r.addr, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var flushErr error
	returnsBy(t, time.Now(), func() {
		c.Send(ctx, ch)
		_, flushErr = c.Flush(ctx)
	})
	if !errors.Is(flushErr, context.Canceled) {
		t.Errorf("Flush = %v, want context.Canceled", flushErr)
	}
	if r.accepted.Load() != 1 || c.Err() != nil || c.conn == nil {
		t.Errorf("%d connections, last error %v, connected %v: a cancel is no failure of the receiver", r.accepted.Load(), c.Err(), c.conn != nil)
	}
}

// A Send refused for want of room in the window leaves the caller its
// chunk, and the next Send or Flush carries on where it stopped.
func TestSendNotTakenLeavesTheChunkToTheCaller(t *testing.T) {
	t.Parallel()
	r := listen(t, neverRead)
	c, err := NewClient(Config{Addr: r.addr, Ack: true, Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	first, second := bigChunk(), bigChunk()
	if _, err := c.Send(ctx, first); err != nil {
		t.Fatalf("the first Send, with room in the window: %v", err)
	}
	if _, err := c.Send(ctx, second); err == nil {
		t.Fatal("the second Send took its chunk with the window full and no ack")
	}
	if u := c.Unsettled(); len(u) != 1 || u[0] != first {
		t.Errorf("unsettled: %v, want only the first chunk", u)
	}
}
