package logfile

import (
	"bytes"
	"time"

	"golang.org/x/sys/unix"
)

// A raw file written in volume is written in pieces that end on multiples
// of alignSize in the file: what comes after the last boundary is held
// back and goes out at the front of the next write. The kernel then
// caches the file in large folios, one per boundary's worth, where writes
// that end anywhere leave a small folio at each end: writing and later
// deleting a GiB takes less of its CPU (14 to 18 % with the JVM's
// PrintWriter, docs/benchmarks.md).
//
// Only what a program writes in volume is held: a batch smaller than
// holdMin is written at once, with what is held before it, so a program
// that logs now and then has every line in the file as soon as it is
// read. What a burst leaves held is written when no write follows within
// holdFor, when the file rotates and when tend stops.
const (
	alignSize = 64 << 10
	holdMin   = 4 << 10
	holdFor   = 20 * time.Millisecond
)

// put writes out, the next bytes of the live file (its bytes already
// reserved in the budget), after the bytes held from earlier puts. Unless
// whole, it may hold back the part of out after the last alignSize
// boundary. On a failed write the file is cut back to what was written
// before, and what was held is dropped and counted here; out's own lines
// are the caller's to count, from the error.
func (w *writer) put(out []byte, whole bool) error {
	held := len(w.held)
	cut := len(out)
	if !whole && w.aligned && len(out) >= holdMin {
		cut = w.alignedCut(out)
	}
	if cut == 0 && !whole {
		w.hold(out)
		w.noteHeld()
		return nil
	}
	n, err := w.writeBoth(w.held, out[:cut])
	if err != nil {
		lines, raw := heldLines(w.held), int64(held)
		w.size -= raw
		w.held = w.held[:0]
		w.noteHeld()
		w.writeFailed(raw+int64(len(out)), n, err)
		if lines > 0 {
			w.dropped(lines, raw, reasonOf(err))
		}
		return err
	}
	if cut > 0 {
		w.lastNL = out[cut-1] == '\n'
	} else if held > 0 {
		w.lastNL = w.held[held-1] == '\n'
	}
	w.size += int64(cut)
	w.held = w.held[:0]
	w.hold(out[cut:])
	w.noteHeld()
	return nil
}

// hold keeps p to be written at the front of the next write, and makes
// sure the writer's goroutine writes it within holdFor if no write comes.
func (w *writer) hold(p []byte) {
	if len(p) == 0 {
		return
	}
	if w.held == nil {
		// What is held never reaches the next boundary: one buffer,
		// taken once, holds it all.
		w.held = make([]byte, 0, alignSize)
	}
	w.held = append(w.held, p...)
	w.size += int64(len(p))
	if !w.armed {
		w.armed = true
		w.timer.Reset(holdFor)
	}
}

// alignedCut returns how much of out to write now, after the held bytes,
// so that the file ends on its last alignSize boundary: 0 when no boundary
// falls in out (it is all held).
func (w *writer) alignedCut(out []byte) int {
	onDisk := w.size - int64(len(w.held))
	end := w.size + int64(len(out))
	boundary := end &^ (alignSize - 1)
	if boundary <= w.size {
		// No boundary in out: the held bytes and out do not reach the
		// next one.
		return 0
	}
	return int(boundary-onDisk) - len(w.held)
}

// endsLine reports whether the file's last byte, held or written, is a
// newline.
func (w *writer) endsLine() bool {
	if n := len(w.held); n > 0 {
		return w.held[n-1] == '\n'
	}
	return w.lastNL
}

// noteHeld tells the budget how many of the file's reserved bytes are
// held, when that changed.
func (w *writer) noteHeld() {
	if n := int64(len(w.held)); n != w.heldNoted {
		w.heldNoted = n
		w.live.SetHeld(n)
	}
}

// flushHeld writes what is held, if anything.
func (w *writer) flushHeld() {
	if len(w.held) > 0 {
		w.put(nil, true)
	}
}

// writeBoth writes a then b to the live file in one system call when it
// can, and returns how many bytes were written.
func (w *writer) writeBoth(a, b []byte) (int, error) {
	if len(a) == 0 {
		return w.f.Write(b)
	}
	if len(b) == 0 {
		return w.f.Write(a)
	}
	iovs := [2][]byte{a, b}
	n, err := unix.Writev(int(w.f.Fd()), iovs[:])
	for err == unix.EINTR {
		n, err = unix.Writev(int(w.f.Fd()), iovs[:])
	}
	if err != nil {
		return 0, err
	}
	// A short write: the rest goes in plain writes.
	if n < len(a) {
		m, err := w.f.Write(a[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	if rest := n - len(a); rest < len(b) {
		m, err := w.f.Write(b[rest:])
		return n + m, err
	}
	return n, nil
}

// heldLines counts the lines in raw bytes held: every newline ends one,
// and bytes after the last newline are one more.
func heldLines(p []byte) int64 {
	if len(p) == 0 {
		return 0
	}
	n := int64(bytes.Count(p, []byte{'\n'}))
	if p[len(p)-1] != '\n' {
		n++
	}
	return n
}
