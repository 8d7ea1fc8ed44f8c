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
	"runtime"
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
// milliseconds, looking only at the files named by the events: while
// nothing is written it does nothing. A directory a pattern needs that
// does not exist yet is found by a watch on its parent. auto looks for
// files the programs opened every two seconds, reading only the processes
// whose number of open descriptors changed. A rare full rescan (every
// minute or more, less often the longer it takes) is the safety net for
// what inotify cannot tell.
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
	// watchRescan is the least time between two safety-net rescans
	// (every pattern and auto directory listed again, every file
	// measured, /proc read): inotify tells every change, an overflowed
	// event queue is a rescan at once, and a directory a pattern needs is
	// found by the watch on its parent, so the rescan is only for what
	// inotify cannot see (files written through a memory mapping, changes
	// on a network filesystem, a watch the kernel refused).
	watchRescan = time.Minute
	// rescanFactor makes the rescans of a large watched set rarer: the
	// next one waits at least this many times as long as the last one
	// took, so that they cost at most a tenth of a percent of a CPU.
	rescanFactor = 1000
	// rescanMax bounds the wait between two rescans.
	rescanMax = 10 * time.Minute
	// autoPoll is how often auto looks for files the programs opened.
	// Only processes whose number of open descriptors changed are read.
	autoPoll = 2 * time.Second
	// drainFor bounds how long a reaction reads the events waiting, when
	// writers make new ones as fast as they are read.
	drainFor = time.Millisecond
	// watchGap is how long the watcher waits after an event before it
	// reacts, gathering what else arrives, unless its pace says longer
	// (a busy log far from the limits) or shorter (a limit near).
	watchGap = 2 * time.Millisecond
	// writersMaxAge is how old the list of files open for writing may be
	// when the budget has to choose between deleting and truncating.
	writersMaxAge = 200 * time.Millisecond
	// closedAfter is how long after its last change a file that no
	// process is seen holding open is taken for closed.
	closedAfter = time.Second
	// recheckGap is the least time between two reads of /proc made only
	// to tell whether files written lately are still open.
	recheckGap = 2 * time.Second
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
	// Rescan is the least interval between safety-net rescans (0: 1m);
	// a rescan that takes long makes it longer.
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
	seen   uint64 // the last scan that found it
	open   bool   // held open for writing at the last check
	auto   bool   // found by auto (an open file or a sibling)
	live   bool   // auto: held open by the program (a sibling otherwise)
	tail   bool   // its lines are to be tailed
	tailed bool   // tailed: tail, and not named like a rotated copy of another tailed file
	fresh  bool   // first seen after start-up: tailed from its start
	noCut  bool   // a truncation was refused (mapped); logged once
	mapped bool   // mapped into memory at the last truncation it was due
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

	dirs     map[string]bool              // directories watched with inotify
	rules    map[string][]rule            // directory -> the patterns its files may match
	parents  map[string][]string          // directory -> names of directories the patterns need in it
	files    map[string]*watchedFile      // by path
	dirFiles map[string]int               // directory -> how many watched files it holds
	autoLive map[string]map[string]string // auto: dir -> live file name -> program
	autoSibs map[string]siblingIndex      // auto: dir -> its live names, by what their rotated copies start with
	gen      uint64                       // scans so far: a file not seen by the latest is gone
	lastFull time.Duration                // how long the last full rescan took
	pace     pace                         // how soon to react to the next events
	passEnd  time.Time                    // when the last reaction to events ended
	events   int                          // inotify events read so far
	passes   int                          // reactions to them so far

	progFDs   *procfs.Descriptors // the programs' descriptors (auto)
	allFDs    *procfs.Descriptors // every process's (who writes which file)
	writers   map[procfs.FileID]*procfs.HeldFile
	tree      []int // every process below tend, read with writers
	writersAt time.Time
	scanned   bool      // writers was read during this reconcile
	recheck   time.Time // when to read writers again for files written lately (zero: no need)
	startup   bool      // the first scan runs: what it finds is tailed from the end
	// handed holds the files (by inode) whose descriptor went to the
	// tailer, or that it needs none of; only those still watched.
	handed map[procfs.FileID]bool
	// fsys knows which devices are pseudo filesystems; warned holds the
	// paths skipped, each announced once.
	fsys   watchable.Filesystems
	warned map[string]bool

	// sorted holds the watched paths in order, for the status listing;
	// added and removed are the changes since it was last brought up to
	// date, and setChanged says that the set of files (or which are
	// tailed) changed since the last publish.
	sorted     []string
	added      []string
	removed    []string
	setChanged bool

	tail *tailer // nil without Tail

	mu          sync.Mutex
	listing     []File // the first files by path
	listedTotal int    // how many files are watched

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
		rules:    map[string][]rule{},
		parents:  map[string][]string{},
		files:    map[string]*watchedFile{},
		dirFiles: map[string]int{},
		autoLive: map[string]map[string]string{},
		autoSibs: map[string]siblingIndex{},
		progFDs:  procfs.NewDescriptors(),
		allFDs:   procfs.NewDescriptors(),
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
	// Unbuffered: events left unread stay in the kernel's queue, which
	// merges repeated ones (see run).
	fsw, err := fsnotify.NewWatcher()
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
	w.reconcile(pass{full: true})
	w.startup = false
	if w.tail != nil {
		go w.tail.run()
	}
	go w.run()
	return w, nil
}

