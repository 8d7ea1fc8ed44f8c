// Package watch keeps the files the programs write themselves (their
// application logs, GC logs, heap dumps) under tend's disk budget, and
// optionally tails their new lines into the log pipeline as records of
// stream File: it finds them (paths, globs, or "auto": the files the
// programs hold open for writing, from /proc), caps them (deleting closed
// files oldest first, truncating open ones), and follows them across
// rotations.
package watch

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"

	"tend/budget"
	"tend/logship"
	"tend/procfs"
	"tend/watch/watchable"
)

// Watching the files programs write (TEND_LOG_WATCH).
//
// The watcher keeps the files that match the patterns (or, with "auto",
// that the programs hold open for writing, and their rotated siblings)
// under the disk budget, next to tend's own files. It watches their
// directories with inotify and reacts to every change within a few
// milliseconds; a rescan every two seconds is the safety net (a missed
// event, a directory created later, new files opened by the programs).
//
// When the budget (or the minimum free space) is passed, it deletes the
// oldest closed files first, tend's rotated files and watched files alike
// (age is the last write, or the rotation for tend's); when that is not
// enough it truncates open files, largest first, because deleting a file
// still open frees nothing until it is closed. A file is open when any
// process holds it open for writing (/proc/*/fd). A file that a process
// maps into memory (/proc/PID/maps of every process below tend, and of the
// file's writers) is never truncated: that would kill the process with
// SIGBUS; it is left, announced once, and deleted once it is closed
// (deleting a mapped file is safe: the mapping keeps its pages).
//
// Watched files are counted by the disk space they take (blocks
// allocated), not their apparent size: a file truncated under a program
// that does not append keeps being written at its old offset and becomes
// sparse, and only what is written again takes space.

// Watch intervals.
const (
	// watchRescan is the safety-net rescan, and how often auto looks for
	// newly opened files.
	watchRescan = 2 * time.Second
	// watchGap is the least time between two reactions to events; events
	// in between are gathered.
	watchGap = 2 * time.Millisecond
	// writersMaxAge is how old the list of files open for writing may be
	// when the budget has to choose between deleting and truncating.
	writersMaxAge = 200 * time.Millisecond
	// closedAfter is how long after its last change a file that no
	// process is seen holding open is taken for closed.
	closedAfter = time.Second
)

// listed is how many watched files `tend status` lists; the rest are
// counted.
const listed = 100

// Options configure the watching of files the programs write.
type Options struct {
	// Patterns are absolute paths of files or directories (every file
	// directly inside), or globs; "auto" finds the files the programs hold
	// open for writing.
	Patterns []string
	// Tail copies new lines of the watched files into the pipeline.
	Tail bool
	// Programs returns the PID of every running program by name (for
	// auto); nil finds nothing.
	Programs func() map[string]int
	// LogDir is tend's own log directory (TEND_LOG_DIR): its files are in
	// the budget already and never watched.
	LogDir string
	// Rescan is the safety-net interval (0: 2s).
	Rescan time.Duration
	// Logger receives the watcher's events (nil: none).
	Logger *zap.Logger
}

// File is one file watched under the disk budget, as `tend status`
// lists it.
type File struct {
	Path string `json:"path"`
	// Program owns the file: the program that holds it open (auto), or
	// the name its records are tailed under.
	Program string `json:"program"`
	// Bytes is the disk space the file takes, as counted in the budget.
	Bytes int64 `json:"bytes"`
	// Open is true when a process held it open for writing at the last
	// check; such a file is truncated rather than deleted.
	Open bool `json:"open"`
	// Tailed is true when its new lines go into the log pipeline.
	Tailed bool `json:"tailed,omitempty"`
	// Mapped is true when the file was due to be truncated and a process
	// mapped it into memory: it is left as it is.
	Mapped bool `json:"mapped,omitempty"`
}

