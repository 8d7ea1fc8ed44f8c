package forward

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults for the zero fields of Config.
const (
	// DefaultWindow is how many chunks may await their ack at once.
	DefaultWindow = 4
	// DefaultDialTimeout bounds a connection: dial, TLS and shared-key
	// handshakes.
	DefaultDialTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds the write of one chunk.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultAckTimeout is how long a written chunk may wait for its ack
	// before the connection is taken for dead. It is generous because
	// Fluentd acknowledges only once its own buffer took the chunk, and a
	// full buffer makes it wait.
	DefaultAckTimeout = 30 * time.Second
)

const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 2 * time.Second
	// pollWait bounds a read of bytes that are known to have arrived.
	pollWait = 50 * time.Millisecond
	// idLen is the length of a chunk id: 18 bytes in base64.
	idLen = 24
	// readSize is the least free space kept in the read buffer.
	readSize = 4 << 10
	// maxMessage bounds a message from the receiver (acks, HELO and
	// PONG are a few hundred bytes at most).
	maxMessage = 64 << 10
)

// ErrAckTimeout is the cause recorded when a chunk's ack did not arrive
// within the ack timeout.
var ErrAckTimeout = errors.New("no ack within the ack timeout")

// AuthError reports a failed shared-key handshake: the receiver refused
// the key, or its answer did not prove that it knows the same key.
type AuthError struct {
	// Reason is the receiver's reason, or what did not match.
	Reason string
}

// Error implements error.
func (e *AuthError) Error() string { return "shared key handshake failed: " + e.Reason }

// Config says where and how a Client sends.
type Config struct {
	// Addr is "HOST:PORT" (an empty host is 127.0.0.1) or
	// "unix:///PATH".
	Addr string
	// TLS, when not nil, wraps the connection in TLS. An empty
	// ServerName is set to the host of Addr. See TLSConfig.
	TLS *tls.Config
	// SharedKey, when not empty, runs in_forward's <security> handshake
	// on every connection.
	SharedKey string
	// Hostname is the self_hostname sent in the handshake; empty means
	// os.Hostname.
	Hostname string
	// Ack asks the receiver to acknowledge every chunk; a chunk is
	// settled only by its ack. Without it, a chunk is settled once
	// written to the connection.
	Ack bool
	// Window is how many chunks may be taken and not yet settled; 0
	// means DefaultWindow.
	Window int
	// DialTimeout, WriteTimeout and AckTimeout: 0 means the defaults.
	DialTimeout, WriteTimeout, AckTimeout time.Duration
}

// Client sends chunks to one forward-protocol input (Fluentd's
// in_forward, Fluent Bit's forward input) over one connection at a time,
// keeping them in order. It connects when it has something to send,
// reconnects with backoff after a failure, and then sends again, in
// order, every chunk not yet settled.
//
// What it promises:
//   - With Ack, a chunk is settled only when the receiver acknowledged
//     it, which Fluentd does once the chunk is in its buffer. A chunk
//     written on a connection that then failed is sent again, so the
//     receiver may get it twice (only the chunks that were awaiting
//     their ack when the connection failed); none is lost while the
//     caller keeps calling Send or Flush.
//   - Without Ack, a chunk is settled when it was written to the
//     connection: a receiver that dies with it in its socket buffer
//     loses it. A connection the receiver closed while idle is noticed
//     before the next write.
//   - No call waits past its context's deadline, whatever the receiver
//     does (a receiver that accepts and never reads included). Every
//     dial, write and ack wait has its own timeout besides.
//
// A Client is used by one goroutine at a time; no goroutine of its
// outlives a call.
type Client struct {
	cfg      Config
	network  string
	address  string
	hostname string
	tls      *tls.Config

	conn net.Conn
	raw  syscall.RawConn // of the socket under conn, to peek at it
	rbuf []byte          // bytes read and not yet decoded
	peek [1]byte

	// queue holds the chunks taken and not settled, oldest first;
	// queue[:written] were written on conn.
	queue   []*Chunk
	written int
	settled []*Chunk

	err     error // the last failure; nil once a chunk was settled
	backoff time.Duration
	retryAt time.Time

	idBase [10]byte
	seq    uint64
}