// pass is what one reconcile does.
type pass struct {
	// full: the safety net; auto reads every descriptor of the programs,
	// every pattern and auto directory is listed, /proc is read.
	full bool
	// scan: every pattern and auto directory is listed (a directory a
	// pattern needs appeared or went).
	scan bool
	// rediscover: auto reads every descriptor of the programs (a file of
	// an unknown name appeared in an auto directory).
	rediscover bool
	// changed are the paths named by events.
	changed map[string]bool
}

// run reacts to inotify events, looks for files the programs opened and
// rescans, until stopped.
func (w *Watcher) run() {
	defer close(w.done)
	defer w.fsw.Close()
	rescan := time.NewTimer(w.nextRescan())
	defer rescan.Stop()
	var poll <-chan time.Time
	if w.auto {
		t := time.NewTicker(autoPoll)
		defer t.Stop()
		poll = t.C
	}
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	armed := false
	p := pass{changed: map[string]bool{}}
	for {
		p.scan, p.rediscover = false, false
		clear(p.changed)
		select {
		case <-w.ctx.Done():
			return
		case <-rescan.C:
			w.reconcile(pass{full: true})
			rescan.Reset(w.nextRescan())
		case <-poll:
			w.poll()
		case <-recheck.C:
			armed = false
			w.recheckWriters()
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.note(&p, ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			// An overflowed event queue: only a rescan knows what changed.
			w.log.Debug("watching log files", zap.Error(err))
			w.reconcile(pass{full: true})
			rescan.Reset(w.nextRescan())
		}
		if len(p.changed) > 0 {
			// Wait before reacting, without reading more events: while
			// they wait in inotify's queue, the kernel merges the events
			// of a file written again and again, so a program writing a
			// line per write costs one event per gap, not one per write.
			// Near a limit the wait is shorter (see pace).
			w.pace.woke(time.Since(w.passEnd))
			gap := time.NewTimer(w.pace.gap(time.Now()))
			select {
			case <-gap.C:
			case <-w.ctx.Done():
				gap.Stop()
				return
			}
			if !w.drain(&p) {
				return
			}
			w.passes++
			w.reconcile(p)
			w.passEnd = time.Now()
		}
		if !armed && !w.recheck.IsZero() {
			armed = true
			recheck.Reset(max(time.Until(w.recheck), 0))
		}
	}
}

// drain reads the events waiting, in the reader's hands or in the
// kernel's queue, into p; false when the watcher was closed. Receiving an
// event makes the reader runnable on this goroutine's processor: yielding
// lets it hand over the next one (from the batch it read, or read from
// the queue), so one that is not ready at once is still taken. Without
// the yield a pass took one event, and the rest, one per gap, fell ever
// further behind the files (a rotated log seen late went past the
// budget).
//
// It stops when it has caught up with the writers: at an event equal to
// the one before (the kernel merges those while they wait, so the second
// was made after the first was read), or after drainFor.
func (w *Watcher) drain(p *pass) bool {
	begin := time.Now()
	var last fsnotify.Event
	for yielded := false; ; {
		select {
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return false
			}
			w.note(p, ev)
			if ev == last || time.Since(begin) > drainFor {
				return true
			}
			last, yielded = ev, false
			continue
		default:
		}
		if yielded {
			return true
		}
		runtime.Gosched()
		yielded = true
	}
}

