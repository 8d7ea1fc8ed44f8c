package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"tend/bench/startup/internal/linked"
)

// The program links what tend imports, or its start-up says nothing
// about tend's: the list follows tend's packages.
func TestImportsAreWhatTendImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list tend's packages")
	}
	isTend := func(p string) bool { return p == "tend" || strings.HasPrefix(p, "tend/") }
	// Every package of tend's binary that is tend's, then what they import.
	deps, err := linked.GoList("-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{end}}`, "tend/cmd/tend")
	if err != nil {
		t.Fatal(err)
	}
	imports, err := linked.GoList(append([]string{"-f", `{{join .Imports "\n"}}`}, slices.DeleteFunc(deps, func(p string) bool { return !isTend(p) })...)...)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Compact(slices.Sorted(slices.Values(slices.DeleteFunc(imports, isTend))))
	got, err := linked.Imports("main.go")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("main.go imports\n%v\ntend imports\n%v", got, want)
	}
}