// NewClient checks cfg and returns a client; it does not connect yet.
func NewClient(cfg Config) (*Client, error) {
	c := &Client{cfg: cfg}
	if path, ok := strings.CutPrefix(cfg.Addr, "unix://"); ok {
		if path == "" {
			return nil, fmt.Errorf("forward: address %q: want unix:///PATH", cfg.Addr)
		}
		c.network, c.address = "unix", path
	} else {
		host, port, err := net.SplitHostPort(cfg.Addr)
		if err != nil {
			return nil, fmt.Errorf("forward: address %q: want HOST:PORT or unix:///PATH: %w", cfg.Addr, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("forward: address %q: port %q is not a number from 1 to 65535", cfg.Addr, port)
		}
		if host == "" {
			host = "127.0.0.1"
		}
		c.network, c.address = "tcp", net.JoinHostPort(host, port)
		if cfg.TLS != nil && cfg.TLS.ServerName == "" {
			c.tls = cfg.TLS.Clone()
			c.tls.ServerName = host
		}
	}
	if cfg.TLS != nil && c.tls == nil {
		c.tls = cfg.TLS
	}
	if cfg.Window < 0 {
		return nil, fmt.Errorf("forward: window %d: want 1 or more", cfg.Window)
	}
	if c.cfg.Window == 0 {
		c.cfg.Window = DefaultWindow
	}
	if c.cfg.DialTimeout <= 0 {
		c.cfg.DialTimeout = DefaultDialTimeout
	}
	if c.cfg.WriteTimeout <= 0 {
		c.cfg.WriteTimeout = DefaultWriteTimeout
	}
	if c.cfg.AckTimeout <= 0 {
		c.cfg.AckTimeout = DefaultAckTimeout
	}
	c.hostname = cfg.Hostname
	if c.hostname == "" {
		c.hostname, _ = os.Hostname()
	}
	if _, err := rand.Read(c.idBase[:]); err != nil {
		return nil, fmt.Errorf("forward: chunk ids: %w", err)
	}
	c.queue = make([]*Chunk, 0, c.cfg.Window)
	return c, nil
}

// Send takes ch and writes it, after the chunks taken before it. While
// Window chunks are unsettled it first waits for them (reconnecting and
// resending as needed), until ctx ends: then it returns an error that
// wraps ctx's error and the last failure, and ch was NOT taken. Otherwise
// ch was taken and is settled later, by this call or a later Send or
// Flush; a connection failure after taking it is not an error here (see
// Err), as ch will be sent again.
//
// Send returns the chunks settled during the call, oldest first; the
// slice is valid until the next call. The caller owns a settled chunk
// again and may Reset it.
func (c *Client) Send(ctx context.Context, ch *Chunk) ([]*Chunk, error) {
	c.settled = c.settled[:0]
	for len(c.queue) >= c.cfg.Window {
		if err := c.step(ctx); err != nil {
			return c.settled, err
		}
	}
	c.queue = append(c.queue, ch)
	if ended(ctx) {
		return c.settled, nil
	}
	// A second try when reading finds the connection closed while idle.
	for range 2 {
		// Connect now unless a failure asks to wait: Send should not
		// wait while there is room in the window.
		if c.conn == nil && (time.Now().Before(c.retryAt) || !c.connect(ctx)) {
			break
		}
		c.readAcks(ctx, false)
		if c.conn != nil {
			c.writeQueued(ctx)
			break
		}
	}
	return c.settled, nil
}

// Flush sends every chunk taken and waits until all are settled, or ctx
// ends: then it returns an error that wraps ctx's error and the last
// failure. It returns the chunks settled during the call, as Send does.
func (c *Client) Flush(ctx context.Context) ([]*Chunk, error) {
	c.settled = c.settled[:0]
	for len(c.queue) > 0 {
		if err := c.step(ctx); err != nil {
			return c.settled, err
		}
	}
	return c.settled, nil
}

// Unsettled returns the chunks taken and not settled, oldest first (what
// to keep, or spool, after giving up). The slice is valid until the next
// call.
func (c *Client) Unsettled() []*Chunk { return c.queue }

// Err returns the last failure to connect, write or get an ack, or nil
// once a chunk was settled since (with ack, written is not enough).
func (c *Client) Err() error { return c.err }

// Close closes the connection, if any. The unsettled chunks stay (see
// Unsettled); a later Send or Flush connects again.
func (c *Client) Close() error {
	conn := c.conn
	if conn == nil {
		return nil
	}
	c.conn = nil
	c.drop(nil, false)
	return conn.Close()
}

// step makes one move towards settling the oldest chunk: connect (after
// the backoff), write what is not written, wait for an ack. It returns an
// error only when ctx has ended.
func (c *Client) step(ctx context.Context) error {
	if ended(ctx) {
		if err := ctx.Err(); err != nil {
			return c.ctxError(err)
		}
		return c.ctxError(context.DeadlineExceeded)
	}
	if c.conn == nil {
		if err := sleepUntil(ctx, c.retryAt); err != nil {
			return c.ctxError(err)
		}
		if !c.connect(ctx) {
			return nil
		}
	}
	c.readAcks(ctx, false)
	if c.conn == nil || !c.writeQueued(ctx) {
		return nil
	}
	if c.cfg.Ack {
		c.readAcks(ctx, true)
	}
	return nil
}

// ctxError is what Send and Flush return when ctx ends first.
func (c *Client) ctxError(err error) error {
	if c.err != nil {
		return fmt.Errorf("forward: %s: %w (last error: %w)", c.cfg.Addr, err, c.err)
	}
	return fmt.Errorf("forward: %s: %w", c.cfg.Addr, err)
}

// drop closes the connection after a failure; the chunks written on it
// are to be written again. err, if not nil, becomes Err; with backoff the
// next connection waits (longer after each failure in a row).
func (c *Client) drop(err error, backoff bool) {
	if c.conn != nil {
		c.conn.Close()
	}
	c.conn, c.raw, c.written = nil, nil, 0
	c.rbuf = c.rbuf[:0]
	if err != nil {
		c.err = err
	}
	if backoff {
		c.backoff = min(max(2*c.backoff, backoffMin), backoffMax)
		c.retryAt = time.Now().Add(c.backoff)
	}
}

// connect dials, with TLS and the shared-key handshake as configured.
func (c *Client) connect(ctx context.Context) bool {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, c.network, c.address)
	if err != nil {
		c.drop(c.failure(ctx, err), !ended(ctx))
		return false
	}
	c.conn = nc
	if sc, ok := nc.(syscall.Conn); ok {
		c.raw, _ = sc.SyscallConn()
	}
	if c.tls != nil {
		tc := tls.Client(nc, c.tls)
		c.conn = tc
		if err := tc.HandshakeContext(dctx); err != nil {
			c.drop(c.failure(ctx, fmt.Errorf("TLS handshake: %w", err)), !ended(ctx))
			return false
		}
	}
	if c.cfg.SharedKey != "" {
		if err := c.handshake(dctx); err != nil {
			c.drop(c.failure(ctx, err), !ended(ctx))
			return false
		}
	}
	return true
}

