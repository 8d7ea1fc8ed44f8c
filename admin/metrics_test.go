package admin

import (
	"bytes"
	"strings"
	"testing"

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
