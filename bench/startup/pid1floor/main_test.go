package main

import (
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"tend/bench/startup/internal/linked"
)

// The floor links every package of tend's that tend's command links, or
// its start says nothing about tend's.
func TestLinksTendsPackages(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go command to list tend's packages")
	}
	imports, err := linked.GoList("-f", `{{join .Imports "\n"}}`, "tend/cmd/tend")
	if err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(imports, func(p string) bool { return !strings.HasPrefix(p, "tend/") })
	slices.Sort(want)
	got, err := linked.Imports("main.go")
	if err != nil {
		t.Fatal(err)
	}
	got = slices.DeleteFunc(got, func(p string) bool { return !strings.HasPrefix(p, "tend/") })
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
