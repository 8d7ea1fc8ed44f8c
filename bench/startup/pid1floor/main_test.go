package main

import (
	"errors"
	"go/parser"
	"go/token"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The floor links every package of tend's that tend's command links, or
// its start says nothing about tend's.
func TestLinksTendsPackages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list tend's packages")
	}
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "tend/cmd/tend").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var want []string
	for _, imp := range strings.Fields(string(out)) {
		if strings.HasPrefix(imp, "tend/") {
			want = append(want, imp)
		}
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		if strings.HasPrefix(path, "tend/") {
			got = append(got, path)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("main.go links\n%v\ntend's command links\n%v", got, want)
	}
}

// With and without the handlers, the floor runs the program and passes on
// its exit status, as tend does.
func TestRunsTheProgramAndPassesItsStatus(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	bin := t.TempDir() + "/pid1floor"
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, args := range [][]string{{sh, "-c", "exit 7"}, {"-no-handlers", sh, "-c", "exit 7"}} {
		err := exec.Command(bin, args...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 7 {
			t.Errorf("pid1floor %v: %v, want exit status 7", args, err)
		}
	}
}
