package main

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The rotation watch must account for every byte a rotating logger wrote,
// including the files it deleted during the run, and find a line lost or
// doubled in a file that no longer exists at the end.

// s6logThrough runs data through s6-log rotating every 64 KiB and keeping
// two rotated files, under the rotation watch, and returns the check. A
// run in which the watch fell behind s6-log's rotations (a file rotated
// away before the watch held it: a loaded machine, or the race detector
// slowing the watch) checks nothing, and is made again, up to five times.
func s6logThrough(t *testing.T, data []byte, s stream) (files, kept int, err error) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		files, kept, err = s6logOnce(t, data, s)
		if !errors.Is(err, errFellBehind) || attempt == 5 {
			return files, kept, err
		}
		t.Logf("run %d: %v; once more", attempt, err)
	}
}

// s6logOnce is one run of s6logThrough.
func s6logOnce(t *testing.T, data []byte, s stream) (files, kept int, err error) {
	t.Helper()
	s6log := needTool(t, "s6-log")
	dir := filepath.Join(t.TempDir(), "s6")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	watch, err := watchRotation(dir, "current")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s6log, "n2", "s65536", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := stdin.Write(data); err != nil {
		t.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("s6-log: %v", err)
	}
	watch.stop()
	return watch.check(s)
}

func TestRotationWatchAccountsForDeletedFiles(t *testing.T) {
	s := stream{lines: 20000}
	files, kept, err := s6logThrough(t, genOutput(t, "-n", "20000"), s)
	if err != nil {
		t.Fatal(err)
	}
	// 2.4 MB in files of at most 64 KiB: dozens, of which s6-log keeps 3.
	if files < 30 || kept != 3 {
		t.Errorf("%d files written, %d kept; want at least 30 written and 3 kept", files, kept)
	}
}

func TestRotationWatchFindsALineLostInADeletedFile(t *testing.T) {
	out := genOutput(t, "-n", "20000")
	s := stream{lines: 20000}
	lost := append(append([]byte{}, out[:300*lineSize]...), out[301*lineSize:]...)
	if _, _, err := s6logThrough(t, lost, s); err == nil || errors.Is(err, errFellBehind) {
		t.Errorf("line 300 lost: the check gave %v", err)
	}
	doubled := append(append(append([]byte{}, out[:5000*lineSize]...), out[4999*lineSize:5000*lineSize]...), out[5000*lineSize:]...)
	if _, _, err := s6logThrough(t, doubled, s); err == nil || errors.Is(err, errFellBehind) {
		t.Errorf("line 4999 written twice: the check gave %v", err)
	}
	// A line changed in the middle of a deleted file keeps every size: it
	// is not seen. A line lost or added anywhere is.
}

func TestRotationWatchFollowsTend(t *testing.T) {
	dir := t.TempDir()
	tend := filepath.Join(dir, "tend")
	build := exec.Command("go", "build", "-o", tend, "../../cmd/tend")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ../../cmd/tend: %v\n%s", err, out)
	}
	logs := filepath.Join(dir, "logs")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	watch, err := watchRotation(logs, "main.log")
	if err != nil {
		t.Fatal(err)
	}
	// One write per line and files of 4 MiB keep the rotations tens of
	// milliseconds apart even though tend gathers many lines in a read:
	// the watch follows rotations at the pace of 50 MiB files, not of a
	// file every few microseconds (with 256 KiB files it fell behind on
	// a loaded machine, and once with 1 MiB files under the race
	// detector in CI).
	cmd := exec.Command(tend, "--", logsgen(t), "-writer", "perline", "-n", "400000")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TEND_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "TEND_LOG_DIR="+logs, "TEND_LOG_FILE_SIZE=4MiB",
		"TEND_CONFIG_DIR="+filepath.Join(dir, "conf"), "TEND_SOCKET="+filepath.Join(dir, "tend.sock"))
	cmd.Stdout = io.Discard
	if err := cmd.Run(); err != nil {
		t.Fatalf("tend: %v", err)
	}
	watch.stop()
	for _, n := range watch.notes {
		t.Log(n)
	}
	files, kept, err := watch.check(stream{lines: 400000})
	if err != nil {
		t.Fatal(err)
	}
	// 48 MB in files of at most 4 MiB; tend keeps 5 by default, the live
	// one included.
	if files < 9 || kept != 5 {
		t.Errorf("%d files written, %d kept; want at least 9 written and 5 kept", files, kept)
	}
}
