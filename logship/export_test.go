package logship

// Running returns how many captures the pipeline tracks.
func (pl *Pipeline) Running() int {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return len(pl.caps)
}