// Status is the watcher's part of `tend status`: the files watched, at
// most 100; the number left out is WatchedMore.
type Status struct {
	Watched     []File `json:"watched,omitempty"`
	WatchedMore int    `json:"watched_more,omitempty"`
}

// watchedFile is one file under the budget for the watcher.
type watchedFile struct {
	path   string
	owner  string
	entry  *budget.Entry
	id     procfs.FileID
	size   int64
	mtime  time.Time
	open   bool // held open for writing at the last check
	auto   bool // found by auto (an open file or a sibling)
	live   bool // auto: held open by the program (a sibling otherwise)
	tail   bool // its lines are tailed
	fresh  bool // first seen after start-up: tailed from its start
	noCut  bool // a truncation was refused (mapped); logged once
	mapped bool // mapped into memory at the last truncation it was due
}

// Watcher is the goroutine that keeps watched files under the budget, and
// the tailer that copies their lines into the pipeline.
type Watcher struct {
	pl     *logship.Pipeline
	budget *budget.Budget
	log    *zap.Logger
	opts   Options
	globs  []string
	auto   bool
	fsw    *fsnotify.Watcher
	rescan time.Duration

	dirs      map[string]bool              // directories watched with inotify
	files     map[string]*watchedFile      // by path
	autoLive  map[string]map[string]string // auto: dir -> live file name -> program
	writers   map[procfs.FileID]*procfs.HeldFile
	tree      []int // every process below tend, read with writers
	writersAt time.Time
	scanned   bool // writers was read during this reconcile
	startup   bool // the first scan runs: what it finds is tailed from the end
	// handed holds the files (by inode) whose descriptor went to the
	// tailer, or that it needs none of; only those still watched.
	handed map[procfs.FileID]bool
	// fsys knows which devices are pseudo filesystems; warned holds the
	// paths skipped, each announced once.
	fsys   watchable.Filesystems
	warned map[string]bool

	tail *tailer // nil without Tail

	mu      sync.Mutex
	listing []File

	cancel   context.CancelFunc
	ctx      context.Context
	done     chan struct{}
	stopOnce sync.Once
}

// Start starts watching the files o names, under the disk budget b and,
// with o.Tail, tailing them into pl, as an input of pl: pl's Close stops
// it. The first scan happens before Start returns: files that exist then
// are tailed from their end.
func Start(pl *logship.Pipeline, b *budget.Budget, o Options) (*Watcher, error) {
	log := o.Logger
	if log == nil {
		log = zap.NewNop()
	}
	w := &Watcher{
		pl:       pl,
		budget:   b,
		log:      log,
		opts:     o,
		rescan:   o.Rescan,
		dirs:     map[string]bool{},
		files:    map[string]*watchedFile{},
		autoLive: map[string]map[string]string{},
		handed:   map[procfs.FileID]bool{},
		warned:   map[string]bool{},
		done:     make(chan struct{}),
	}
	if w.rescan <= 0 {
		w.rescan = watchRescan
	}
	for _, p := range o.Patterns {
		switch {
		case p == "auto":
			w.auto = true
		case !filepath.IsAbs(p):
			return nil, fmt.Errorf("watch %q: not an absolute path", p)
		default:
			if _, err := filepath.Match(p, ""); err != nil {
				return nil, fmt.Errorf("watch %q: %w", p, err)
			}
			w.globs = append(w.globs, filepath.Clean(p))
		}
	}
	fsw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w.fsw = fsw
	w.ctx, w.cancel = context.WithCancel(context.Background())
	if o.Tail {
		w.tail = newTailer(pl, log)
	}
	if err := pl.Attach(w); err != nil {
		fsw.Close()
		w.cancel()
		return nil, fmt.Errorf("watch: %w", err)
	}

	w.startup = true
	w.reconcile(true, nil, true)
	w.startup = false
	if w.tail != nil {
		go w.tail.run()
	}
	go w.run()
	return w, nil
}

