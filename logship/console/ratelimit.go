package console

import (
	"strconv"
	"time"

	"tend/logship"
)

// markerInterval is the length of a suppression interval: it starts with
// the first line the limit drops, and its marker is written when it ends,
// even when the program has gone quiet (and at Close). A program flooding
// without end gets one marker per interval.
const markerInterval = time.Second

// limiter is a program's console rate limit: a token bucket of burst bytes
// refilled at rate bytes per second. A record passes whole or is dropped
// whole; a record larger than the bucket passes when the bucket is full, and
// leaves it in debt. It is used by the console goroutine only.
type limiter struct {
	rate, burst float64
	tokens      float64
	last        time.Time
	started     bool

	// The current suppression: what was dropped since the last marker.
	dropped logship.Drops
	since   time.Time
}

func newLimiter(rate, burst int64) limiter {
	if burst <= 0 {
		burst = rate
	}
	return limiter{rate: float64(rate), burst: float64(burst)}
}

func (l *limiter) on() bool { return l.rate > 0 }

// allow reports whether n bytes read at now may pass, and counts them as
// suppressed when not.
func (l *limiter) allow(now time.Time, n int64) bool {
	if !l.started {
		l.started, l.tokens, l.last = true, l.burst, now
	} else if el := now.Sub(l.last); el > 0 {
		l.tokens = min(l.burst, l.tokens+el.Seconds()*l.rate)
		l.last = now
	}
	if l.tokens >= min(float64(n), l.burst) {
		l.tokens -= float64(n)
		return true
	}
	if l.dropped.Lines == 0 {
		l.since = now
	}
	l.dropped.Lines++
	l.dropped.Bytes += n
	return false
}

// due reports whether a marker for the current suppression should be
// written at now.
func (l *limiter) due(now time.Time) bool {
	return l.dropped.Lines > 0 && now.Sub(l.since) >= markerInterval
}

// take returns and resets the current suppression.
func (l *limiter) take() logship.Drops {
	d := l.dropped
	l.dropped = logship.Drops{}
	return d
}

// suppressedText is the marker of the rate limit:
//
//	suppressed 3 lines (360 bytes) from main
func suppressedText(dst []byte, program string, d logship.Drops) []byte {
	dst = append(dst, "suppressed "...)
	dst = strconv.AppendInt(dst, d.Lines, 10)
	dst = append(dst, " lines ("...)
	dst = strconv.AppendInt(dst, d.Bytes, 10)
	dst = append(dst, " bytes) from "...)
	return append(dst, program...)
}
