package main

import (
	"go/parser"
	"go/token"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The program links what tend imports, or its start-up says nothing
// about tend's: the list follows tend's packages.
func TestImportsAreWhatTendImports(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list tend's packages")
	}
	// Every package of tend's binary, with what each imports.
	out, err := exec.Command("go", "list", "-deps", "-f", `{{if not .Standard}}{{.ImportPath}}{{"\t"}}{{join .Imports " "}}{{end}}`, "tend/cmd/tend").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "\t")
		if pkg != "tend" && !strings.HasPrefix(pkg, "tend/") {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if imp != "tend" && !strings.HasPrefix(imp, "tend/") && !slices.Contains(want, imp) {
				want = append(want, imp)
			}
		}
	}
	slices.Sort(want)

	f, err := parser.ParseFile(token.NewFileSet(), "main.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, spec := range f.Imports {
		path, _ := strconv.Unquote(spec.Path.Value)
		got = append(got, path)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("main.go imports\n%v\ntend imports\n%v", got, want)
	}
}