// run reacts to inotify events and rescans until stopped.
func (w *Watcher) run() {
	defer close(w.done)
	defer w.fsw.Close()
	tick := time.NewTicker(w.rescan)
	defer tick.Stop()
	changed := map[string]bool{}
	for {
		dirs := false
		note := func(ev fsnotify.Event) {
			if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				dirs = true
			}
			changed[ev.Name] = true
		}
		select {
		case <-w.ctx.Done():
			return
		case <-tick.C:
			w.reconcile(true, nil, true)
			continue
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			note(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflowed event queue: only a rescan knows what changed.
			w.log.Debug("watching log files", zap.Error(err))
			w.reconcile(true, nil, true)
			continue
		}
		// Gather what else arrives within watchGap, so a program writing
		// fast costs one reaction per gap, not one per write.
		gap := time.NewTimer(watchGap)
	gather:
		for {
			select {
			case ev, ok := <-w.fsw.Events:
				if !ok {
					gap.Stop()
					return
				}
				note(ev)
			case <-gap.C:
				break gather
			case <-w.ctx.Done():
				gap.Stop()
				return
			}
		}
		w.reconcile(false, changed, dirs)
		clear(changed)
	}
}

// Stop ends the watcher: the tailer reads every file one last time and
// ships what it read. It returns when done, or when ctx ends.
func (w *Watcher) Stop(ctx context.Context) {
	w.stopOnce.Do(func() {
		w.cancel()
		select {
		case <-w.done:
		case <-ctx.Done():
		}
		if w.tail != nil {
			w.tail.stop(ctx)
		}
	})
}

// Report returns the watched files, by path, at most 100.
func (w *Watcher) Report() any {
	w.mu.Lock()
	files := slices.Clone(w.listing)
	w.mu.Unlock()
	st := Status{Watched: files}
	if len(files) > listed {
		st.WatchedMore = len(files) - listed
		st.Watched = files[:listed]
	}
	return st
}

// reconcile brings the watched set up to date: with scan, the patterns and
// auto directories are listed again (full also looks for files the
// programs opened); changed files are measured again. Then the budget is
// enforced and the status and tailer are updated.
func (w *Watcher) reconcile(full bool, changed map[string]bool, scan bool) {
	w.scanned = false
	if full && w.auto {
		w.discover()
	}
	if scan || full {
		present := map[string]bool{}
		for _, g := range w.globs {
			if !hasMeta(filepath.Dir(g)) && w.pseudoDir(globDir(g)) {
				continue
			}
			w.watchDir(globDir(g))
			for _, path := range expand(g) {
				present[path] = true
				w.consider(path, nameOf(path), false, false)
			}
		}
		for dir, live := range w.autoLive {
			if w.pseudoDir(dir) {
				continue
			}
			w.watchDir(dir)
			ents, err := os.ReadDir(dir)
			if err != nil {
				continue
			}
			for _, e := range ents {
				name := e.Name()
				path := filepath.Join(dir, name)
				if owner, ok := live[name]; ok {
					present[path] = true
					w.consider(path, owner, true, true)
					continue
				}
				for l, owner := range live {
					if rotatedSibling(name, l) {
						present[path] = true
						w.consider(path, owner, true, false)
						break
					}
				}
			}
		}
		for path, f := range w.files {
			if !present[path] {
				w.forget(f)
			}
		}
	}
	for path := range w.files {
		if full || scan || changed[path] {
			w.measure(w.files[path])
		}
	}
	// The tailer gets a descriptor of every new file before the budget
	// may delete one.
	w.publish()
	w.enforce(full)
	w.publish()
}

