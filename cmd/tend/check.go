package main

import (
	"fmt"
	"io"
	"os"

	"tend/admin"
	"tend/config"
	"tend/resources"
)

// runCheck validates the configuration and prints the effective values.
func runCheck(args []string, stdout, stderr io.Writer) int {
	asJSON := false
	for _, a := range args {
		switch a {
		case "--json":
			asJSON = true
		default:
			fmt.Fprintf(stderr, "tend check: unknown argument %q (expected --json)\n", a)
			return exitBadInput
		}
	}
	cfg, err := config.Load(config.Options{Env: os.Environ()})
	if err != nil {
		reportConfigError(stderr, err)
		return exitBadInput
	}
	// config looks at the path only; whether a tend answers there takes
	// a connection.
	if err := admin.CheckSocket(cfg.Admin.Socket); err != nil {
		reportConfigError(stderr, socketError(cfg.Admin.Socket, err))
		return exitBadInput
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "tend: warning: %s\n", w)
	}
	if asJSON {
		if err := writeJSON(stdout, effective(cfg)); err != nil {
			fmt.Fprintf(stderr, "tend check: %v\n", err)
			return exitFailure
		}
		return exitOK
	}
	eff := effective(cfg)
	fmt.Fprintln(stdout, "# settings")
	for _, s := range eff.Settings {
		fmt.Fprintf(stdout, "%s=%s\n", s.Name, s.Value)
	}
	fmt.Fprintln(stdout, "\n# memory")
	for _, line := range eff.Memory {
		fmt.Fprintln(stdout, line)
	}
	for _, p := range eff.Programs {
		fmt.Fprintf(stdout, "\n# program %s (%s)\n", p.Name, p.Source)
		for _, k := range p.Keys {
			fmt.Fprintf(stdout, "%s=%s\n", k.Name, k.Value)
		}
	}
	return exitOK
}

// socketError reports a control socket that tend cannot take as invalid
// input: TEND_SOCKET names a path that is not tend's to use.
func socketError(path string, err error) error {
	return config.Errors{{Where: config.Prefix + "SOCKET", Value: path, Problem: err.Error(),
		Expected: "a path no running tend answers on, holding nothing but a stale socket"}}
}

// reportConfigError prints every configuration error, one per line.
func reportConfigError(w io.Writer, err error) {
	if es, ok := err.(config.Errors); ok {
		fmt.Fprintf(w, "tend: invalid configuration (%d problem(s)); nothing was started:\n", len(es))
		for _, e := range es {
			fmt.Fprintf(w, "  %s\n", e)
		}
		return
	}
	fmt.Fprintf(w, "tend: invalid configuration; nothing was started:\n  %s\n", err)
}

// namedValue is one effective setting or key.
type namedValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// effectiveProgram is one program's effective keys.
type effectiveProgram struct {
	Name   string       `json:"name"`
	Source string       `json:"source"`
	Keys   []namedValue `json:"keys"`
}

// effectiveConfig is what tend check prints.
type effectiveConfig struct {
	Settings []namedValue       `json:"settings"`
	Programs []effectiveProgram `json:"programs"`
	Warnings []string           `json:"warnings,omitempty"`
	// Memory says what the memory watch does in this cgroup.
	Memory []string `json:"memory"`
}

func effective(cfg *config.Config) effectiveConfig {
	var eff effectiveConfig
	for _, s := range config.Settings() {
		eff.Settings = append(eff.Settings, namedValue{s.Var(), s.Value(cfg)})
	}
	progs := append([]config.Program{}, cfg.Programs...)
	progs = append(progs, cfg.Main)
	for _, p := range progs {
		ep := effectiveProgram{Name: p.Name, Source: p.Source}
		for _, k := range config.ProgramKeys() {
			ep.Keys = append(ep.Keys, namedValue{k.Name, k.Value(&p)})
		}
		eff.Programs = append(eff.Programs, ep)
	}
	eff.Warnings = cfg.Warnings
	eff.Memory = memoryPlan(cfg)
	return eff
}

// memoryPlan says, in a line each, when the memory watch will warn in the
// cgroup tend runs in (never without a memory limit) and whether it can
// name OOM kills.
func memoryPlan(cfg *config.Config) []string {
	cg := resources.FindCgroup(cfg.Memory.CgroupRoot)
	limits := cg.Limits()
	warn, _ := resources.MemoryWarnPlan(limits, cfg.Memory.Warn)
	oom := "OOM kills are named, from the " + limits.Source + " memory controller"
	if _, err := cg.ReadMemory(); err != nil {
		oom = "OOM kills cannot be named: " + err.Error()
	}
	return []string{warn, oom}
}
