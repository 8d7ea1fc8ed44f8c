package admin

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"tend/supervisor"
)

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
	for _, p := range st.Programs {
		l := map[string]string{"program": p.Name}
		ms = append(ms,
			Metric{Name: "tend_program_up", Help: "1 while the program's process runs.", Type: "gauge", Labels: l, Value: b2f(p.Pid != 0)},
			Metric{Name: "tend_program_ready", Help: "1 while the program is ready.", Type: "gauge", Labels: l, Value: b2f(p.Ready)},
			Metric{Name: "tend_program_restarts_total", Help: "Restarts of the program.", Type: "counter", Labels: l, Value: float64(p.Restarts)},
			Metric{Name: "tend_program_state", Help: "The program's state (1 for the current one).", Type: "gauge",
				Labels: map[string]string{"program": p.Name, "state": string(p.State)}, Value: 1},
		)
		if p.LastExit != nil {
			ms = append(ms, Metric{Name: "tend_program_last_exit_code", Help: "Exit code of the program's last exit.", Type: "gauge", Labels: l, Value: float64(p.LastExit.Code)})
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