// failure returns err as the cause to record, or nil when ctx ended: the
// caller gave up, the receiver did not fail.
func (c *Client) failure(ctx context.Context, err error) error {
	if ended(ctx) {
		return nil
	}
	return err
}

// ended reports whether ctx is done or its deadline has passed: an I/O
// deadline taken from ctx can fire before ctx itself is marked done.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// writeQueued writes every taken chunk not yet written on this
// connection; without ack, written chunks are settled. It returns false
// when the connection failed.
func (c *Client) writeQueued(ctx context.Context) bool {
	for c.written < len(c.queue) {
		ch := c.queue[c.written]
		if ch.acked {
			// Acked out of order before the connection failed: the
			// receiver has it.
			c.written++
			continue
		}
		if c.cfg.Ack && !ch.hasID {
			c.setID(ch)
		}
		if err := c.write(ctx, ch.message(c.cfg.Ack)); err != nil {
			// A partly written message leaves the stream unusable.
			c.drop(c.failure(ctx, fmt.Errorf("write: %w", err)), !ended(ctx))
			return false
		}
		ch.ackBy = time.Now().Add(c.cfg.AckTimeout)
		c.written++
	}
	if !c.cfg.Ack {
		c.err, c.backoff = nil, 0
		c.settled = append(c.settled, c.queue...)
		clear(c.queue)
		c.queue = c.queue[:0]
		c.written = 0
	}
	return true
}

