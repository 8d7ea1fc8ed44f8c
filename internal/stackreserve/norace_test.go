//go:build !race

package stackreserve

const raceDetector = false
