package forward

import (
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"tend/internal/fluentdtest"
)

// The tests send to a real Fluentd (v1.14 in_forward, file buffer, out_file
// writing every record as a JSON line): see internal/fluentdtest.

// numbered is the message of record number i: "record 0000042".
func numbered(b []byte, i int) []byte {
	b = append(b[:0], "record "...)
	s := strconv.AppendInt(nil, int64(i), 10)
	for range 7 - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}

// numberOf parses numbered's message; -1 if it is not one.
func numberOf(msg string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(msg, "record "))
	if err != nil || !strings.HasPrefix(msg, "record ") {
		return -1
	}
	return n
}

// sender sends numbered records in chunks through a Client, as a sink
// would: a pool of chunks, each back in the pool once settled.
type sender struct {
	t     testing.TB
	c     *Client
	tag   string
	per   int            // records per chunk
	free  []*Chunk       // chunks to fill
	first map[*Chunk]int // number of each taken chunk's first record
	msg   []byte
	next  int // number of the next record
}

func newSender(t testing.TB, c *Client, tag string, per int) *sender {
	return &sender{t: t, c: c, tag: tag, per: per, first: map[*Chunk]int{}}
}

// send sends the records up to number end (excluded), each Send bounded
// by ctx; it fails the test if a Send does not take its chunk.
func (s *sender) send(ctx context.Context, end int) {
	s.t.Helper()
	now := time.Now()
	for s.next < end {
		var ch *Chunk
		if n := len(s.free); n > 0 {
			ch, s.free = s.free[n-1], s.free[:n-1]
		} else {
			ch = new(Chunk)
		}
		ch.Reset(s.tag)
		s.first[ch] = s.next
		for ; s.next < end && ch.Len() < s.per; s.next++ {
			s.msg = numbered(s.msg, s.next)
			ch.Append(now, &Record{Message: s.msg, Program: "main", Stream: "stdout", Host: "test"})
		}
		settled, err := s.c.Send(ctx, ch)
		s.release(settled)
		if err != nil {
			s.t.Fatalf("Send of records %d-%d: %v", s.first[ch], s.next-1, err)
		}
	}
}

// flush waits until every chunk taken is settled.
func (s *sender) flush(ctx context.Context) {
	s.t.Helper()
	settled, err := s.c.Flush(ctx)
	s.release(settled)
	if err != nil {
		s.t.Fatalf("Flush: %v", err)
	}
}

func (s *sender) release(settled []*Chunk) {
	for _, ch := range settled {
		delete(s.first, ch)
		s.free = append(s.free, ch)
	}
}

// unsettled returns the record numbers [from, to) of every chunk not
// settled yet.
func (s *sender) unsettled() [][2]int {
	var r [][2]int
	for _, ch := range s.c.Unsettled() {
		r = append(r, [2]int{s.first[ch], s.first[ch] + ch.Len()})
	}
	return r
}