// consider starts watching path if it is a regular file not watched yet.
func (w *Watcher) consider(path, owner string, auto, live bool) {
	if under(path, w.opts.LogDir) {
		return // tend's own files are in the budget already
	}
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || !w.watchable(path, &st) {
		return
	}
	if f := w.files[path]; f != nil {
		if f.id != procfs.IDOf(&st) {
			// Renamed away or replaced (a rotation): the file there now
			// is a new one.
			w.forget(f)
		} else {
			if auto && live && !f.live {
				f.live, f.owner = true, owner
				f.tail = w.opts.Tail && tailable(filepath.Base(path))
			}
			return
		}
	}
	f := &watchedFile{path: path, owner: owner, id: procfs.IDOf(&st), auto: auto, live: live, fresh: !w.startup}
	f.size, f.mtime = usedBytes(&st), mtimeOf(&st)
	f.tail = w.opts.Tail && tailable(filepath.Base(path)) && (live || !auto)
	f.entry = w.budget.TrackFile(owner, path, f.size, f.id)
	f.open = w.isOpen(f.id) || w.justWritten(f)
	f.entry.SetRetired(!f.open, f.mtime)
	w.files[path] = f
}

// watchable reports whether the file at path (st its lstat) may be
// watched: a regular file on a filesystem of real files. Anything else (a
// named pipe, a socket or a device in a watched directory, anything on
// /proc, /sys or /dev that a pattern reaches) is never opened: a reader
// would block on it, or consume the kernel's state (/proc/kmsg). It is
// skipped with one warning; a symbolic link or a directory is skipped
// silently, as before.
func (w *Watcher) watchable(path string, st *unix.Stat_t) bool {
	kind := watchable.NotRegular(st.Mode)
	if kind == "directory" || kind == "symbolic link" {
		return false
	}
	if kind == "" {
		if fs := w.fsys.Pseudo(path, st.Dev); fs != "" {
			kind = "file on a " + fs + " filesystem"
		}
	}
	if kind == "" {
		return true
	}
	if !w.warned[path] {
		w.warned[path] = true
		w.log.Warn("not watching a path that is not a regular file on a filesystem of real files",
			zap.String("file", path), zap.String("is", kind))
	}
	return false
}

// pseudoDir reports whether dir is on a pseudo filesystem, with one
// warning: nothing in it is watched.
func (w *Watcher) pseudoDir(dir string) bool {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return false
	}
	fs := w.fsys.Pseudo(dir, st.Dev)
	if fs == "" {
		return false
	}
	if !w.warned[dir] {
		w.warned[dir] = true
		w.log.Warn("not watching a directory on a pseudo filesystem",
			zap.String("file", dir), zap.String("is", fs))
	}
	return true
}

// measure stats a watched file again; a file gone or replaced is
// forgotten (a replacement is picked up by the next scan).
func (w *Watcher) measure(f *watchedFile) {
	if f.entry.Gone() {
		delete(w.files, f.path)
		return
	}
	var st unix.Stat_t
	if unix.Lstat(f.path, &st) != nil || procfs.IDOf(&st) != f.id {
		w.forget(f)
		return
	}
	f.size, f.mtime = usedBytes(&st), mtimeOf(&st)
	f.entry.SetSize(f.size)
	if !f.open {
		f.entry.SetRetired(true, f.mtime)
	}
}

// forget stops watching f without touching the file.
func (w *Watcher) forget(f *watchedFile) {
	f.entry.Forget()
	delete(w.files, f.path)
}

// watchDir adds an inotify watch on dir once it exists.
func (w *Watcher) watchDir(dir string) {
	if w.dirs[dir] {
		return
	}
	if err := w.fsw.Add(dir); err == nil {
		w.dirs[dir] = true
	}
}

// refreshWriters reads which files are held open for writing by any
// process, unless the last read is younger than maxAge, and marks the
// watched files open or retired accordingly.
func (w *Watcher) refreshWriters(maxAge time.Duration) {
	if w.writers != nil && time.Since(w.writersAt) < maxAge {
		return
	}
	w.readWriters()
	for _, f := range w.files {
		_, f.open = w.writers[f.id]
		f.open = f.open || w.justWritten(f)
		f.entry.SetRetired(!f.open, f.mtime)
	}
}

