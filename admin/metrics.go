package admin

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"tend/logship"
	"tend/logship/fluent"
	"tend/supervisor"
)

// programStates are the states tend_program_state has one series for,
// each 1 for the program's current state and 0 for the others, as
// Prometheus exports an enum. A state not listed here still gets its
// series while it is current.
func programStates() []supervisor.State {
	return []supervisor.State{
		supervisor.Stopped, supervisor.Starting, supervisor.Running, supervisor.Backoff,
		supervisor.Stopping, supervisor.Exited, supervisor.Fatal,
	}
}

// Metric is one Prometheus sample.
type Metric struct {
	// Name is the metric name, such as "tend_program_restarts_total".
	Name string
	// Help is the metric's help text.
	Help string
	// Type is "gauge" or "counter".
	Type string
	// Labels are label names and values.
	Labels map[string]string
	// Value is the sample.
	Value float64
}

// writeMetrics renders metrics in the Prometheus text exposition format,
// grouping samples of the same name under one HELP and TYPE.
func writeMetrics(w io.Writer, ms []Metric) {
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Name < ms[j].Name })
	last := ""
	for _, m := range ms {
		if m.Name != last {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", m.Name, m.Help, m.Name, m.Type)
			last = m.Name
		}
		w.Write([]byte(m.Name))
		if len(m.Labels) > 0 {
			keys := make([]string, 0, len(m.Labels))
			for k := range m.Labels {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, len(keys))
			for i, k := range keys {
				parts[i] = k + `="` + escapeLabel(m.Labels[k]) + `"`
			}
			fmt.Fprintf(w, "{%s}", strings.Join(parts, ","))
		}
		fmt.Fprintf(w, " %s\n", strconv.FormatFloat(m.Value, 'g', -1, 64))
	}
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// StatusMetrics turns a supervisor status into Prometheus samples.
func StatusMetrics(st supervisor.Status) []Metric {
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	ms := []Metric{
		{Name: "tend_ready", Help: "1 when tend reports ready (what /readyz answers).", Type: "gauge", Value: b2f(st.Ready)},
		{Name: "tend_stopping", Help: "1 once the stop sequence has begun.", Type: "gauge", Value: b2f(st.Stopping)},
		{Name: "tend_orphans_reaped_total", Help: "Exit statuses of processes tend did not start, reaped as PID 1 or subreaper.", Type: "counter", Value: float64(st.OrphansReaped)},
	}
	if m := st.Memory; m != nil {
		ms = append(ms,
			Metric{Name: "tend_memory_usage_bytes", Help: "Memory charged to the container's cgroup, page cache included.", Type: "gauge", Value: float64(m.UsageBytes)},
			Metric{Name: "tend_memory_working_set_bytes", Help: "The container's memory usage less the inactive file cache: what its memory limit is measured against.", Type: "gauge", Value: float64(m.WorkingSetBytes)},
			Metric{Name: "tend_memory_limit_bytes", Help: "The container's memory limit (0: none).", Type: "gauge", Value: float64(m.LimitBytes)},
		)
	}
	if lg := st.Logs; lg != nil {
		ms = append(ms,
			Metric{Name: "tend_log_disk_used_bytes", Help: "Bytes of every file under the disk budget, tend's and watched ones.", Type: "gauge", Value: float64(lg.DiskUsed)},
			Metric{Name: "tend_log_disk_budget_bytes", Help: "TEND_LOG_DISK_BUDGET (0: no cap).", Type: "gauge", Value: float64(lg.DiskBudget)},
			Metric{Name: "tend_log_cleanups_total", Help: "Deletions and truncations made for the disk limits.", Type: "counter", Value: float64(lg.CleanupsTotal)},
			Metric{Name: "tend_log_cleaned_bytes_total", Help: "Bytes freed by cleanups.", Type: "counter", Value: float64(lg.CleanedBytes)},
		)
		var parts struct {
			Fluent *fluent.Status `json:"fluent"`
		}
		lg.Decode(&parts)
		if f := parts.Fluent; f != nil {
			ms = append(ms,
				Metric{Name: "tend_fluent_connected", Help: "1 while the Fluentd receiver takes records.", Type: "gauge", Value: b2f(f.Connected)},
				Metric{Name: "tend_fluent_sent_records_total", Help: "Records the Fluentd receiver took (acknowledged, with ack on).", Type: "counter", Value: float64(f.Sent)},
				Metric{Name: "tend_fluent_acked_records_total", Help: "Records the Fluentd receiver acknowledged (ack on).", Type: "counter", Value: float64(f.Acked)},
				Metric{Name: "tend_fluent_buffered_records", Help: "Records in memory on their way to Fluentd.", Type: "gauge", Value: float64(f.Buffered)},
				Metric{Name: "tend_fluent_buffered_bytes", Help: "Bytes of the records in memory on their way to Fluentd (TEND_FLUENT_BUFFER bounds them).", Type: "gauge", Value: float64(f.BufferedBytes)},
				Metric{Name: "tend_fluent_spooled_chunks", Help: "Chunk files in the Fluentd spool.", Type: "gauge", Value: float64(f.SpooledChunks)},
				Metric{Name: "tend_fluent_spooled_records", Help: "Records in the Fluentd spool.", Type: "gauge", Value: float64(f.SpooledRecords)},
				Metric{Name: "tend_fluent_spooled_bytes", Help: "Bytes of the Fluentd spool's files.", Type: "gauge", Value: float64(f.SpooledBytes)},
				Metric{Name: "tend_fluent_retries_total", Help: "Failures after which the unsettled chunks were sent again: refused or lost connections, writes or acks not in time.", Type: "counter", Value: float64(f.Retries)},
			)
			for _, c := range []struct {
				cause string
				d     logship.Drops
			}{{"buffer_full", f.DroppedBy.BufferFull}, {"spool_full", f.DroppedBy.SpoolFull}, {"disk_limits", f.DroppedBy.DiskLimits}, {"stop", f.DroppedBy.Stop}} {
				ms = append(ms, Metric{Name: "tend_fluent_dropped_records_total", Help: "Records dropped on their way to Fluentd, by cause.", Type: "counter",
					Labels: map[string]string{"cause": c.cause}, Value: float64(c.d.Lines)})
			}
		}
	}
	for _, p := range st.Programs {
		l := map[string]string{"program": p.Name}
		ms = append(ms,
			Metric{Name: "tend_program_up", Help: "1 while the program's process runs.", Type: "gauge", Labels: l, Value: b2f(p.Pid != 0)},
			Metric{Name: "tend_program_ready", Help: "1 while the program is ready.", Type: "gauge", Labels: l, Value: b2f(p.Ready)},
			Metric{Name: "tend_program_restarts_total", Help: "Restarts of the program.", Type: "counter", Labels: l, Value: float64(p.Restarts)},
			Metric{Name: "tend_oom_kills_total", Help: "Processes of the program (its own, or a child of it) the kernel's OOM killer took.", Type: "counter", Labels: l, Value: float64(p.OOMKills)},
		)
		states := programStates()
		if !slices.Contains(states, p.State) {
			states = append(states, p.State)
		}
		for _, s := range states {
			ms = append(ms, Metric{Name: "tend_program_state", Help: "The program's state: one series per state, 1 for the current one, 0 for the others.", Type: "gauge",
				Labels: map[string]string{"program": p.Name, "state": string(s)}, Value: b2f(s == p.State)})
		}
		if p.LastExit != nil {
			ms = append(ms, Metric{Name: "tend_program_last_exit_code", Help: "Exit code of the program's last exit.", Type: "gauge", Labels: l, Value: float64(p.LastExit.Code)})
		}
		if lg := p.Logs; lg != nil {
			drop := func(reason string, d logship.Drops) Metric {
				return Metric{Name: "tend_log_dropped_lines_total", Help: "Log lines dropped, by reason: rate limit, disk limits, full buffer, Fluentd.", Type: "counter",
					Labels: map[string]string{"program": p.Name, "reason": reason}, Value: float64(d.Lines)}
			}
			ms = append(ms,
				Metric{Name: "tend_log_lines_total", Help: "Log lines read from the program.", Type: "counter", Labels: l, Value: float64(lg.Lines)},
				Metric{Name: "tend_log_bytes_total", Help: "Log bytes read from the program.", Type: "counter", Labels: l, Value: float64(lg.Bytes)},
				Metric{Name: "tend_log_file_bytes", Help: "Bytes of the program's log files on disk.", Type: "gauge", Labels: l, Value: float64(lg.FileBytes)},
				drop("rate", lg.RateDropped), drop("disk", lg.DiskDropped), drop("buffer", lg.BufferDropped), drop("fluent", lg.FluentDropped),
			)
		}
		if u := p.Usage; u != nil {
			ms = append(ms,
				Metric{Name: "tend_program_cpu_seconds_total", Help: "CPU time of the program's process.", Type: "counter", Labels: l, Value: u.CPUSeconds},
				Metric{Name: "tend_program_resident_memory_bytes", Help: "Resident memory of the program's process.", Type: "gauge", Labels: l, Value: float64(u.RSSBytes)},
				Metric{Name: "tend_program_read_bytes_total", Help: "Storage bytes read by the program's process.", Type: "counter", Labels: l, Value: float64(u.ReadBytes)},
				Metric{Name: "tend_program_write_bytes_total", Help: "Storage bytes written by the program's process.", Type: "counter", Labels: l, Value: float64(u.WriteBytes)},
				Metric{Name: "tend_program_open_files", Help: "Open file descriptors of the program's process.", Type: "gauge", Labels: l, Value: float64(u.OpenFiles)},
			)
		}
	}
	return ms
}