// note adds an event to the pass it calls for.
func (w *Watcher) note(p *pass, ev fsnotify.Event) {
	w.events++
	p.changed[ev.Name] = true
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Remove) && !ev.Has(fsnotify.Rename) {
		return
	}
	if w.dirs[ev.Name] && !ev.Has(fsnotify.Create) {
		// A watched directory went (the kernel dropped its watch): the
		// patterns are resolved again, and it is watched again if it
		// comes back.
		_ = w.fsw.Remove(ev.Name)
		delete(w.dirs, ev.Name)
		p.scan = true
	}
	dir, name := filepath.Split(ev.Name)
	dir = filepath.Clean(dir)
	for _, want := range w.parents[dir] {
		if ok, _ := filepath.Match(want, name); ok {
			p.scan = true // a directory a pattern needs appeared or went
		}
	}
	if ev.Has(fsnotify.Create) && w.autoLive[dir] != nil && w.files[ev.Name] == nil {
		if _, _, ok := w.autoOwner(dir, name); !ok {
			// Maybe a file a program just opened (a log named by the
			// date): the programs' descriptors are read again.
			p.rediscover = true
		}
	}
}

// nextRescan is the wait before the next safety-net rescan.
func (w *Watcher) nextRescan() time.Duration {
	return min(max(w.rescan, rescanFactor*w.lastFull), max(w.rescan, rescanMax))
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
	defer w.mu.Unlock()
	return Status{Watched: slices.Clone(w.listing), WatchedMore: w.listedTotal - len(w.listing)}
}

// reconcile brings the watched set up to date as p says, then enforces
// the budget and updates the status and the tailer.
func (w *Watcher) reconcile(p pass) {
	start := time.Now()
	w.scanned = false
	if w.auto && (p.full || p.rediscover) {
		for dir := range w.discover(true) {
			if !p.full && !p.scan {
				w.scanAutoDir(dir)
			}
		}
	}
	if p.full || p.scan {
		w.scan()
	} else {
		for path := range p.changed {
			w.update(path)
		}
	}
	// The tailer gets a descriptor of every new file before the budget
	// may delete one.
	w.publish()
	before := w.headroom()
	w.enforce(p.full)
	w.pace.passed(before, w.headroom(), time.Now())
	w.publish()
	if p.full {
		w.lastFull = time.Since(start)
		w.log.Debug("rescanned the watched files", zap.Int("files", len(w.files)),
			zap.Duration("took", w.lastFull), zap.Duration("next", w.nextRescan()))
	}
}

// poll looks for files the programs opened since the last look (auto).
func (w *Watcher) poll() {
	dirs := w.discover(false)
	if len(dirs) == 0 {
		return
	}
	w.scanned = false
	for dir := range dirs {
		w.scanAutoDir(dir)
	}
	w.publish()
	w.enforce(false)
	w.publish()
}

// scan lists every pattern's directories and every auto directory again,
// watches the directories they need, and forgets the files gone.
func (w *Watcher) scan() {
	w.gen++
	rules := map[string][]rule{}
	parents := map[string][]string{}
	for _, g := range w.globs {
		dirs, all, needs := resolve(g)
		if !hasMeta(filepath.Dir(g)) && len(dirs) == 1 && w.pseudoDir(dirs[0]) {
			continue
		}
		for _, n := range needs {
			parents[n.dir] = append(parents[n.dir], n.name)
			if !w.onPseudo(n.dir) {
				w.watchDir(n.dir)
			}
		}
		for _, dir := range dirs {
			rules[dir] = append(rules[dir], rule{pattern: g, all: all})
			// A directory on a pseudo filesystem that a glob reaches is
			// not watched; what it holds is skipped with one warning
			// each, at the scans.
			if !w.onPseudo(dir) {
				w.watchDir(dir)
			}
			w.scanDir(dir, g, all)
		}
	}
	w.rules, w.parents = rules, parents
	for dir := range w.autoLive {
		w.scanAutoDir(dir)
	}
	for _, f := range w.files {
		if f.seen != w.gen {
			w.forget(f)
		}
	}
}

// scanDir considers the files of dir that pattern g matches (every file
// with all).
func (w *Watcher) scanDir(dir, g string, all bool) {
	if !all && !hasMeta(filepath.Base(g)) {
		// One file named: no need to list the directory.
		w.consider(filepath.Join(dir, filepath.Base(g)), nameOf(g), false, false)
		return
	}
	eachName(dir, func(name string) {
		path := filepath.Join(dir, name)
		if all || matches(g, path) {
			w.consider(path, nameOf(path), false, false)
		}
	})
}

