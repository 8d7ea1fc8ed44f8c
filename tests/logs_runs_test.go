package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// With raw console and raw files (the defaults), tend frames what a
// program writes in runs of whole lines rather than line by line; what
// users read of the lines must not change. A Go program's 64 KiB bufio
// writes, which split lines: `tend status` counts every line and shows the
// last ones, one line each, in order, and the files hold every line.
func TestABufferedWriterIsCountedAndItsLastLinesShownLineByLine(t *testing.T) {
	t.Parallel()
	gen := logsgenPath(t)
	const n = 300000
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"console", nil},
		{"files", []string{"TEND_LOG_DIR=" + filepath.Join(t.TempDir(), "logs")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// A side program, whose last lines tend status shows once it
			// has exited.
			conf := writeConfD(t, map[string]string{"gen.conf": fmt.Sprintf(
				"[program:gen]\ncommand = %s -writer bufio64k -n %d\nautorestart = false\nstartsecs = 0\n", gen, n)})
			p := startTend(t, tendOptions{
				Stdout: devNull(t),
				Env:    append([]string{conf}, tc.env...),
				Args:   []string{"--", "sleep", "120"},
			})
			st := waitStatus(t, p, 60*time.Second, "the writer to exit", func(st statusDoc) bool {
				return st.program(t, "gen").LastExit != nil
			})
			lg := programLogs(t, p, "gen").Logs
			if lg.Lines != n || lg.Bytes != n*genLineSize {
				t.Errorf("status counts %d lines, %d bytes; the program wrote %d, %d", lg.Lines, lg.Bytes, n, n*genLineSize)
			}
			var want []string
			for i := n - 20; i < n; i++ {
				want = append(want, strings.TrimSuffix(string(genLine(nil, "", genLineSize, int64(i))), "\n"))
			}
			if got := st.program(t, "gen").LastLines; !slices.Equal(got, want) {
				t.Errorf("last lines in tend status:\n%q\nwant the program's last 20 lines:\n%q", got, want)
			}
			if len(tc.env) == 0 {
				return
			}
			dir := strings.TrimPrefix(tc.env[0], "TEND_LOG_DIR=")
			waitFor(t, 10*time.Second, "the last line in the live file", func() bool {
				data, err := os.ReadFile(filepath.Join(dir, "gen.log"))
				return err == nil && strings.HasSuffix(string(data), want[len(want)-1]+"\n")
			})
			c := newLineChecker("", genLineSize, 0)
			if err := c.check(openConcat(t, logFiles(t, dir, "gen"))); err != nil {
				t.Fatalf("the files: %v", err)
			}
			if c.lines != n {
				t.Errorf("the files hold %d lines, want %d", c.lines, n)
			}
		})
	}
}