// 1,000,000 records in chunks with ack on: Fluentd writes every one, once,
// in the order sent.
func TestFluentdGetsAMillionRecordsOnceInOrderWithAck(t *testing.T) {
	t.Parallel()
	fd := fluentdtest.Start(t)
	c, err := NewClient(Config{Addr: fd.Addr, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const total = 1_000_000
	s := newSender(t, c, "tend.main.stdout", 1000)
	start := time.Now()
	s.send(ctx, total)
	s.flush(ctx)
	sent := time.Since(start)
	fd.Stop()
	stopped := time.Since(start)
	recs := fd.Records()
	t.Logf("sent and acked in %v, Fluentd stopped after %v, records read after %v", sent, stopped, time.Since(start))
	if len(recs) != total {
		t.Errorf("Fluentd wrote %d records, %d were sent and acked", len(recs), total)
	}
	for i, r := range recs {
		if n := numberOf(r.Message); n != i {
			t.Fatalf("record %d is %q (record %d); want them in order, once each", i, r.Message, n)
		}
		if r.Tag != "tend.main.stdout" || r.Program != "main" || r.Stream != "stdout" || r.Host != "test" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

// Fluentd killed with KILL in the middle of the stream and started again
// 5 s later on the same directory and port: with ack on and the client
// resending every unsettled chunk, no record is lost. Only the chunks that
// awaited their ack at the kill may arrive twice (Fluentd may have
// buffered them without the ack reaching the client).
func TestFluentdKilledMidStreamLosesNothingWithAck(t *testing.T) {
	t.Parallel()
	// --flush 60s: the first Fluentd keeps what it got in its file buffer
	// (the test sends less than one buffer chunk before the kill) instead
	// of writing it out; a Fluentd killed in the middle of its own flush
	// would write those records again after the restart, a duplicate this
	// client has no part in. The final stop flushes everything.
	fd := fluentdtest.Start(t, "--flush", "60s")
	c, err := NewClient(Config{Addr: fd.Addr, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	const killAt, total = 40_000, 100_000
	s := newSender(t, c, "tend.main.stdout", 1000)
	s.send(ctx, killAt)
	if err := fd.Kill(); err != nil {
		t.Fatal(err)
	}
	mayRepeat := s.unsettled()
	if len(mayRepeat) == 0 {
		t.Fatal("no chunk was awaiting its ack at the kill: the test does not test the resend")
	}
	restarted := make(chan error, 1)
	time.AfterFunc(5*time.Second, func() { restarted <- fd.Start() })
	s.send(ctx, total)
	s.flush(ctx)
	if err := <-restarted; err != nil {
		t.Fatal(err)
	}
	fd.Stop()

	count := make([]int, total)
	for _, r := range fd.Records() {
		n := numberOf(r.Message)
		if n < 0 || n >= total {
			t.Fatalf("a record that was never sent: %+v", r)
		}
		count[n]++
	}
	repeatable := func(n int) bool {
		for _, r := range mayRepeat {
			if n >= r[0] && n < r[1] {
				return true
			}
		}
		return false
	}
	lost, repeated := 0, 0
	for n, k := range count {
		switch {
		case k == 0:
			lost++
			if lost <= 5 {
				t.Errorf("record %d lost", n)
			}
		case k > 2 || k == 2 && !repeatable(n):
			t.Fatalf("record %d arrived %d times; only the chunks awaiting their ack at the kill (%v) may arrive twice", n, k, mayRepeat)
		case k == 2:
			repeated++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d records lost", lost, total)
	}
	t.Logf("chunks awaiting their ack at the kill: %v; records received twice: %d", mayRepeat, repeated)
}

// Flush calls cut short by a 1 ms deadline while the acks are on their
// way cost nothing: the client keeps the connection (a deadline is the
// caller's, not the receiver's failure), so no chunk is sent twice.
func TestFlushCutShortByItsDeadlineSendsNothingTwice(t *testing.T) {
	t.Parallel()
	fd := fluentdtest.Start(t)
	c, err := NewClient(Config{Addr: fd.Addr, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const total = 10_000
	s := newSender(t, c, "tend.main.stdout", 500)
	cut := 0
	for s.next < total {
		s.send(ctx, s.next+2000)
		for len(c.Unsettled()) > 0 && ctx.Err() == nil {
			fctx, fcancel := context.WithTimeout(ctx, time.Millisecond)
			settled, err := c.Flush(fctx)
			fcancel()
			s.release(settled)
			if err != nil {
				cut++
			}
		}
	}
	if c.Err() != nil {
		t.Errorf("Err = %v after Flush calls cut short by their deadline", c.Err())
	}
	fd.Stop()
	count := make([]int, total)
	for _, r := range fd.Records() {
		if n := numberOf(r.Message); n >= 0 && n < total {
			count[n]++
		}
	}
	for n, k := range count {
		if k != 1 {
			t.Fatalf("record %d arrived %d times, want once (%d Flush calls were cut short)", n, k, cut)
		}
	}
	t.Logf("%d Flush calls cut short", cut)
}

// Without ack, a connection closed while idle (here by a proxy in front of
// Fluentd, as a load balancer's idle timeout does) costs nothing: the
// client notices the close before it writes the next chunk, instead of
// writing it into a socket whose peer is gone.
func TestIdleConnectionClosedByAProxyLosesNothingWithoutAck(t *testing.T) {
	t.Parallel()
	fd := fluentdtest.Start(t)
	proxy := startRelay(t, "tcp", "127.0.0.1:0", fd.Addr)
	c, err := NewClient(Config{Addr: proxy.addr})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newSender(t, c, "tend.main.stdout", 100)
	s.send(ctx, 1000)
	s.flush(ctx)
	// Without ack, only the records file says when Fluentd has them.
	fd.WaitRecords(1000, 30*time.Second)
	proxy.closeAll()
	s.send(ctx, 2000)
	s.flush(ctx)
	fd.WaitRecords(2000, 30*time.Second)
	fd.Stop()
	if got := len(fd.Records()); got != 2000 {
		t.Errorf("Fluentd wrote %d records of 2000 (1000 before the proxy closed the connection, 1000 after)", got)
	}
}

// Over a unix socket (relayed byte for byte to Fluentd's TCP input, as
// the start script offers no unix input), chunks and acks pass.
func TestFluentdOverUnixSocket(t *testing.T) {
	t.Parallel()
	fd := fluentdtest.Start(t)
	r := startRelay(t, "unix", filepath.Join(t.TempDir(), "fluentd.sock"), fd.Addr)
	c, err := NewClient(Config{Addr: "unix://" + r.addr, Ack: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s := newSender(t, c, "tend.main.stdout", 100)
	s.send(ctx, 1000)
	s.flush(ctx)
	fd.Stop()
	if got := len(fd.Records()); got != 1000 {
		t.Errorf("Fluentd wrote %d records of 1000", got)
	}
}

// relay copies every connection accepted on its address to and from a
// target address, byte for byte.
type relay struct {
	addr  string
	mu    sync.Mutex
	conns []net.Conn
}

// startRelay listens on network and addr, relaying to target over TCP.
func startRelay(t *testing.T, network, addr, target string) *relay {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{addr: l.Addr().String()}
	t.Cleanup(func() {
		l.Close()
		r.closeAll()
	})
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			r.mu.Lock()
			r.conns = append(r.conns, in, out)
			r.mu.Unlock()
			go copyAndClose(out, in)
			go copyAndClose(in, out)
		}
	}()
	return r
}

// closeAll closes every relayed connection, both sides, gracefully.
func (r *relay) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.conns {
		c.Close()
	}
	r.conns = nil
}

// copyAndClose copies src to dst, then closes both.
func copyAndClose(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
}

// Bad addresses and windows are refused with the value seen.
func TestNewClientRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Addr: "localhost"}, `address "localhost": want HOST:PORT or unix:///PATH`},
		{Config{Addr: "h:0"}, `port "0" is not a number from 1 to 65535`},
		{Config{Addr: "h:x"}, `port "x"`},
		{Config{Addr: "unix://"}, `want unix:///PATH`},
		{Config{Addr: "h:1", Window: -1}, `window -1`},
	} {
		_, err := NewClient(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewClient(%+v) = %v, want an error with %q", tc.cfg, err, tc.want)
		}
	}
}

// errorsAs is errors.As for a target type.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
