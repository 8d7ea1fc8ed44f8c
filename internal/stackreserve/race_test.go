//go:build race

package stackreserve

// raceDetector: the race detector starts goroutines with larger stacks.
const raceDetector = true