// setID gives ch an id unique to this client: its random base and a
// sequence number.
func (c *Client) setID(ch *Chunk) {
	var raw [18]byte
	copy(raw[:], c.idBase[:])
	binary.BigEndian.PutUint64(raw[10:], c.seq)
	c.seq++
	base64.StdEncoding.Encode(ch.id[:], raw[:])
	ch.hasID = true
}

// readAcks reads what the receiver sent and settles the acked chunks.
// Without block it reads only what has already arrived (which also
// notices a connection the receiver closed); with block it waits until
// the oldest written chunk is settled, its ack timeout passes (the
// connection is then dropped), or ctx ends.
func (c *Client) readAcks(ctx context.Context, block bool) {
	var first *Chunk
	if block {
		if c.written == 0 {
			return
		}
		first = c.queue[0]
	}
	late := false
	for c.conn != nil {
		for {
			v, ok, err := c.nextMessage()
			if err != nil {
				c.drop(err, true)
				return
			}
			if !ok {
				break
			}
			if err := c.handle(v); err != nil {
				c.drop(err, true)
				return
			}
		}
		now := time.Now()
		var deadline time.Time
		if block {
			if c.written == 0 || c.queue[0] != first {
				return
			}
			deadline = first.ackBy
			if !now.Before(deadline) {
				// The ack may have arrived while nobody read: one
				// short read before giving up on it.
				if late {
					c.drop(fmt.Errorf("%w (%s)", ErrAckTimeout, c.cfg.AckTimeout), true)
					return
				}
				late = true
				deadline = now.Add(pollWait)
			}
		} else {
			if !c.readable() {
				return
			}
			// With TLS the bytes may be a session ticket alone: the
			// read then waits pollWait for more, once a connection.
			deadline = now.Add(pollWait)
		}
		if err := c.fill(ctx, deadline); err != nil {
			if ended(ctx) {
				return
			}
			if isTimeout(err) {
				if !block {
					return
				}
				continue
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the receiver closed the connection")
			}
			// A receiver that closed an idle connection is no
			// failure: connect again at once.
			c.drop(fmt.Errorf("read: %w", err), c.written > 0)
			return
		}
	}
}

// handle applies one message from the receiver.
func (c *Client) handle(v any) error {
	switch m := v.(type) {
	case map[string]any:
		id, ok := text(m["ack"])
		if !ok {
			return nil
		}
		for _, ch := range c.queue[:c.written] {
			if ch.hasID && string(ch.id[:]) == id {
				ch.acked = true
				break
			}
		}
		n := 0
		for n < c.written && c.queue[n].acked {
			n++
		}
		if n > 0 {
			c.err, c.backoff = nil, 0
			c.settled = append(c.settled, c.queue[:n]...)
			k := copy(c.queue, c.queue[n:])
			clear(c.queue[k:])
			c.queue = c.queue[:k]
			c.written -= n
		}
	case []any:
		if len(m) > 0 && m[0] == "HELO" {
			return &AuthError{Reason: "the receiver asks for a shared key (it sent HELO) and none is set"}
		}
	}
	return nil
}

