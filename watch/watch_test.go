package watch

import "testing"

func TestRotatedSiblingKnowsTheUsualRotationNames(t *testing.T) {
	for _, c := range []struct {
		name, live string
		want       bool
	}{
		{"app.log.1", "app.log", true},
		{"app.log.1.gz", "app.log", true},
		{"app.log-20260102", "app.log", true},
		{"app.1.log", "app.log", true},
		{"app.2026-01-02.0.log.gz", "app.log", true},
		{"app-2026-01-02.log", "app.log", true},
		{"java0.log.1", "java0.log.0", true},
		{"gc.log.0", "gc.log", true},
		{"app.log", "app.log", false},
		{"app.audit.log", "app.log", false},
		{"application.log", "app.log", false},
		{"java0.log.0.lck", "java0.log.0", false},
		{"other.log", "app.log", false},
	} {
		if got := rotatedSibling(c.name, c.live); got != c.want {
			t.Errorf("rotatedSibling(%q, %q) = %v, want %v", c.name, c.live, got, c.want)
		}
	}
}

func TestTailedFilesAreNamedAfterTheirBaseName(t *testing.T) {
	for path, want := range map[string]string{
		"/app/logs/app.log":     "app",
		"/app/logs/gc.log.0":    "gc",
		"/app/hs_err_pid42.log": "hs_err_pid42",
		"/app/logs/noext":       "noext",
		"/app/logs/.hidden.log": ".hidden.log",
	} {
		if got := nameOf(path); got != want {
			t.Errorf("nameOf(%q) = %q, want %q", path, got, want)
		}
	}
}