// scanAutoDir watches an auto directory and considers its files that the
// programs hold open, and their rotated siblings.
func (w *Watcher) scanAutoDir(dir string) {
	if w.pseudoDir(dir) {
		return
	}
	w.watchDir(dir)
	eachName(dir, func(name string) {
		if owner, live, ok := w.autoOwner(dir, name); ok {
			w.consider(filepath.Join(dir, name), owner, true, live)
		}
	})
}

// update brings one path named by an event up to date: considered if a
// pattern or auto takes it, forgotten if it was watched and is no more.
func (w *Watcher) update(path string) {
	dir, name := filepath.Split(path)
	dir = filepath.Clean(dir)
	taken := false
	for _, r := range w.rules[dir] {
		if r.all || matches(r.pattern, path) {
			w.consider(path, nameOf(path), false, false)
			taken = true
			break
		}
	}
	if owner, live, ok := w.autoOwner(dir, name); ok {
		w.consider(path, owner, true, live)
		taken = true
	}
	if f := w.files[path]; f != nil && !taken {
		w.forget(f)
	}
	if f := w.files[path]; f != nil && !f.open && w.writersAt.Sub(f.mtime) < 0 {
		// Written since /proc was read, and taken for closed: it may
		// have a writer now. Open until /proc says otherwise, so the
		// budget does not delete it under the writer.
		f.open = true
		f.entry.SetRetired(false, f.mtime)
		w.recheckAt(f.mtime.Add(closedAfter))
	}
}

// autoOwner tells whether auto watches the file name in dir: a file a
// program holds open (live), or a rotated sibling of one; owner is the
// program.
func (w *Watcher) autoOwner(dir, name string) (owner string, live, ok bool) {
	names := w.autoLive[dir]
	if names == nil {
		return "", false, false
	}
	if owner, ok := names[name]; ok {
		return owner, true, true
	}
	if l, ok := w.autoSibs[dir].of(name); ok {
		return names[l], false, true
	}
	return "", false, false
}

