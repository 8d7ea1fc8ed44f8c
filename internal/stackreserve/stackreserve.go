// Package stackreserve gives a goroutine the stack it will need at its
// start, in one step, while its stack is still shallow.
//
// A goroutine starts with a 2 KiB stack. When a call needs more, the Go
// runtime copies the stack to one twice the size, and to adjust the
// pointers in it, it walks every frame, looking each function up in the
// binary's tables. At tend's start those tables have not been read yet:
// each walk faults their pages in, and a goroutine that grows from 2 to 8
// KiB does so twice, deep in a call. A start saw thirteen such copies;
// one, in the middle of the signal handlers' installation, took 42 µs.
// Reserving the stack first makes it one copy of two frames. Only
// goroutines that reach that size soon anyway should call it: the
// memory is then the same.
package stackreserve

// frame4K and frame8K are frame sizes that make the runtime grow a fresh
// 2 KiB stack to 4 and 8 KiB: the frame, the runtime's guard of about
// 900 bytes and the few frames below must fit in the new size, and not
// in half of it.
const (
	frame4K = 1600
	frame8K = 5 << 10
)

// FourKiB grows the calling goroutine's stack to 4 KiB, if it is smaller.
//
//go:noinline
func FourKiB() {
	var frame [frame4K]byte
	use(frame[:])
}

// EightKiB grows the calling goroutine's stack to 8 KiB, if it is smaller.
//
//go:noinline
func EightKiB() {
	var frame [frame8K]byte
	use(frame[:])
}

// use keeps the frame's array on the stack and the compiler from
// dropping it.
//
//go:noinline
func use(b []byte) { b[len(b)-1] = 1 }
