package logship

import (
	"bytes"
	"sync"
)

// Size of the last-lines ring of each program.
const (
	lastLinesKept = 20
	lastLineMax   = 2 << 10 // longer records are cut in the ring (not in the sinks)
)

// lastLines keeps the last records of a program, both streams, for
// `tend status` and hold mode. It copies at most lastLinesKept records of a
// batch into slots it reuses, so it allocates nothing once warm.
type lastLines struct {
	mu    sync.Mutex
	slots [lastLinesKept][]byte
	next  int
	n     int
}

func (l *lastLines) add(b *Batch) {
	// The last lines of b, the last first: every record is one but a
	// run, of which only the lines still needed are found.
	var tail [lastLinesKept]Record
	n := 0
	for i := len(b.Records) - 1; i >= 0 && n < lastLinesKept; i-- {
		r := b.Records[i]
		if !r.Run() {
			tail[n] = r
			n++
			continue
		}
		n += lastLinesOf(tail[n:], b.Data, r)
	}
	l.mu.Lock()
	for i := n - 1; i >= 0; i-- {
		m := b.Message(tail[i])
		if len(m) > lastLineMax {
			m = m[:lastLineMax]
		}
		l.slots[l.next] = append(l.slots[l.next][:0], m...)
		l.next = (l.next + 1) % lastLinesKept
		l.n = min(l.n+1, lastLinesKept)
	}
	l.mu.Unlock()
}

// lastLinesOf fills dst with the last len(dst) lines of the run r, or all
// of them when it has fewer, the last first, and returns how many. It
// splits only the end of the run: the bytes from a point far enough back
// to hold them.
func lastLinesOf(dst []Record, data []byte, r Record) int {
	start := r.Off
	for back := int32(4 << 10); r.End-r.Off > back; back *= 2 {
		from := r.End - back
		j := bytes.IndexByte(data[from-1:r.End], '\n')
		if j < 0 {
			continue // the last line alone is longer
		}
		if bytes.Count(data[from+int32(j):r.End], newline)+1 >= len(dst) {
			start = from + int32(j)
			break
		}
	}
	// The run's lines from start on, of which the last len(dst) are kept.
	skip := bytes.Count(data[start:r.End], newline) + 1 - len(dst)
	n := 0
	for line := range runLines(data, 0, Record{Off: start, End: r.End, Flags: r.Flags}) {
		if skip > 0 {
			skip--
			continue
		}
		n++
		dst[len(dst)-n] = line
	}
	// They fill the end of dst, the last first: move them to its front.
	copy(dst, dst[len(dst)-n:])
	return n
}

func (l *lastLines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, l.n)
	for i := l.n; i > 0; i-- {
		out = append(out, string(l.slots[(l.next-i+lastLinesKept)%lastLinesKept]))
	}
	return out
}
