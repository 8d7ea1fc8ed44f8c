package supervisor

import (
	"math/rand/v2"
	"time"
)

// Restart backoff: the first retry waits backoffBase, each quick failure
// doubles the wait up to backoffCap, and every wait is spread by up to
// ±backoffJitter so that programs failing together do not retry together.
const (
	backoffBase   = 250 * time.Millisecond
	backoffCap    = 30 * time.Second
	backoffJitter = 0.2
)

// backoff returns the wait before restart number attempt (1 for the first).
func backoff(attempt int) time.Duration {
	d := backoffBase
	for i := 1; i < attempt && d < backoffCap; i++ {
		d *= 2
	}
	d = min(d, backoffCap)
	spread := (rand.Float64()*2 - 1) * backoffJitter
	return time.Duration(float64(d) * (1 + spread))
}
