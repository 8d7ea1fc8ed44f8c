package budget

// Cleanups returns the most recent cleanups, oldest first (at most 20),
// and how many cleanups and bytes were made since start.
func (b *Budget) Cleanups() (recent []Cleanup, total, bytes int64) { return b.clean.list() }

// HookCounts returns how many cleanups did not run TEND_ON_LOG_CLEANUP
// (its queue was full, or tend was stopping), and how many runs failed or
// exited non-zero.
func (b *Budget) HookCounts() (skipped, failed int64) {
	return b.clean.skipped.Load(), b.clean.failed.Load()
}
