package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParseDependencies(t *testing.T, s string) []Dependency {
	t.Helper()
	deps, err := ParseDependencies(s)
	if err != nil {
		t.Fatal(err)
	}
	return deps
}

func TestParseDependenciesReadsEveryKind(t *testing.T) {
	got := mustParseDependencies(t, "tcp:db:5432, http://cfg:8888/health?probe=a,b ,https://[::1]:8443/ready,exec:pg_isready -h db -t 'a,b',tcp:[::1]:6379")
	want := []Dependency{
		{Spec: "tcp:db:5432", Kind: DependTCP, Address: "db:5432"},
		{Spec: "http://cfg:8888/health?probe=a,b", Kind: DependHTTP, Address: "http://cfg:8888/health?probe=a,b"},
		{Spec: "https://[::1]:8443/ready", Kind: DependHTTP, Address: "https://[::1]:8443/ready"},
		{Spec: "exec:pg_isready -h db -t 'a,b'", Kind: DependExec, Command: []string{"pg_isready", "-h", "db", "-t", "a,b"}},
		{Spec: "tcp:[::1]:6379", Kind: DependTCP, Address: "[::1]:6379"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", got, want)
	}
	if deps, err := ParseDependencies("  "); err != nil || deps != nil {
		t.Errorf("an empty list parses to %v, %v", deps, err)
	}
}

func TestParseDependenciesErrorsQuoteTheEntry(t *testing.T) {
	cases := map[string]string{
		"tcp:db":                `"tcp:db": no HOST:PORT after the tcp: prefix`,
		"tcp::5432":             `"tcp::5432": no HOST:PORT`,
		"tcp:db:99999":          `"99999" is not a TCP port`,
		"tcp:db:5432,db:6379":   `"db:6379": unknown kind of dependency`,
		"tcp:a:1,,tcp:b:2":      "entry 2 of the comma-separated list is empty",
		"exec:":                 `"exec:": no command after the exec: prefix`,
		"exec:echo 'unfinished": `"exec:echo 'unfinished": unterminated ' quote`,
		"http://":               `"http://": not a valid URL`,
	}
	for in, want := range cases {
		_, err := ParseDependencies(in)
		if err == nil {
			t.Errorf("%q parses", in)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %q lacks %q", in, err, want)
		}
	}
}

// TEND_WAIT_FOR and wait_for reach the configuration; the main program's
// outside services are TEND_WAIT_FOR's, and TEND_MAIN_WAIT_FOR adds its own.
func TestWaitForSettingsAndKeys(t *testing.T) {
	c := mustLoad(t, map[string]string{"a.conf": "[program:agent]\ncommand = agent\nwait_for = tcp:vault:8200, http://cfg:8888/health\n"},
		"TEND_WAIT_FOR=tcp:db:5432", "TEND_MAIN_WAIT_FOR=exec:pg_isready -h db", "TEND_WAIT_TIMEOUT=90")
	if c.WaitTimeout != 90*time.Second || len(c.WaitFor) != 1 || c.WaitFor[0].Address != "db:5432" {
		t.Errorf("wait timeout %s, wait for %+v", c.WaitTimeout, c.WaitFor)
	}
	if w := c.Main.WaitFor; len(w) != 1 || w[0].Kind != DependExec {
		t.Errorf("main waits for %+v", w)
	}
	if w := program(t, c, "agent").WaitFor; len(w) != 2 || w[1].Spec != "http://cfg:8888/health" {
		t.Errorf("agent waits for %+v", w)
	}
	if d := mustLoad(t, nil); d.WaitTimeout != 60*time.Second || d.WaitFor != nil {
		t.Errorf("defaults: timeout %s, wait for %+v", d.WaitTimeout, d.WaitFor)
	}
}

// A bad dependency names the variable or file:line, the value seen and the
// expected form.
func TestBadWaitForNamesPlaceValueAndForm(t *testing.T) {
	e := only(t, loadErrors(t, nil, "TEND_WAIT_FOR=db:5432"))
	if e.Where != "TEND_WAIT_FOR" || e.Value != "db:5432" || !strings.Contains(e.Problem, "unknown kind") || e.Expected != formDepends {
		t.Errorf("got %+v", e)
	}
	if msg := e.Error(); !strings.Contains(msg, `TEND_WAIT_FOR="db:5432"`) || !strings.Contains(msg, "expected a comma-separated list of tcp:HOST:PORT") {
		t.Errorf("message %q", msg)
	}
	e = only(t, loadErrors(t, map[string]string{"a.conf": "[program:agent]\ncommand = agent\nwait_for = tcp:vault\n"}))
	if !strings.HasSuffix(e.Where, "a.conf:3") || e.Value != "tcp:vault" || e.Expected != formDepends {
		t.Errorf("got %+v", e)
	}
	e = only(t, loadErrors(t, nil, "TEND_WAIT_TIMEOUT=0"))
	if e.Where != "TEND_WAIT_TIMEOUT" || e.Expected != DurationForm {
		t.Errorf("got %+v", e)
	}
}

func TestMemorySettings(t *testing.T) {
	c := mustLoad(t, nil)
	if c.Memory.Warn != 0.9 || c.Memory.OnOOM != nil || c.Memory.OnPressure != nil || c.Memory.CgroupRoot != "/sys/fs/cgroup" {
		t.Errorf("defaults: %+v", c.Memory)
	}
	for in, want := range map[string]float64{"0.8": 0.8, "85%": 0.85, " 100 % ": 1, "0": 0, "0%": 0} {
		if got := mustLoad(t, nil, "TEND_MEMORY_WARN="+in).Memory.Warn; got != want {
			t.Errorf("TEND_MEMORY_WARN=%q reads as %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"90", "1.5", "-0.1", "ninety", "NaN", "%"} {
		e := only(t, loadErrors(t, nil, "TEND_MEMORY_WARN="+in))
		if e.Where != "TEND_MEMORY_WARN" || e.Value != in || e.Expected != formShare {
			t.Errorf("TEND_MEMORY_WARN=%q: %+v", in, e)
		}
	}
	c = mustLoad(t, nil, "TEND_ON_OOM=notify --oom", "TEND_ON_MEMORY_PRESSURE=notify 'memory high'", "TEND_CGROUP_ROOT=/tmp/cg")
	if !reflect.DeepEqual(c.Memory.OnOOM, []string{"notify", "--oom"}) || !reflect.DeepEqual(c.Memory.OnPressure, []string{"notify", "memory high"}) || c.Memory.CgroupRoot != "/tmp/cg" {
		t.Errorf("memory settings: %+v", c.Memory)
	}
	e := only(t, loadErrors(t, nil, "TEND_ON_OOM=notify 'unterminated"))
	if e.Where != "TEND_ON_OOM" || e.Expected != formCommand {
		t.Errorf("got %+v", e)
	}
}

// A list that parses is the list of its entries: joined again with
// commas, the entries parse to the same dependencies.
func FuzzParseDependencies(f *testing.F) {
	for _, s := range []string{
		"tcp:db:5432", "tcp:db:5432, http://cfg:8888/health?probe=a,b ,https://[::1]:8443/ready",
		"exec:pg_isready -h db -t 'a,b',tcp:[::1]:6379", "exec:sh -c \"a, b\"", "tcp:a:1,,tcp:b:2", "db:5432",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		deps, err := ParseDependencies(s)
		if err != nil {
			return
		}
		for _, d := range deps {
			switch d.Kind {
			case DependTCP, DependHTTP:
				if d.Address == "" {
					t.Fatalf("%q: %+v has no address", s, d)
				}
			case DependExec:
				if len(d.Command) == 0 {
					t.Fatalf("%q: %+v has no command", s, d)
				}
			default:
				t.Fatalf("%q: %+v has no kind", s, d)
			}
		}
		again, err := ParseDependencies(JoinDependencies(deps))
		if err != nil || !reflect.DeepEqual(again, deps) {
			t.Fatalf("%q parses to %+v; its entries joined parse to %+v, %v", s, deps, again, err)
		}
	})
}
