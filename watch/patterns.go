package watch

import (
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Resolving the patterns of TEND_LOG_WATCH into the directories to watch.
//
// A pattern names files in the directories its directory part matches. Those
// directories are watched with inotify, and so is every existing directory
// in which a directory the pattern needs may appear (the parent of a
// directory not created yet, a directory whose entries a wildcard matches):
// its creation there makes the watcher resolve the patterns again, instead
// of waiting for the next rescan.

// rule is a pattern whose files a directory may hold.
type rule struct {
	pattern string
	all     bool // the pattern names the directory: every file in it
}

// need is a directory whose entries named like name (a pattern of one
// path element) a pattern needs.
type need struct{ dir, name string }

// resolve returns the existing directories whose files the pattern g
// names (all: g names a directory, whose every file it takes), and the
// directories to watch for the ones it needs that do not exist yet or
// that a wildcard matches.
func resolve(g string) (dirs []string, all bool, needs []need) {
	if st, err := os.Stat(g); err == nil && st.IsDir() {
		if g == "/" {
			return []string{g}, true, nil
		}
		// Its parent is watched too: a directory removed and made again
		// is found.
		return []string{g}, true, []need{{filepath.Dir(g), filepath.Base(g)}}
	}
	if !hasMeta(filepath.Base(g)) && g != "/" {
		// The path may become a directory, whose files it then names.
		needs = append(needs, need{filepath.Dir(g), filepath.Base(g)})
	}
	dirs, more := matchDirs(filepath.Dir(g))
	return dirs, false, append(needs, more...)
}

// matchDirs returns the existing directories that pattern (absolute,
// clean) matches, element by element, and what to watch for the others.
func matchDirs(pattern string) (dirs []string, needs []need) {
	cur := []string{"/"}
	if pattern == "/" {
		return cur, nil
	}
	for _, elem := range strings.Split(pattern[1:], "/") {
		var next []string
		for _, dir := range cur {
			if !hasMeta(elem) {
				if isDir(filepath.Join(dir, elem)) {
					next = append(next, filepath.Join(dir, elem))
				} else {
					needs = append(needs, need{dir, elem})
				}
				continue
			}
			needs = append(needs, need{dir, elem})
			eachName(dir, func(name string) {
				if ok, _ := filepath.Match(elem, name); ok && isDir(filepath.Join(dir, name)) {
					next = append(next, filepath.Join(dir, name))
				}
			})
		}
		if cur = next; len(cur) == 0 {
			return nil, needs
		}
	}
	return cur, needs
}

// matches reports whether path matches pattern.
func matches(pattern, path string) bool {
	ok, _ := filepath.Match(pattern, path)
	return ok
}

// isDir reports whether path is a directory (or a link to one).
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// eachName calls fn with the name of every entry of dir, in directory
// order, reading the names a batch at a time: a directory of many files
// costs neither a sort nor a stat per entry.
func eachName(dir string, fn func(name string)) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(1024)
		for _, name := range names {
			fn(name)
		}
		if err == io.EOF || err != nil && len(names) == 0 {
			return
		}
	}
}

// hasMeta reports whether path holds a glob's special characters.
func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// siblingIndex finds, among live file names of one directory, one that a
// file name is a rotated copy of (rotatedSibling), without trying every
// live name: each is indexed under the prefixes its rotated copies start
// with, up to a '.', '-' or '_'.
type siblingIndex map[string][]string

// add indexes a live name.
func (x siblingIndex) add(live string) {
	base := live
	if i := strings.LastIndexByte(base, '.'); i > 0 && allDigits(base[i+1:]) {
		base = base[:i]
	}
	x[base] = append(x[base], live)
	ext := filepath.Ext(base)
	if stem := strings.TrimSuffix(base, ext); ext != "" && stem != "" {
		x[stem] = append(x[stem], live)
	}
}

// of returns a live name that name is a rotated copy of.
func (x siblingIndex) of(name string) (string, bool) {
	if len(x) == 0 {
		return "", false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; c != '.' && c != '-' && c != '_' {
			continue
		}
		for _, live := range x[name[:i]] {
			if rotatedSibling(name, live) {
				return live, true
			}
		}
	}
	return "", false
}

// rotatedSibling reports whether name is a rotated copy of the live file
// live in the same directory, in the usual conventions:
//
//	app.log   -> app.log.1, app.log.1.gz, app.log-20260102, app.log_old
//	app.log   -> app.1.log, app.2026-01-02.0.log.gz, app-2026-01-02.log (logback)
//	java0.log.0 -> java0.log.1 (java.util.logging with a count)
//	gc.log    -> gc.log.0 (the JVM's -Xlog rotation)
func rotatedSibling(name, live string) bool {
	if name == live || strings.HasSuffix(name, ".lck") {
		return false
	}
	base := live
	if i := strings.LastIndexByte(base, '.'); i > 0 && allDigits(base[i+1:]) {
		base = base[:i]
	}
	if len(name) > len(base) && strings.HasPrefix(name, base) && strings.ContainsRune(".-_", rune(name[len(base)])) {
		return true
	}
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if ext == "" || stem == "" || len(name) <= len(stem)+1 || !strings.HasPrefix(name, stem) ||
		!strings.ContainsRune(".-_", rune(name[len(stem)])) {
		return false
	}
	rest := name[len(stem)+1:]
	i := strings.Index(rest, ext)
	if i <= 0 {
		return false
	}
	after := rest[i:]
	return strings.ContainsAny(rest[:i], "0123456789") && (after == ext || strings.HasPrefix(after, ext+"."))
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
