package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"tend/admin"
	"tend/config"
	"tend/resources"
	"tend/supervisor"
)

// socketPath is TEND_SOCKET, or its default.
func socketPath() string {
	if v := os.Getenv(config.Prefix + "SOCKET"); v != "" {
		return v
	}
	return config.DefaultSocket
}

// runControl sends one control command to the running tend.
func runControl(cmd string, args []string, stdout, stderr io.Writer) int {
	flags, rest := splitFlags(args)
	req := admin.Request{Cmd: cmd}
	bad := func(form string) int {
		fmt.Fprintf(stderr, "tend %s: expected %s, got %q\n", cmd, form, strings.Join(args, " "))
		return exitBadInput
	}
	asJSON := flags["--json"]
	switch cmd {
	case "status", "profile":
		if len(rest) != 0 || !only(flags, "--json") {
			return bad("tend " + cmd + " [--json]")
		}
	case "health":
		if len(rest) != 0 || !only(flags) {
			return bad("tend health")
		}
	case "drain":
		if len(rest) != 0 || !only(flags, "--wait") {
			return bad("tend drain [--wait]")
		}
		req.Wait = flags["--wait"]
	case "start", "stop", "restart":
		if len(rest) != 1 || !only(flags) {
			return bad("tend " + cmd + " NAME")
		}
		req.Name = rest[0]
	case "signal":
		if len(rest) != 2 || !only(flags) {
			return bad("tend signal NAME SIG")
		}
		if _, err := config.ParseSignal(rest[1]); err != nil {
			fmt.Fprintf(stderr, "tend signal: %q: %v; expected a signal name such as HUP, USR1, QUIT, or a number from 1 to 64\n", rest[1], err)
			return exitBadInput
		}
		req.Name, req.Signal = rest[0], rest[1]
	}
	timeout := 3 * time.Minute
	if cmd == "health" {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	resp, err := admin.Call(ctx, socketPath(), req)
	if err != nil {
		if cmd == "drain" && req.Wait && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
			// tend exited as the drain finished, before it could answer.
			return exitOK
		}
		fmt.Fprintf(stderr, "tend %s: %v\n", cmd, err)
		return exitFailure
	}
	switch cmd {
	case "status":
		if asJSON {
			writeJSON(stdout, resp.Status)
		} else {
			printStatus(stdout, resp.Status)
		}
		return exitOK
	case "profile":
		if resp.Profile == nil {
			fmt.Fprintf(stderr, "tend profile: %s\n", resp.Error)
			return exitFailure
		}
		if asJSON {
			writeJSON(stdout, resp.Profile)
		} else {
			printProfile(stdout, resp.Profile)
		}
		return exitOK
	case "health":
		if resp.OK {
			fmt.Fprintln(stdout, "ready")
			return exitOK
		}
		fmt.Fprintln(stdout, "not ready: "+notReadyReason(resp.Status))
		return exitFailure
	}
	if !resp.OK {
		fmt.Fprintf(stderr, "tend %s: %s\n", cmd, resp.Error)
		return exitFailure
	}
	return exitOK
}

// splitFlags separates --flags from positional arguments.
func splitFlags(args []string) (map[string]bool, []string) {
	flags := map[string]bool{}
	var rest []string
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			flags[a] = true
		} else {
			rest = append(rest, a)
		}
	}
	return flags, rest
}

// only reports whether every flag given is one of allowed.
func only(flags map[string]bool, allowed ...string) bool {
	for f := range flags {
		ok := false
		for _, a := range allowed {
			ok = ok || f == a
		}
		if !ok {
			return false
		}
	}
	return true
}

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

// printStatus renders the status as a table, then the last lines of any
// program that ended.
func printStatus(w io.Writer, st *supervisor.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tREADY\tPID\tUPTIME\tRESTARTS\tLAST EXIT\tCPU\tRSS")
	for _, p := range st.Programs {
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
			last += fmt.Sprintf(", %s ago", time.Since(e.At).Round(time.Second))
		}
		ready := "no"
		if p.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", p.Name, p.State, ready, pid, uptime, p.Restarts, last, cpu, rss)
	}
	tw.Flush()
	printLogStatus(w, st.Logs)
	if st.Holding {
		fmt.Fprintln(w, "\nholding: the main program exited; the container stays up for inspection (readiness fails)")
	}
	for _, p := range st.Programs {
		if p.Reason != "" && (p.State == supervisor.Fatal || p.State == supervisor.Exited) {
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

// writeJSON prints v as indented JSON, for people and for jq alike.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
