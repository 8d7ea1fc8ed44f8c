package tests

import (
	"debug/buildinfo"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestTestsBuildWhatMakeBuilds: the tend these tests run is built as
// `make build` builds the one users run: the Makefile's build tags and Go
// experiment (Go's earlier collector, which costs each start fewer page
// faults) are in the binary's build information, and the Makefile's build
// recipe uses both. bench/startup builds the programs it times beside tend
// with the same. A change to one side alone would leave the tests
// checking, or the benchmark timing, a different binary from the one
// shipped.
func TestTestsBuildWhatMakeBuilds(t *testing.T) {
	buildAll(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	variable := func(name string) string {
		t.Helper()
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)`).FindSubmatch(makefile)
		if m == nil {
			t.Fatalf("the Makefile sets no %s", name)
		}
		return string(m[1])
	}
	tags, experiment := variable("TAGS"), variable("EXPERIMENT")
	recipe := regexp.MustCompile(`(?m)^build:\n\t(.*)$`).FindSubmatch(makefile)
	if recipe == nil {
		t.Fatal("the Makefile has no build recipe")
	}
	for _, want := range []string{"GOEXPERIMENT=$(EXPERIMENT)", "-tags $(TAGS)", "CGO_ENABLED=0"} {
		if !strings.Contains(string(recipe[1]), want) {
			t.Errorf("make build's recipe %q lacks %s", recipe[1], want)
		}
	}
	if tags != buildTags || experiment != buildExperiment {
		t.Errorf("the Makefile builds with tags %q and GOEXPERIMENT %q; the tests with %q and %q",
			tags, experiment, buildTags, buildExperiment)
	}
	bench, err := os.ReadFile(filepath.Join(root, "bench", "startup", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"buildTags": tags, "buildExperiment": experiment} {
		got := ""
		if m := regexp.MustCompile(`(?m)^\s*` + name + `\s*=\s*"([^"]*)"`).FindSubmatch(bench); m != nil {
			got = string(m[1])
		}
		if got != want {
			t.Errorf("bench/startup's %s is %q, the Makefile's %q", name, got, want)
		}
	}

	info, err := buildinfo.ReadFile(build.tend)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, s := range info.Settings {
		got[s.Key] = s.Value
	}
	for key, want := range map[string]string{"-tags": tags, "GOEXPERIMENT": experiment, "CGO_ENABLED": "0"} {
		if got[key] != want {
			t.Errorf("the tend under test was built with %s=%q, make build's is %q", key, got[key], want)
		}
	}
}
