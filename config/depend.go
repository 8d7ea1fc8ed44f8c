package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Dependency kinds.
const (
	DependTCP  = "tcp"
	DependHTTP = "http"
	DependExec = "exec"
)

// Dependency is an outside service that must answer before a program
// starts (TEND_WAIT_FOR, a program's wait_for): a TCP port that accepts,
// a URL that answers 2xx, or a command that exits 0.
type Dependency struct {
	// Spec is the dependency as written ("tcp:db:5432"); it names the
	// dependency in progress reports and errors.
	Spec string
	// Kind is DependTCP, DependHTTP or DependExec.
	Kind string
	// Address is HOST:PORT for DependTCP and the URL for DependHTTP.
	Address string
	// Command is the argv for DependExec.
	Command []string
}

// formDepends is the expected form of a list of dependencies, for errors.
const formDepends = "a comma-separated list of tcp:HOST:PORT, http://URL, https://URL or exec:COMMAND, such as tcp:db:5432,http://config:8888/health"

// ParseDependencies reads a comma-separated list of dependencies:
// tcp:HOST:PORT, http://... or https://..., and exec:COMMAND. A comma
// inside a URL or a command stays part of it unless what follows it
// starts another dependency. An empty list is none. An error quotes the
// entry at fault; the caller adds the variable or file:line and the form.
func ParseDependencies(s string) ([]Dependency, error) {
	var deps []Dependency
	for i, item := range splitDependencies(s) {
		if item == "" {
			return nil, fmt.Errorf("entry %d of the comma-separated list is empty", i+1)
		}
		d, err := ParseDependency(item)
		if err != nil {
			return nil, err
		}
		deps = append(deps, d)
	}
	return deps, nil
}

// ParseDependency reads one dependency; see ParseDependencies.
func ParseDependency(s string) (Dependency, error) {
	s = strings.TrimSpace(s)
	d := Dependency{Spec: s}
	switch {
	case strings.HasPrefix(s, "tcp:"):
		addr := strings.TrimPrefix(s, "tcp:")
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return d, fmt.Errorf("%q: no HOST:PORT after the tcp: prefix", s)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return d, fmt.Errorf("%q: %q is not a TCP port 1-65535", s, port)
		}
		d.Kind, d.Address = DependTCP, addr
	case strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://"):
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return d, fmt.Errorf("%q: not a valid URL", s)
		}
		d.Kind, d.Address = DependHTTP, s
	case strings.HasPrefix(s, "exec:"):
		argv, err := SplitCommand(strings.TrimPrefix(s, "exec:"))
		if err != nil {
			return d, fmt.Errorf("%q: %v", s, err)
		}
		if len(argv) == 0 {
			return d, fmt.Errorf("%q: no command after the exec: prefix", s)
		}
		d.Kind, d.Command = DependExec, argv
	default:
		return d, fmt.Errorf("%q: unknown kind of dependency", s)
	}
	return d, nil
}

// JoinDependencies renders deps as a list that ParseDependencies reads
// back.
func JoinDependencies(deps []Dependency) string {
	specs := make([]string, len(deps))
	for i, d := range deps {
		specs[i] = d.Spec
	}
	return strings.Join(specs, ",")
}

// dependPrefixes start a dependency; a comma followed by one of them
// (after spaces) ends the entry before it.
var dependPrefixes = []string{"tcp:", "http://", "https://", "exec:"}

// splitDependencies cuts s at its commas, except commas inside a URL or a
// command that are not followed by the start of another dependency.
func splitDependencies(s string) []string {
	if strings.TrimSpace(s) == "" {
		return nil
	}
	var items []string
	rest := s
	for {
		item := strings.TrimSpace(rest)
		greedy := strings.HasPrefix(item, "exec:") || strings.HasPrefix(item, "http://") || strings.HasPrefix(item, "https://")
		end := -1
		for i := 0; i < len(rest); i++ {
			if rest[i] != ',' {
				continue
			}
			if !greedy || startsDependency(rest[i+1:]) {
				end = i
				break
			}
		}
		if end < 0 {
			return append(items, strings.TrimSpace(rest))
		}
		items = append(items, strings.TrimSpace(rest[:end]))
		rest = rest[end+1:]
	}
}

func startsDependency(s string) bool {
	s = strings.TrimSpace(s)
	for _, p := range dependPrefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

func setDependencies(dst *[]Dependency, v string) error {
	deps, err := ParseDependencies(v)
	if err != nil {
		return err
	}
	*dst = deps
	return nil
}
