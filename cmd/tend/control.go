package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"tend/admin"
	"tend/config"
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

// writeJSON prints v as indented JSON, for people and for jq alike.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
