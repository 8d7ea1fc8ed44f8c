package hooks

import (
	"context"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"

	"tend/budget"
)

func TestCleanupHookIsToldWhatWasCleanedAndItsOutputLogged(t *testing.T) {
	out := &captured{}
	c := &Cleanup{
		Argv:   []string{"sh", "-c", `echo "$TEND_CLEANUP_ACTION $TEND_CLEANUP_FILE $TEND_CLEANUP_BYTES $TEND_CLEANUP_PROGRAM ($TEND_CLEANUP_REASON) $FROM"; echo noted >&2`},
		Env:    append(os.Environ(), "FROM=tend"),
		Reaper: runningReaper(t, zap.NewNop()),
		Out:    out,
	}
	for _, rm := range []budget.Removal{
		{Path: "/logs/app.log.1", Owner: "main", Bytes: 1048576, Reason: "disk budget"},
		{Path: "/logs/gc.log", Owner: "main", Bytes: 42, Reason: "min free space", Truncated: true},
	} {
		if err := c.Run(context.Background(), rm); err != nil {
			t.Fatalf("Run(%+v): %v", rm, err)
		}
	}
	want := "deleted /logs/app.log.1 1048576 main (disk budget) tend\ntruncated /logs/gc.log 42 main (min free space) tend\n"
	if got := out.text("cleanup/stdout"); got != want {
		t.Errorf("the hook printed %q, want %q", got, want)
	}
	if got := out.text("cleanup/stderr"); got != "noted\nnoted\n" {
		t.Errorf("the hook's stderr was captured as %q", got)
	}
}

func TestCleanupHookFailsOnANonZeroExit(t *testing.T) {
	c := &Cleanup{Argv: []string{"sh", "-c", "exit 3"}, Env: os.Environ(), Reaper: runningReaper(t, zap.NewNop()), Out: &captured{}}
	err := c.Run(context.Background(), budget.Removal{Path: "/logs/x", Reason: "disk full"})
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") {
		t.Errorf("Run = %v, want an error naming exit code 3", err)
	}
}