// consider brings the file at path up to date: a regular file not watched
// yet is tracked, a watched one measured, one gone or replaced forgotten
// (a replacement is tracked anew). The scan that calls it sees it.
func (w *Watcher) consider(path, owner string, auto, live bool) {
	if under(path, w.opts.LogDir) {
		return // tend's own files are in the budget already
	}
	f := w.files[path]
	if f != nil && f.entry.Gone() {
		w.drop(f) // deleted by the budget
		f = nil
	}
	var st unix.Stat_t
	if unix.Lstat(path, &st) != nil || !w.watchable(path, &st) {
		if f != nil {
			w.forget(f)
		}
		return
	}
	if f != nil && f.id != procfs.IDOf(&st) {
		// Renamed away or replaced (a rotation): the file there now is
		// a new one.
		w.forget(f)
		f = nil
	}
	if f != nil {
		f.seen = w.gen
		if auto && live && !f.live {
			f.live, f.owner = true, owner
			f.tail = w.opts.Tail && tailable(filepath.Base(path))
			w.setChanged = true
		}
		f.size, f.mtime = usedBytes(&st), mtimeOf(&st)
		f.entry.SetSize(f.size)
		if !f.open {
			f.entry.SetRetired(true, f.mtime)
		}
		return
	}
	f = &watchedFile{path: path, owner: owner, id: procfs.IDOf(&st), auto: auto, live: live, fresh: !w.startup, seen: w.gen}
	f.size, f.mtime = usedBytes(&st), mtimeOf(&st)
	f.tail = w.opts.Tail && tailable(filepath.Base(path)) && (live || !auto)
	f.entry = w.budget.TrackFile(owner, path, f.size, f.id)
	held := w.isOpen(f.id)
	f.open = held || w.justWritten(f)
	if f.open && !held {
		// Open only because it was just written: /proc is read again
		// once it is not, to tell whether it was closed.
		w.recheckAt(f.mtime.Add(closedAfter))
	}
	f.entry.SetRetired(!f.open, f.mtime)
	w.files[path] = f
	w.dirFiles[filepath.Dir(path)]++
	w.added = append(w.added, path)
	w.setChanged = true
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
	fs := w.pseudoFS(dir)
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

// onPseudo reports whether dir is on a pseudo filesystem, silently.
func (w *Watcher) onPseudo(dir string) bool { return w.pseudoFS(dir) != "" }

func (w *Watcher) pseudoFS(dir string) string {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil {
		return ""
	}
	return w.fsys.Pseudo(dir, st.Dev)
}

// forget stops watching f without touching the file.
func (w *Watcher) forget(f *watchedFile) {
	f.entry.Forget()
	w.drop(f)
}

// drop removes f from the watched set.
func (w *Watcher) drop(f *watchedFile) {
	if w.files[f.path] != f {
		return
	}
	delete(w.files, f.path)
	dir := filepath.Dir(f.path)
	if w.dirFiles[dir]--; w.dirFiles[dir] <= 0 {
		delete(w.dirFiles, dir)
	}
	w.removed = append(w.removed, f.path)
	w.setChanged = true
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
	w.recheck = time.Time{}
	for _, f := range w.files {
		_, f.open = w.writers[f.id]
		if !f.open && w.justWritten(f) {
			f.open = true
			w.recheckAt(f.mtime.Add(closedAfter))
		}
		f.entry.SetRetired(!f.open, f.mtime)
	}
}

// recheckAt asks for /proc to be read again at t (or recheckGap after the
// last read, if later), to tell whether files written lately are still
// open.
func (w *Watcher) recheckAt(t time.Time) {
	t = maxTime(t, w.writersAt.Add(recheckGap))
	if w.recheck.IsZero() || t.Before(w.recheck) {
		w.recheck = t
	}
}

// recheckWriters reads /proc again for files written lately, when due.
func (w *Watcher) recheckWriters() {
	if w.recheck.IsZero() {
		return
	}
	if time.Now().Before(w.recheck) {
		return // moved later meanwhile; run arms it again
	}
	w.refreshWriters(0)
	w.publish()
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
	// Only descriptors of files the watcher may watch: their flags are
	// read, not every process's every file (on a busy machine a read of
	// them all took 50 to 150 ms, which a fast writer turns into as many
	// bytes over the budget). Descriptors seen before cost one stat each.
	pids := procfs.Pids()
	w.writers = w.allFDs.Held(pids, w.mayWatch, true)
	w.tree = processesBelow(os.Getpid(), pids)
	w.writersAt = time.Now()
	w.scanned = true
}

// processesBelow returns the processes whose maps are read before a cut:
// tend's descendants. As PID 1 of a PID namespace (a container) that is
// every process of it, and those entered from outside (`kubectl exec`)
// count too: pids, without reading every process's stat to find out
// (3 to 5 ms with 64 processes, on the way to the first cut of a file
// that grows at GB/s).
func processesBelow(self int, pids []int) []int {
	if self != 1 {
		return procfs.Descendants(self)
	}
	return slices.DeleteFunc(slices.Clone(pids), func(pid int) bool { return pid == self })
}

// mayWatch reports whether a file open at path may be one the watcher
// watches: in a watched or auto directory, or matched by a pattern.
func (w *Watcher) mayWatch(path string) bool {
	dir := filepath.Dir(path)
	if w.dirs[dir] || w.autoLive[dir] != nil || w.rules[dir] != nil {
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
// their directories auto directories; it returns the directories that got
// new files. With all, every descriptor of the programs is read (one stat
// each for those seen before); otherwise only those opened since the last
// look, in the processes whose number of open descriptors changed.
func (w *Watcher) discover(all bool) map[string]bool {
	if w.opts.Programs == nil {
		return nil
	}
	leaders := w.opts.Programs()
	if len(leaders) == 0 {
		return nil
	}
	owner := map[int]string{}
	var pids []int
	for name, tree := range procfs.Tree(leaders) {
		for _, pid := range tree {
			if _, ok := owner[pid]; !ok {
				owner[pid] = name
				pids = append(pids, pid)
			}
		}
	}
	keep := func(path string) bool {
		return !systemPath(path) && !under(path, w.opts.LogDir) && !strings.HasSuffix(path, ".lck")
	}
	var held map[procfs.FileID]*procfs.HeldFile
	if all {
		held = w.progFDs.Held(pids, keep, true)
	} else {
		held = w.progFDs.Opened(pids, keep, true)
	}
	var grown map[string]bool
	for _, h := range held {
		if !logLike(h.Flags) {
			continue
		}
		dir, base := filepath.Split(h.Path)
		dir = filepath.Clean(dir)
		if w.autoLive[dir] == nil {
			w.autoLive[dir] = map[string]string{}
			w.autoSibs[dir] = siblingIndex{}
		}
		if _, ok := w.autoLive[dir][base]; !ok {
			name := owner[h.Pids[0]]
			w.autoLive[dir][base] = name
			w.autoSibs[dir].add(base)
			if grown == nil {
				grown = map[string]bool{}
			}
			grown[dir] = true
			w.log.Info("watching a file a program writes", zap.String("program", name), zap.String("file", h.Path))
		}
	}
	return grown
}

// enforce keeps the budget and the minimum free space: the oldest closed
// files go first, then open files are truncated, largest first.
func (w *Watcher) enforce(full bool) {
	b := w.budget
	over := b.Limit() > 0 && b.Used() > b.Limit()
	var low []string
	if b.MinFree() > 0 {
		for dir := range w.dirFiles {
			if b.TrimSpace(dir) > 0 {
				low = append(low, dir)
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
	for _, f := range w.files {
		if f.entry.Gone() {
			w.drop(f)
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

// publish updates the status listing and the tailer. The tailer's
// targets (and the descriptors handed over) are worked out again only
// when the set of files changed; otherwise the tailer is only woken.
func (w *Watcher) publish() {
	changed := w.setChanged
	w.setChanged = false
	if changed && w.tail != nil {
		w.publishTargets()
	} else if w.tail != nil {
		w.tail.poke()
	}
	w.sortPaths()
	n := min(len(w.sorted), listed)
	listing := make([]File, 0, n)
	for _, path := range w.sorted[:n] {
		f := w.files[path]
		listing = append(listing, File{Path: f.path, Program: f.owner, Bytes: f.size, Open: f.open, Tailed: f.tailed, Mapped: f.mapped})
	}
	w.mu.Lock()
	w.listing, w.listedTotal = listing, len(w.sorted)
	w.mu.Unlock()
}

// publishTargets hands the tailer its targets and the descriptors of the
// new files it needs. A file named like a rotated copy of another tailed
// file (app.1.log or app.log.1 next to app.log) holds lines already read,
// or old ones: it is not tailed (a file being read when it was renamed is
// read to its end by its inode). Such a file that is new is the copy
// copytruncate made, or a live file rotated away before tend saw it under
// its live name: the tailer holds it in case it needs its lines.
func (w *Watcher) publishTargets() {
	tailedNames := map[string]siblingIndex{} // by directory
	for _, f := range w.files {
		if f.tail {
			dir := filepath.Dir(f.path)
			if tailedNames[dir] == nil {
				tailedNames[dir] = siblingIndex{}
			}
			tailedNames[dir].add(filepath.Base(f.path))
		}
	}
	siblingOfTailed := func(path string) bool {
		_, ok := tailedNames[filepath.Dir(path)].of(filepath.Base(path))
		return ok
	}
	var targets []tailTarget
	var handed []handover
	for _, f := range w.files {
		f.tailed = f.tail && !siblingOfTailed(f.path)
		tg := tailTarget{path: f.path, id: f.id, program: f.owner, fresh: f.fresh}
		if f.tailed {
			targets = append(targets, tg)
		}
		if w.handed[f.id] {
			continue
		}
		w.handed[f.id] = true
		isCopy := !f.tailed && f.fresh && tailable(filepath.Base(f.path)) && siblingOfTailed(f.path)
		if !f.tailed && !isCopy {
			continue
		}
		if fd, ok := openFor(f.path, f.id); ok {
			handed = append(handed, handover{tg: tg, f: fd, copy: isCopy})
		}
	}
	present := make(map[procfs.FileID]bool, len(w.files))
	for _, f := range w.files {
		present[f.id] = true
	}
	for id := range w.handed {
		if !present[id] {
			delete(w.handed, id)
		}
	}
	w.tail.update(targets, handed)
}

// sortPaths brings w.sorted up to date with the files added and removed
// since: a few are put in place, many make it sorted anew.
func (w *Watcher) sortPaths() {
	if len(w.added) == 0 && len(w.removed) == 0 {
		return
	}
	if len(w.added)+len(w.removed) > 64 {
		w.sorted = w.sorted[:0]
		for path := range w.files {
			w.sorted = append(w.sorted, path)
		}
		slices.Sort(w.sorted)
	} else {
		for _, path := range w.removed {
			if w.files[path] != nil {
				continue // back since
			}
			if i, ok := slices.BinarySearch(w.sorted, path); ok {
				w.sorted = slices.Delete(w.sorted, i, i+1)
			}
		}
		for _, path := range w.added {
			if w.files[path] == nil {
				continue // gone since
			}
			if i, ok := slices.BinarySearch(w.sorted, path); !ok {
				w.sorted = slices.Insert(w.sorted, i, path)
			}
		}
	}
	w.added, w.removed = w.added[:0], w.removed[:0]
	if cap(w.sorted) > 2*len(w.sorted)+1024 {
		w.sorted = slices.Clip(w.sorted)
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