// justWritten reports whether f changed less than closedAfter before
// /proc was read: no descriptor seen does not make such a file closed.
// Its creator may be inside open(2), where the file exists before the
// descriptor does, or a logging library may be between closing the live
// file and renaming it (logback closes it first): deleting it would make
// the rename fail, or lose what the program writes next.
func (w *Watcher) justWritten(f *watchedFile) bool {
	return w.writersAt.Sub(f.mtime) < closedAfter
}

// readWriters reads /proc for every regular file open for writing.
func (w *Watcher) readWriters() {
	// Only descriptors of files the watcher may watch: their flags
	// and inodes are read, not every process's every file (on a busy
	// machine a read of them all took 50 to 150 ms, which a fast writer
	// turns into as many bytes over the budget).
	w.writers = procfs.HeldFiles(procfs.Pids(), w.mayWatch, true)
	w.tree = procfs.Descendants(os.Getpid())
	w.writersAt = time.Now()
	w.scanned = true
}

// mayWatch reports whether a file open at path may be one the watcher
// watches: in a watched or auto directory, or matched by a pattern.
func (w *Watcher) mayWatch(path string) bool {
	dir := filepath.Dir(path)
	if w.dirs[dir] || w.autoLive[dir] != nil {
		return true
	}
	for _, g := range w.globs {
		// A pattern names files, or a directory of them.
		if ok, _ := filepath.Match(g, path); ok {
			return true
		}
		if ok, _ := filepath.Match(g, dir); ok {
			return true
		}
	}
	return false
}

// isOpen reports whether a file just found is open for writing. /proc is
// read again once per reconcile that finds new files: an older read does
// not know a file created since.
func (w *Watcher) isOpen(id procfs.FileID) bool {
	if _, ok := w.writers[id]; ok {
		return true
	}
	if !w.scanned {
		w.readWriters()
	}
	_, ok := w.writers[id]
	return ok
}

// discover finds the files the programs hold open for writing, and makes
// their directories auto directories.
func (w *Watcher) discover() {
	if w.opts.Programs == nil {
		return
	}
	leaders := w.opts.Programs()
	if len(leaders) == 0 {
		return
	}
	for name, pids := range procfs.Tree(leaders) {
		held := procfs.HeldFiles(pids, func(path string) bool {
			return !systemPath(path) && !under(path, w.opts.LogDir) && !strings.HasSuffix(path, ".lck")
		}, true)
		for _, h := range held {
			if !logLike(h.Flags) {
				continue
			}
			dir, base := filepath.Split(h.Path)
			dir = filepath.Clean(dir)
			if w.autoLive[dir] == nil {
				w.autoLive[dir] = map[string]string{}
			}
			if _, ok := w.autoLive[dir][base]; !ok {
				w.autoLive[dir][base] = name
				w.log.Info("watching a file a program writes", zap.String("program", name), zap.String("file", h.Path))
			}
		}
	}
}

// enforce keeps the budget and the minimum free space: the oldest closed
// files go first, then open files are truncated, largest first.
func (w *Watcher) enforce(full bool) {
	b := w.budget
	over := b.Limit() > 0 && b.Used() > b.Limit()
	var low []string
	if b.MinFree() > 0 {
		seen := map[string]bool{}
		for path := range w.files {
			dir := filepath.Dir(path)
			if !seen[dir] {
				seen[dir] = true
				if b.TrimSpace(dir) > 0 {
					low = append(low, dir)
				}
			}
		}
	}
	if !over && len(low) == 0 {
		if full {
			w.refreshWriters(0)
		}
		return
	}
	// No wait for the tailer before deleting: it holds every file it may
	// still read (a renamed live file, a copytruncate copy) open, and reads
	// it after it is deleted.
	w.refreshWriters(writersMaxAge)
	if over && b.Trim() > 0 {
		w.truncate("disk budget", func(*watchedFile) bool { return true }, func() bool { return b.Used() > b.Limit() })
	}
	for _, dir := range low {
		if b.TrimSpace(dir) <= 0 {
			continue
		}
		var st unix.Statfs_t
		if unix.Statfs(dir, &st) != nil {
			continue
		}
		fsid := st.Fsid
		w.truncate("min free space", func(f *watchedFile) bool {
			var fst unix.Statfs_t
			return unix.Statfs(filepath.Dir(f.path), &fst) == nil && fst.Fsid == fsid
		}, func() bool { return b.TrimSpace(dir) > 0 })
	}
	for path, f := range w.files {
		if f.entry.Gone() {
			delete(w.files, path)
		}
	}
}

