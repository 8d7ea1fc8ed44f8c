//go:build !race

package forward

// raceEnabled is true when the race detector is on.
const raceEnabled = false