// nextMessage decodes one message from the bytes read; ok is false when
// they do not hold a whole one yet.
func (c *Client) nextMessage() (v any, ok bool, err error) {
	if len(c.rbuf) == 0 {
		return nil, false, nil
	}
	rest, err := skipValue(c.rbuf)
	if errors.Is(err, errShortBytes) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read: not msgpack: %w", err)
	}
	n := len(c.rbuf) - len(rest)
	v, _, err = decodeValue(c.rbuf[:n], 0)
	if err != nil {
		return nil, false, fmt.Errorf("read: not msgpack: %w", err)
	}
	k := copy(c.rbuf, c.rbuf[n:])
	c.rbuf = c.rbuf[:k]
	return v, true, nil
}

// readMessage waits for one whole message, until ctx ends.
func (c *Client) readMessage(ctx context.Context) (any, error) {
	for {
		v, ok, err := c.nextMessage()
		if err != nil || ok {
			return v, err
		}
		if err := c.fill(ctx, time.Time{}); err != nil {
			return nil, err
		}
	}
}

// fill reads what the receiver sent into rbuf, waiting until deadline
// (zero: none) or ctx's end.
func (c *Client) fill(ctx context.Context, deadline time.Time) error {
	if d, ok := ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
		deadline = d
	}
	conn := c.conn
	conn.SetReadDeadline(deadline)
	defer interruptOnDone(ctx, conn.SetReadDeadline)()
	if len(c.rbuf) > maxMessage {
		return fmt.Errorf("a message from the receiver longer than %d bytes", maxMessage)
	}
	if cap(c.rbuf)-len(c.rbuf) < readSize {
		c.rbuf = append(c.rbuf, make([]byte, readSize)...)[:len(c.rbuf)]
	}
	n, err := conn.Read(c.rbuf[len(c.rbuf):cap(c.rbuf)])
	c.rbuf = c.rbuf[:len(c.rbuf)+n]
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// write writes b whole, within the write timeout and ctx.
func (c *Client) write(ctx context.Context, b []byte) error {
	deadline := time.Now().Add(c.cfg.WriteTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn := c.conn
	conn.SetWriteDeadline(deadline)
	defer interruptOnDone(ctx, conn.SetWriteDeadline)()
	_, err := conn.Write(b)
	return err
}

// interruptOnDone makes the I/O that setDeadline bounds return when ctx
// is cancelled (a deadline of ctx is set directly). The returned func
// undoes it and, if it already fired, waits for it, so that it cannot
// touch the deadline of a later call.
func interruptOnDone(ctx context.Context, setDeadline func(time.Time) error) func() {
	if ctx.Done() == nil {
		return func() {}
	}
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		setDeadline(time.Unix(1, 0))
		close(fired)
	})
	return func() {
		if !stop() {
			<-fired
		}
	}
}

// readable reports whether a read would return at once: bytes arrived,
// the receiver closed, or the socket failed. It peeks at the socket
// without taking anything from it.
func (c *Client) readable() bool {
	if c.raw == nil {
		return true
	}
	var perr error
	err := c.raw.Read(func(fd uintptr) bool {
		_, _, perr = unix.Recvfrom(int(fd), c.peek[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true
	})
	if err != nil {
		return true
	}
	return !errors.Is(perr, unix.EAGAIN)
}

// isTimeout reports whether err is a deadline passing.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// sleepUntil waits until t or ctx's end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// text returns v as a string if it is a msgpack str or bin.
func text(v any) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	}
	return "", false
}
