package logship

// watchedListed is how many watched files `tend status` lists; the rest
// are counted.
const watchedListed = 100

// Status is the state of the pipeline beyond per-program counters: the
// disk budget, the files watched, recent cleanups, and the Fluentd sink.
type Status struct {
	// DiskUsed is the bytes of every file under the budget: tend's own
	// and the watched ones.
	DiskUsed int64 `json:"disk_used"`
	// DiskBudget is TEND_LOG_DISK_BUDGET (0: no cap).
	DiskBudget int64 `json:"disk_budget,omitempty"`
	// Watched lists the files watched (TEND_LOG_WATCH), at most 100; the
	// number left out is WatchedMore.
	Watched     []WatchedFile `json:"watched,omitempty"`
	WatchedMore int           `json:"watched_more,omitempty"`
	// Cleanups are the most recent deletions and truncations made for the
	// disk limits, oldest first (at most 20).
	Cleanups []Cleanup `json:"cleanups,omitempty"`
	// CleanupsTotal and CleanedBytes count every cleanup since start.
	CleanupsTotal int64 `json:"cleanups_total"`
	CleanedBytes  int64 `json:"cleaned_bytes"`
	// HooksSkipped counts cleanups whose TEND_ON_LOG_CLEANUP did not run:
	// the hook's queue was full, or tend was stopping. HooksFailed counts
	// runs that failed or exited non-zero.
	HooksSkipped int64 `json:"cleanup_hooks_skipped,omitempty"`
	HooksFailed  int64 `json:"cleanup_hooks_failed,omitempty"`
	// Fluent is the Fluentd sink (nil when TEND_FLUENT_ADDR is not set).
	Fluent *FluentStatus `json:"fluent,omitempty"`
}

// WatchedFile is one file watched under the disk budget.
type WatchedFile struct {
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
}

// Status returns the pipeline's state for `tend status`.
func (s *Shipper) Status() *Status {
	st := &Status{DiskUsed: s.budget.Used(), DiskBudget: s.budget.Limit()}
	st.Cleanups, st.CleanupsTotal, st.CleanedBytes = s.clean.list()
	st.HooksSkipped, st.HooksFailed = s.clean.skipped.Load(), s.clean.failed.Load()
	s.mu.Lock()
	w := s.watch
	s.mu.Unlock()
	if w != nil {
		files := w.list()
		if len(files) > watchedListed {
			st.WatchedMore = len(files) - watchedListed
			files = files[:watchedListed]
		}
		st.Watched = files
	}
	if s.fluent != nil {
		st.Fluent = s.fluent.status()
	}
	return st
}
