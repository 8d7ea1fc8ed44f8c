package logship

import (
	"io"
	"testing"
	"time"
)

// waitRecorder is a pipe of a given size that records the waits a
// capture holds its reads back for; the test plays the reads.
type waitRecorder struct {
	size  int
	waits []time.Duration
}

func (r *waitRecorder) Read([]byte, time.Time) (int, error) { return 0, io.EOF }
func (r *waitRecorder) pause(d time.Duration)               { r.waits = append(r.waits, d) }
func (r *waitRecorder) capacity() int                       { return r.size }
func (r *waitRecorder) interrupt()                          {}
func (r *waitRecorder) close()                              {}
func (r *waitRecorder) writers() []int                      { return nil }

// pacer plays reads into a capture's pacing: each read returned n bytes
// into room, gap after the one before it, having waited for none.
type pacer struct {
	c   *Capture
	src *waitRecorder
	now time.Time
}

func newPacer() *pacer {
	src := &waitRecorder{size: pipeSize}
	c := &Capture{pl: &Pipeline{maxRead: MaxReadSize}, src: src, want: ReadSize}
	p := &pacer{c: c, src: src, now: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)}
	c.lastEnd = p.now
	return p
}

// read plays one read and returns the wait it was followed by (0: none).
func (p *pacer) read(n, room int, gap time.Duration) time.Duration {
	p.now = p.now.Add(gap)
	before := len(p.src.waits)
	p.c.pace(n, room, 0, p.now)
	if len(p.src.waits) == before {
		return 0
	}
	return p.src.waits[len(p.src.waits)-1]
}

// A program writing one line at a time, steadily and far slower than the
// pipe takes, is read after waits of coalesceDelay, each read with room
// for what the wait gathers.
func TestALineByLineWriterIsReadAfterWaits(t *testing.T) {
	p := newPacer()
	for i := range 20 {
		// 20 MB/s: 80 KB every 4 ms.
		if got := p.read(80_000, MaxReadSize, 4*time.Millisecond); got != coalesceDelay {
			t.Fatalf("read %d: waited %v after it, want %v", i, got, coalesceDelay)
		}
	}
	if p.c.want < 2*80_000 {
		t.Fatalf("next read gets %d bytes of room, want at least twice the 80000 a wait gathers", p.c.want)
	}
}

// A program seen filling the pipe fast, that seems slow from one read to
// the next (it was descheduled for a moment), is held back for no longer
// than the shortest wait: at its speed a 4 ms wait would leave it blocked
// on a full pipe for most of it. A second later, steadily slow, it gets
// the full wait again.
func TestAFastWriterThatSeemsSlowIsNotHeldBackLong(t *testing.T) {
	p := newPacer()
	// 1 MiB in 0.7 ms, the buffer filled: about 1.5 GB/s.
	p.read(MaxReadSize, MaxReadSize, 700*time.Microsecond)
	// Then 200 KB in 5 ms: 40 MB/s.
	if got := p.read(200_000, MaxReadSize, 5*time.Millisecond); got > minCoalesce {
		t.Fatalf("a writer seen at 1.5 GB/s was held back for %v, want at most %v", got, minCoalesce)
	}
	// A second and more of 200 KB per 5 ms.
	var got time.Duration
	for range 250 {
		got = p.read(200_000, MaxReadSize, 5*time.Millisecond)
	}
	if got != coalesceDelay {
		t.Fatalf("after a second at 40 MB/s, waited %v, want %v", got, coalesceDelay)
	}
}

// A program writing at GB/s in pieces far smaller than an eighth of the
// pipe (C's stdio: 4 KiB writes, read 16 KiB at a time) is never held
// back, not even after one read that came late (the capture was
// descheduled for 2 ms): over its last window it writes at GB/s, and a
// wait would leave it blocked on a full pipe. Measured from one read to
// the next only, that read looked like 8 MB/s and got the full wait.
func TestAFastWriterInSmallPiecesIsNotHeldBackAfterOneLateRead(t *testing.T) {
	p := newPacer()
	// 16 KiB every 5 µs, 3.3 GB/s, for 20 ms.
	for i := range 4000 {
		if got := p.read(16<<10, MaxReadSize, 5*time.Microsecond); got != 0 {
			t.Fatalf("read %d of a steady 3.3 GB/s: waited %v after it, want none", i, got)
		}
	}
	if got := p.read(16<<10, MaxReadSize, 2*time.Millisecond); got != 0 {
		t.Fatalf("after one late read of a 3.3 GB/s writer: waited %v, want none", got)
	}
}

// A program writing one line at a time at 200 MB/s is read after waits,
// but waits short enough that in twice one, at that rate, the pipe takes
// no more than three quarters of its size: the program is never blocked.
func TestALineByLineWriterAtHundredsOfMBsWaitsWithoutFillingThePipe(t *testing.T) {
	p := newPacer()
	const rate = 200e6 / float64(time.Second) // bytes per nanosecond
	var waits []time.Duration
	gap := time.Millisecond
	for range 200 {
		// What the program wrote during the gap (and the wait before it).
		got := p.read(int(rate*float64(gap)), MaxReadSize, gap)
		waits = append(waits, got)
		gap = max(got, 100*time.Microsecond)
	}
	longest := time.Duration(float64(pipeSize) * 3 / 8 / rate)
	for i, w := range waits[len(waits)/2:] {
		if w < minCoalesce || w > longest {
			t.Fatalf("read %d: waited %v, want from %v to %v (three quarters of the pipe in twice the wait)", len(waits)/2+i, w, minCoalesce, longest)
		}
	}
}

// One read that looks far faster than the program writes (the clock was
// read late after the read before it, so the bytes seem to have come in
// microseconds) costs a line-by-line writer its waits for one window at
// most, not for the second the fastest rate is remembered.
func TestOneReadThatLooksFastDoesNotEndTheWaits(t *testing.T) {
	p := newPacer()
	const rate = 200e6 / float64(time.Second) // bytes per nanosecond
	gap := time.Millisecond
	read := func() time.Duration {
		got := p.read(int(rate*float64(gap)), MaxReadSize, gap)
		gap = max(got, 100*time.Microsecond)
		return got
	}
	for range 100 {
		read()
	}
	// 400 KB in 50 µs: 8 GB/s, once.
	p.read(400_000, MaxReadSize, 50*time.Microsecond)
	gap = 100 * time.Microsecond
	var waited time.Duration
	for range 100 {
		if read() > 0 {
			waited += gap
		}
	}
	if waited == 0 {
		t.Fatalf("after one read that looked like 8 GB/s, a 200 MB/s line-by-line writer was never waited for again")
	}
}