// truncate truncates open watched files that pick accepts, largest first,
// while need reports that room is still needed. A file that any process
// maps into memory (any process of tend's, or a writer of the file) is
// left: truncating it would kill that process with SIGBUS at its next read
// of the lost pages.
func (w *Watcher) truncate(reason string, pick func(*watchedFile) bool, need func() bool) {
	var cands []*watchedFile
	for _, f := range w.files {
		if f.open && f.size > 0 && !f.entry.Gone() && pick(f) {
			cands = append(cands, f)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].size > cands[j].size })
	var mapped map[procfs.FileID]bool
	for _, f := range cands {
		if !need() {
			return
		}
		if mapped == nil {
			// Read now, not cached: a file mapped a moment ago must not
			// be cut. Every process of tend's counts, not only the
			// writers: a reader that maps a log (an indexer) and closed
			// its descriptor dies just the same. Processes outside tend's
			// tree are not read (with the host's /proc visible, reading
			// every process's maps would slow each cut by far); the tree
			// is as old as the list of writers.
			pids := slices.Clone(w.tree)
			for _, c := range cands {
				if h := w.writers[c.id]; h != nil {
					pids = append(pids, h.Pids...)
				}
			}
			mapped = procfs.Mapped(pids)
		}
		if mapped[f.id] {
			f.mapped = true
			if !f.noCut {
				f.noCut = true
				w.log.Warn("not truncating a watched file a process maps into memory; it stays over the budget until it is closed",
					zap.String("file", f.path), zap.Int64("bytes", f.size))
			}
			continue
		}
		f.mapped = false
		if w.tail != nil && f.tail {
			// The tailer reads what is there before it goes, now, on
			// this goroutine: a file written fast grows on while the
			// budget waits.
			w.tail.catchUp(f.id)
		}
		if _, err := f.entry.Truncate(reason); err != nil {
			w.log.Warn("cannot truncate a watched file", zap.String("file", f.path), zap.Error(err))
			continue
		}
		f.size = 0
	}
}

// publish updates the status listing and the tailer's targets. A file
// named like a rotated copy of another tailed file (app.1.log or
// app.log.1 next to app.log) holds lines already read, or old ones: it is
// not tailed (a file being read when it was renamed is read to its end by
// its inode).
func (w *Watcher) publish() {
	names := map[string]bool{}
	for _, f := range w.files {
		if f.tail {
			names[f.path] = true
		}
	}
	archive := func(path string) bool {
		for other := range names {
			if other != path && filepath.Dir(other) == filepath.Dir(path) &&
				rotatedSibling(filepath.Base(path), filepath.Base(other)) {
				return true
			}
		}
		return false
	}
	// A new file named like a rotated copy of a tailed one is the copy
	// copytruncate made, or a live file rotated away before tend saw it
	// under its live name: the tailer may need its lines.
	siblingOfTailed := func(path string) bool {
		for other := range names {
			if filepath.Dir(other) == filepath.Dir(path) && rotatedSibling(filepath.Base(path), filepath.Base(other)) {
				return true
			}
		}
		return false
	}
	listing := make([]File, 0, len(w.files))
	var targets []tailTarget
	var handed []handover
	present := make(map[procfs.FileID]bool, len(w.files))
	for _, f := range w.files {
		present[f.id] = true
		tailed := f.tail && !archive(f.path)
		listing = append(listing, File{Path: f.path, Program: f.owner, Bytes: f.size, Open: f.open, Tailed: tailed, Mapped: f.mapped})
		tg := tailTarget{path: f.path, id: f.id, program: f.owner, fresh: f.fresh}
		if tailed {
			targets = append(targets, tg)
		}
		if w.tail == nil || w.handed[f.id] {
			continue
		}
		w.handed[f.id] = true
		isCopy := !tailed && f.fresh && tailable(filepath.Base(f.path)) && siblingOfTailed(f.path)
		if !tailed && !isCopy {
			continue
		}
		if fd, ok := openFor(f.path, f.id); ok {
			handed = append(handed, handover{tg: tg, f: fd, copy: isCopy})
		}
	}
	for id := range w.handed {
		if !present[id] {
			delete(w.handed, id)
		}
	}
	sort.Slice(listing, func(i, j int) bool { return listing[i].Path < listing[j].Path })
	w.mu.Lock()
	w.listing = listing
	w.mu.Unlock()
	if w.tail != nil {
		w.tail.update(targets, handed)
	}
}

