package logfile

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"tend/budget"
)

// Rotated files are named like logrotate's: <program>.log.1 is the newest,
// <program>.log.<FileCount-1> the oldest, with ".gz" added when compressed.
// The live file keeps its name, so a collector tailing *.log never sees a
// rotated file under a name it matches.

// rotatedFile is one rotated file of a program.
type rotatedFile struct {
	e  *budget.Entry // nil once deleted
	gz bool
}

func (w *writer) rotatedName(n int, gz bool) string {
	name := w.path + "." + strconv.Itoa(n)
	if gz {
		name += ".gz"
	}
	return name
}

// adoptRotated tracks the rotated files a previous run left, so they count
// against the budget and take part in rotation: files past the file count
// are deleted, and so is a .gz whose plain file is still there (its
// compression was interrupted).
func (w *writer) adoptRotated() {
	dir, base := filepath.Split(w.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type found struct{ plain, gz bool }
	seen := map[int]*found{}
	for _, de := range entries {
		rest, ok := strings.CutPrefix(de.Name(), base+".")
		if !ok || !de.Type().IsRegular() {
			continue
		}
		num, gz := strings.CutSuffix(rest, ".gz")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || strconv.Itoa(n) != num {
			continue
		}
		if seen[n] == nil {
			seen[n] = &found{}
		}
		if gz {
			seen[n].gz = true
		} else {
			seen[n].plain = true
		}
	}
	for n, f := range seen {
		if f.plain && f.gz {
			os.Remove(w.rotatedName(n, true))
			f.gz = false
		}
		name := w.rotatedName(n, f.gz)
		st, err := os.Stat(name)
		if err != nil {
			continue
		}
		if n > w.keep {
			os.Remove(name)
			continue
		}
		for len(w.rotated) < n {
			w.rotated = append(w.rotated, rotatedFile{})
		}
		e := w.s.budget.Track(w.prog.Name, name, st.Size())
		e.Retire(st.ModTime())
		w.rotated[n-1] = rotatedFile{e: e, gz: f.gz}
	}
}

// rotate closes the live file and shifts it to .1 (and every rotated file
// one up, deleting the one past the count), then opens a new live file.
func (w *writer) rotate() {
	w.flushHeld()
	w.waitZip()
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			w.s.log.Warn("closing rotated log file", zap.String("file", w.path), zap.Error(err))
		}
		w.f = nil
	}
	if w.keep == 0 {
		if err := w.live.Remove(); err != nil {
			w.s.log.Warn("rotating log file", zap.String("file", w.path), zap.Error(err))
		}
	} else {
		for len(w.rotated) >= w.keep {
			if last := w.rotated[len(w.rotated)-1]; last.e != nil {
				if err := last.e.Remove(); err != nil {
					w.s.log.Warn("deleting oldest log file", zap.Error(err))
				}
			}
			w.rotated = w.rotated[:len(w.rotated)-1]
		}
		for i := len(w.rotated) - 1; i >= 0; i-- {
			rf := &w.rotated[i]
			if rf.e == nil {
				continue
			}
			if err := rf.e.Rename(w.rotatedName(i+2, rf.gz)); err != nil {
				if !errors.Is(err, budget.ErrGone) {
					w.s.log.Warn("rotating log file", zap.String("file", rf.e.Path()), zap.Error(err))
					rf.e.Forget()
				}
				rf.e = nil
			}
		}
		w.rotated = append(w.rotated, rotatedFile{})
		copy(w.rotated[1:], w.rotated)
		w.rotated[0] = rotatedFile{}
		if err := w.live.Rename(w.rotatedName(1, false)); err != nil {
			// The file stays live; open below appends to it again.
			w.s.log.Warn("rotating log file", zap.String("file", w.path), zap.Error(err))
			w.live.Forget()
		} else {
			w.live.Retire(time.Now())
			w.rotated[0] = rotatedFile{e: w.live}
			if w.s.cfg.Compress {
				w.startZip(w.live)
			}
		}
	}
	w.live, w.size, w.lastNL, w.openedAt = nil, 0, true, time.Time{}
	w.open()
}
