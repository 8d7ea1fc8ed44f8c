package admin

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"tend/logship"
	"tend/logship/fluent"
	"tend/resources"
	"tend/supervisor"
)

// tend_program_state is an enum the Prometheus way: one series per state,
// 1 for the current one and 0 for the others, so a query such as
// tend_program_state{state="FATAL"} == 1 works and a state change moves a
// series from 1 to 0 rather than making one disappear.
func TestProgramStateHasOneSeriesPerState(t *testing.T) {
	st := supervisor.Status{Programs: []supervisor.ProgramStatus{{Name: "agent", State: supervisor.Backoff}}}
	var out bytes.Buffer
	writeMetrics(&out, StatusMetrics(st))
	body := out.String()
	for _, s := range []supervisor.State{supervisor.Stopped, supervisor.Starting, supervisor.Running,
		supervisor.Backoff, supervisor.Stopping, supervisor.Exited, supervisor.Fatal} {
		want := `tend_program_state{program="agent",state="` + string(s) + `"} 0`
		if s == supervisor.Backoff {
			want = want[:len(want)-1] + "1"
		}
		if !strings.Contains(body, want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	if n := strings.Count(body, "tend_program_state{"); n != 7 {
		t.Errorf("%d tend_program_state series, want 7 (one per state)", n)
	}
	if n := strings.Count(body, "# TYPE tend_program_state gauge"); n != 1 {
		t.Errorf("%d TYPE lines for tend_program_state", n)
	}
}

// The Fluentd sink's counters reach /metrics from its part of the log
// status, as `tend status --json` carries it.
func TestFluentCountersAreExported(t *testing.T) {
	part, err := json.Marshal(map[string]any{"disk_used": 5, "fluent": &fluent.Status{
		Addr: "127.0.0.1:24224", Connected: true, Sent: 42, Acked: 40, Buffered: 3, BufferedBytes: 300,
		SpooledChunks: 2, SpooledRecords: 20, SpooledBytes: 2000, Retries: 2,
		Dropped: logship.Drops{Lines: 12, Bytes: 120},
		DroppedBy: fluent.DropCauses{BufferFull: logship.Drops{Lines: 7}, SpoolFull: logship.Drops{Lines: 1},
			DiskLimits: logship.Drops{Lines: 3}, Stop: logship.Drops{Lines: 1}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var lg logship.Status
	if err := json.Unmarshal(part, &lg); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	writeMetrics(&out, StatusMetrics(supervisor.Status{Logs: &lg}))
	for _, want := range []string{"tend_fluent_connected 1\n", "tend_fluent_sent_records_total 42\n", "tend_fluent_acked_records_total 40\n",
		"tend_fluent_buffered_records 3\n", "tend_fluent_buffered_bytes 300\n", "tend_fluent_spooled_chunks 2\n",
		"tend_fluent_spooled_records 20\n", "tend_fluent_spooled_bytes 2000\n", "tend_fluent_retries_total 2\n",
		`tend_fluent_dropped_records_total{cause="buffer_full"} 7` + "\n", `tend_fluent_dropped_records_total{cause="spool_full"} 1` + "\n",
		`tend_fluent_dropped_records_total{cause="disk_limits"} 3` + "\n", `tend_fluent_dropped_records_total{cause="stop"} 1` + "\n",
		"tend_log_disk_used_bytes 5\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
}

// The memory watch's figures and each program's OOM kills reach /metrics;
// a program never killed has its series at 0, so that rate() works.
func TestMemoryAndOOMKillsAreExported(t *testing.T) {
	st := supervisor.Status{
		Memory: &resources.Memory{UsageBytes: 70 << 20, WorkingSetBytes: 60 << 20, LimitBytes: 64 << 20},
		Programs: []supervisor.ProgramStatus{
			{Name: "hog", State: supervisor.Running, OOMKills: 2},
			{Name: "main", State: supervisor.Running},
		},
	}
	var out bytes.Buffer
	writeMetrics(&out, StatusMetrics(st))
	for _, want := range []string{"tend_memory_usage_bytes 7.340032e+07\n", "tend_memory_working_set_bytes 6.291456e+07\n",
		"tend_memory_limit_bytes 6.7108864e+07\n", `tend_oom_kills_total{program="hog"} 2` + "\n", `tend_oom_kills_total{program="main"} 0` + "\n",
		"# TYPE tend_oom_kills_total counter\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	writeMetrics(&out, StatusMetrics(supervisor.Status{}))
	if strings.Contains(out.String(), "tend_memory_") {
		t.Errorf("memory series without a memory watch:\n%s", out.String())
	}
}