// openFor opens path for the tailer if it is still the regular file id.
// It never blocks: a FIFO or a device put there since is not waited on.
func openFor(path string, id procfs.FileID) (*os.File, bool) {
	f, st, err := watchable.Open(path)
	if err != nil {
		return nil, false
	}
	if procfs.IDOf(&st) != id {
		f.Close()
		return nil, false
	}
	return f, true
}

// usedBytes is the disk space a file takes: its size, or the blocks it
// has allocated when fewer (a sparse file).
func usedBytes(st *unix.Stat_t) int64 {
	return min(st.Size, st.Blocks*512)
}

func mtimeOf(st *unix.Stat_t) time.Time {
	return time.Unix(st.Mtim.Sec, st.Mtim.Nsec)
}

// expand returns the regular files a pattern names: a directory names the
// files directly inside it.
func expand(pattern string) []string {
	if st, err := os.Stat(pattern); err == nil && st.IsDir() {
		pattern = filepath.Join(pattern, "*")
	}
	matches, _ := filepath.Glob(pattern)
	return matches
}

// globDir is the directory to watch for a pattern.
func globDir(pattern string) string {
	if st, err := os.Stat(pattern); err == nil && st.IsDir() {
		return pattern
	}
	return filepath.Dir(pattern)
}

// hasMeta reports whether path holds a glob's special characters.
func hasMeta(path string) bool { return strings.ContainsAny(path, `*?[\`) }

// nameOf is the program name of a file matched by a pattern: its base
// name up to the first dot ("app" for app.log, "gc" for gc.log.0).
func nameOf(path string) string {
	base := filepath.Base(path)
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base
}

// binaryExts are the file types never tailed (still kept under the budget).
var binaryExts = []string{".gz", ".zip", ".bz2", ".xz", ".zst", ".lz4", ".hprof", ".jfr", ".lck", ".bin", ".tar", ".7z", ".core"}

// tailable reports whether a file of this name is text worth tailing.
func tailable(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range binaryExts {
		if strings.HasSuffix(lower, ext) {
			return false
		}
	}
	return true
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

// logLike reports whether a descriptor opened with flags looks like a log
// being written: write-only (appending or not), or read-write in append
// mode. A file opened read-write without O_APPEND is written in place (an
// embedded database, a memory-mapped counter file such as the JVM's
// hsperfdata): cutting it would corrupt it, so auto never takes it.
func logLike(flags int64) bool {
	m := flags & procfs.AccessMode
	return m == procfs.WriteOnly || (m == procfs.ReadWrite && flags&procfs.Append != 0)
}

// systemPath reports whether path is in a pseudo filesystem that is never
// a program's log.
func systemPath(path string) bool {
	for _, p := range []string{"/dev/", "/proc/", "/sys/"} {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// under reports whether path is dir or inside it.
func under(path, dir string) bool {
	if dir == "" {
		return false
	}
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}
