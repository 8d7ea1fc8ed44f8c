package logship

import "sync"

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
	recs := b.Records
	if len(recs) > lastLinesKept {
		recs = recs[len(recs)-lastLinesKept:]
	}
	l.mu.Lock()
	for _, r := range recs {
		m := b.Message(r)
		if len(m) > lastLineMax {
			m = m[:lastLineMax]
		}
		l.slots[l.next] = append(l.slots[l.next][:0], m...)
		l.next = (l.next + 1) % lastLinesKept
		l.n = min(l.n+1, lastLinesKept)
	}
	l.mu.Unlock()
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
