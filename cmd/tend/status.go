package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"tend/config"
	"tend/logship"
	"tend/logship/fluent"
	"tend/resources"
	"tend/supervisor"
	"tend/watch"
)

// The text forms of tend status, tend health and tend profile.

// notReadyReason says why tend health answers not ready.
func notReadyReason(st *supervisor.Status) string {
	if st == nil {
		return "no status"
	}
	if st.Stopping {
		return "stop under way"
	}
	var why []string
	for _, p := range st.Programs {
		if !p.Ready {
			r := p.Name + " " + string(p.State)
			if p.Reason != "" {
				r += " (" + p.Reason + ")"
			}
			why = append(why, r)
		}
	}
	return strings.Join(why, "; ")
}

// printStatus renders the status as a table, then why each program is in
// its state and the last lines of any program that ended.
func printStatus(w io.Writer, st *supervisor.Status) {
	now := time.Now()
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tSINCE\tREADY\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tCPU\tRSS")
	for _, p := range st.Programs {
		since := "-"
		if !p.Since.IsZero() {
			since = now.Sub(p.Since).Round(time.Second).String()
		}
		pid, uptime, cpu, rss := "-", "-", "-", "-"
		if p.Pid != 0 {
			pid = fmt.Sprint(p.Pid)
			uptime = (time.Duration(p.Uptime) * time.Second).String()
		}
		if u := p.Usage; u != nil {
			cpu = fmt.Sprintf("%.2fs", u.CPUSeconds)
			rss = config.FormatSize(u.RSSBytes / (1 << 10) * (1 << 10))
		}
		last := "-"
		if e := p.LastExit; e != nil {
			last = fmt.Sprintf("%d", e.Code)
			if e.Signal != "" {
				last += " (" + e.Signal + ")"
			}
			if e.Reason != "" {
				last += " " + e.Reason
			}
			last += fmt.Sprintf(", %s ago", time.Since(e.At).Round(time.Second))
		}
		ready := "no"
		if p.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.State, since, ready, pid, uptime, p.Restarts, last, cpu, rss)
	}
	tw.Flush()
	printLogStatus(w, st.Logs)
	if st.Holding {
		fmt.Fprintln(w, "\nholding: the main program exited; the container stays up for inspection (readiness fails)")
	}
	for _, p := range st.Programs {
		if p.Reason != "" {
			fmt.Fprintf(w, "\n%s: %s\n", p.Name, p.Reason)
		}
		if len(p.LastLines) > 0 {
			fmt.Fprintf(w, "last lines of %s:\n", p.Name)
			for _, l := range p.LastLines {
				fmt.Fprintf(w, "  | %s\n", l)
			}
		}
	}
}

// printProfile renders the service profile and its recommendation.
func printProfile(w io.Writer, p *resources.Profile) {
	fmt.Fprintf(w, "observed for %s; limits: ", p.Observed.Round(time.Second))
	if p.Limits.CPUs > 0 {
		fmt.Fprintf(w, "%.2f CPUs", p.Limits.CPUs)
	} else {
		fmt.Fprintf(w, "no CPU limit (%d host CPUs)", p.Limits.HostCPUs)
	}
	if p.Limits.MemoryBytes > 0 {
		fmt.Fprintf(w, ", memory %s\n", config.FormatSize(p.Limits.MemoryBytes))
	} else {
		fmt.Fprintln(w, ", no memory limit")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nPROGRAM\tSAMPLES\tCPU AVG\tCPU P95\tCPU MAX\tRSS PEAK\tREAD/S\tWRITE/S")
	for _, pp := range p.Programs {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.2f\t%.2f\t%s\t%s\t%s\n", pp.Name, pp.Samples, pp.CPUAvg, pp.CPUP95, pp.CPUMax,
			config.FormatSize(pp.RSSPeak/(1<<10)*(1<<10)), config.FormatSize(int64(pp.ReadRate)/(1<<10)*(1<<10)), config.FormatSize(int64(pp.WriteRate)/(1<<10)*(1<<10)))
	}
	tw.Flush()
	r := p.Recommendation
	fmt.Fprintf(w, "\nprofile: %s (%s)\n", p.Kind, p.Why)
	fmt.Fprintf(w, "\nresources:\n  requests:\n    cpu: %s\n    memory: %s\n  limits:\n    cpu: %s\n    memory: %s\n", r.CPURequest, r.MemoryRequest, r.CPULimit, r.MemoryLimit)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "# %s\n", n)
	}
}

// printLogStatus renders the disk budget, the watched files, the recent
// cleanups and the Fluentd sink for `tend status`.
func printLogStatus(w io.Writer, st *logship.Status) {
	if st == nil {
		return
	}
	var parts struct {
		watch.Status
		Fluent *fluent.Status `json:"fluent"`
	}
	if err := st.Decode(&parts); err != nil {
		fmt.Fprintf(w, "\nlogs: %v\n", err)
	}
	if st.DiskBudget > 0 {
		fmt.Fprintf(w, "\nlog disk: %s of %s\n", config.FormatSize(st.DiskUsed), config.FormatSize(st.DiskBudget))
	}
	if len(parts.Watched) > 0 {
		fmt.Fprintln(w, "\nwatched files:")
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  PROGRAM\tSIZE\tOPEN\tTAILED\tFILE")
		for _, f := range parts.Watched {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", f.Program, config.FormatSize(f.Bytes), yesNo(f.Open), yesNo(f.Tailed), f.Path)
		}
		tw.Flush()
		if parts.WatchedMore > 0 {
			fmt.Fprintf(w, "  and %d more\n", parts.WatchedMore)
		}
	}
	if st.CleanupsTotal > 0 {
		fmt.Fprintf(w, "\nlog cleanups: %d, %s freed", st.CleanupsTotal, config.FormatSize(st.CleanedBytes))
		if st.HooksSkipped > 0 || st.HooksFailed > 0 {
			fmt.Fprintf(w, " (hook skipped %d, failed %d)", st.HooksSkipped, st.HooksFailed)
		}
		fmt.Fprintln(w)
		for _, c := range st.Cleanups {
			fmt.Fprintf(w, "  %s %s %s %s (%s)\n", c.Time.Format(time.TimeOnly), c.Action, c.File, config.FormatSize(c.Bytes), c.Reason)
		}
	}
	if f := parts.Fluent; f != nil {
		state := "connected"
		if !f.Connected {
			state = "not connected"
		}
		fmt.Fprintf(w, "\nfluentd %s: %s, %d sent, %d buffered (%s), %d spooled (%s in %d chunks), %d dropped, %d retries\n",
			f.Addr, state, f.Sent, f.Buffered, config.FormatSize(f.BufferedBytes), f.SpooledRecords, config.FormatSize(f.SpooledBytes),
			f.SpooledChunks, f.Dropped.Lines, f.Retries)
		if f.Dropped.Lines > 0 {
			d := f.DroppedBy
			fmt.Fprintf(w, "  dropped: %d buffer full, %d spool full, %d disk limits, %d at the stop\n",
				d.BufferFull.Lines, d.SpoolFull.Lines, d.DiskLimits.Lines, d.Stop.Lines)
		}
		if f.LastError != "" && !f.Connected {
			fmt.Fprintf(w, "  last error: %s\n", f.LastError)
		}
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
