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
// `make build` builds the one users run: the Makefile's build tags are in
// the binary's build information, with cgo off and Go's default
// experiments, and the Makefile's build recipe uses them. bench/startup
// builds the programs it times beside tend with the same tags. A change to
// one side alone would leave the tests checking, or the benchmark timing,
// a different binary from the one shipped.
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
	m := regexp.MustCompile(`(?m)^TAGS\s*:=\s*(\S+)`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("the Makefile sets no TAGS")
	}
	tags := string(m[1])
	recipe := regexp.MustCompile(`(?m)^build:\n\t(.*)$`).FindSubmatch(makefile)
	if recipe == nil {
		t.Fatal("the Makefile has no build recipe")
	}
	for _, want := range []string{"-tags $(TAGS)", "CGO_ENABLED=0"} {
		if !strings.Contains(string(recipe[1]), want) {
			t.Errorf("make build's recipe %q lacks %s", recipe[1], want)
		}
	}
	if strings.Contains(string(recipe[1]), "GOEXPERIMENT") {
		t.Errorf("make build's recipe %q sets a Go experiment the tests' build does not", recipe[1])
	}
	if tags != buildTags {
		t.Errorf("the Makefile builds with tags %q, the tests with %q", tags, buildTags)
	}
	bench, err := os.ReadFile(filepath.Join(root, "bench", "startup", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	if m := regexp.MustCompile(`(?m)^const buildTags\s*=\s*"([^"]*)"`).FindSubmatch(bench); m != nil {
		got = string(m[1])
	}
	if got != tags {
		t.Errorf("bench/startup's buildTags is %q, the Makefile's TAGS %q", got, tags)
	}

	info, err := buildinfo.ReadFile(build.tend)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"-tags": tags, "GOEXPERIMENT": "", "CGO_ENABLED": "0"} {
		if settings[key] != want {
			t.Errorf("the tend under test was built with %s=%q, make build's is %q", key, settings[key], want)
		}
	}
}
