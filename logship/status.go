package logship

import (
	"encoding/json"
	"fmt"

	"go.uber.org/zap"

	"tend/budget"
)

// Status is the state of the log path beyond per-program counters, for
// `tend status` and /metrics: the disk budget and its cleanups, and what
// each input and sink reports (Reporter), such as the watched files and
// the Fluentd sink. In JSON it is one object: the budget's fields and
// every part's fields side by side.
type Status struct {
	// DiskUsed is the bytes of every file under the budget: tend's own
	// and the watched ones.
	DiskUsed int64 `json:"disk_used"`
	// DiskBudget is TEND_LOG_DISK_BUDGET (0: no cap).
	DiskBudget int64 `json:"disk_budget,omitempty"`
	// Cleanups are the most recent deletions and truncations made for the
	// disk limits, oldest first (at most 20).
	Cleanups []budget.Cleanup `json:"cleanups,omitempty"`
	// CleanupsTotal and CleanedBytes count every cleanup since start.
	CleanupsTotal int64 `json:"cleanups_total"`
	CleanedBytes  int64 `json:"cleaned_bytes"`
	// HooksSkipped counts cleanups whose TEND_ON_LOG_CLEANUP did not run:
	// the hook's queue was full, or tend was stopping. HooksFailed counts
	// runs that failed or exited non-zero.
	HooksSkipped int64 `json:"cleanup_hooks_skipped,omitempty"`
	HooksFailed  int64 `json:"cleanup_hooks_failed,omitempty"`

	// parts are the JSON objects the inputs and sinks reported; after
	// decoding, the whole object.
	parts []json.RawMessage
}

// Decode decodes the parts into v, a pointer to a struct whose fields
// name the parts it reads, such as
//
//	var f struct{ Fluent *fluent.Status `json:"fluent"` }
//	st.Decode(&f)
func (s *Status) Decode(v any) error {
	for _, p := range s.parts {
		if err := json.Unmarshal(p, v); err != nil {
			return fmt.Errorf("logship: status: %w", err)
		}
	}
	return nil
}

// fields are Status's own fields, without its methods.
type fields Status

// MarshalJSON writes the budget's fields and every part's in one object.
func (s Status) MarshalJSON() ([]byte, error) {
	b, err := json.Marshal(fields(s))
	if err != nil {
		return nil, err
	}
	if len(s.parts) == 0 {
		return b, nil
	}
	all := map[string]json.RawMessage{}
	for _, p := range append([]json.RawMessage{b}, s.parts...) {
		if err := json.Unmarshal(p, &all); err != nil {
			return nil, fmt.Errorf("logship: status part is not an object: %w", err)
		}
	}
	return json.Marshal(all)
}

// UnmarshalJSON reads the budget's fields and keeps the object for Decode.
func (s *Status) UnmarshalJSON(data []byte) error {
	if err := json.Unmarshal(data, (*fields)(s)); err != nil {
		return err
	}
	s.parts = []json.RawMessage{append(json.RawMessage(nil), data...)}
	return nil
}

// Status returns the state of the log path for `tend status`.
func (pl *Pipeline) Status() *Status {
	st := &Status{}
	if b := pl.opts.Budget; b != nil {
		st.DiskUsed, st.DiskBudget = b.Used(), b.Limit()
		st.Cleanups, st.CleanupsTotal, st.CleanedBytes = b.Cleanups()
		st.HooksSkipped, st.HooksFailed = b.HookCounts()
	}
	pl.mu.Lock()
	parts := make([]Reporter, 0, len(pl.inputs)+len(pl.sinks))
	for _, in := range pl.inputs {
		parts = append(parts, in)
	}
	pl.mu.Unlock()
	for _, s := range pl.sinks {
		parts = append(parts, s)
	}
	for _, r := range parts {
		v := r.Report()
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			pl.log.Error("log status part", zap.Error(err))
			continue
		}
		st.parts = append(st.parts, b)
	}
	return st
}
