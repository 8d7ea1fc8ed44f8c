package watch

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The index finds the same live names a check of every live name finds.
func TestSiblingIndexAgreesWithRotatedSibling(t *testing.T) {
	lives := []string{"app.log", "java0.log.0", "gc.log", "app-audit.log", "x", "a.b.c", "service_1.out"}
	x := siblingIndex{}
	for _, l := range lives {
		x.add(l)
	}
	names := []string{"app.log.1", "app.1.log", "app.2026-01-02.0.log.gz", "app-2026-01-02.log", "app.log_old",
		"java0.log.1", "gc.log.0", "app-audit.log.3", "app-audit.2.log", "x.1", "x-old", "a.b.c.1", "a.b.1.c",
		"service_1.out.2", "service_1.2.out", "app.audit.log", "application.log", "other.log", "app.log", "java0.log.0.lck", "y.1"}
	for _, name := range names {
		want := ""
		for _, l := range lives {
			if rotatedSibling(name, l) {
				want = l
				break
			}
		}
		got, ok := x.of(name)
		if ok != (want != "") || (ok && !rotatedSibling(name, got)) {
			t.Errorf("index: %q is a rotated copy of %q (%v); a check of every live name says %q", name, got, ok, want)
		}
	}
}

// A pattern's directories are found through wildcards, and the
// directories to watch for the missing ones are their existing parents.
func TestResolveFindsThePatternsDirectoriesAndWhereTheOthersWouldAppear(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"svc-a/logs", "svc-b/logs", "svc-c", "plain"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "svc-file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	has := func(needs []need, dir, name string) bool { return slices.Contains(needs, need{dir, name}) }

	dirs, all, needs := resolve(filepath.Join(root, "svc-*", "logs", "*.log"))
	if want := []string{filepath.Join(root, "svc-a/logs"), filepath.Join(root, "svc-b/logs")}; all || !slices.Equal(dirs, want) {
		t.Errorf("svc-*/logs/*.log: directories %v (all %v), want %v", dirs, all, want)
	}
	if !has(needs, root, "svc-*") || !has(needs, filepath.Join(root, "svc-c"), "logs") {
		t.Errorf("svc-*/logs/*.log: watches %v; want %s for svc-* and svc-c for logs", needs, root)
	}

	dirs, all, _ = resolve(filepath.Join(root, "plain"))
	if !all || !slices.Equal(dirs, []string{filepath.Join(root, "plain")}) {
		t.Errorf("a directory named: %v (all %v)", dirs, all)
	}

	dirs, _, needs = resolve(filepath.Join(root, "later", "logs", "*.log"))
	if len(dirs) != 0 || !has(needs, root, "later") {
		t.Errorf("later/logs/*.log with later missing: directories %v, watches %v; want none, and %s for later", dirs, needs, root)
	}

	_, _, needs = resolve(filepath.Join(root, "plain", "dumps"))
	if !has(needs, filepath.Join(root, "plain"), "dumps") {
		t.Errorf("plain/dumps, not a directory yet: watches %v; want plain for dumps", needs)
	}
}
