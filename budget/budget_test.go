package budget

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestBudgetDeletesRetiredFilesOldestFirstAndReportsThem(t *testing.T) {
	dir := t.TempDir()
	var removed []Removal
	b := New(Options{Limit: 1000, OnRemove: func(r Removal) { removed = append(removed, r) }})
	mk := func(owner, name string, size int64, age time.Duration) *Entry {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		e := b.Track(owner, path, size)
		if age > 0 {
			e.Retire(time.Now().Add(-age))
		}
		return e
	}
	watched := mk("main", "gc.log.0", 300, 3*time.Hour) // a watched file, oldest
	rotated := mk("agent", "agent.log.1", 300, time.Hour)
	live := mk("main", "main.log", 300, 0)
	if err := live.Reserve(200); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if !watched.Gone() || rotated.Gone() {
		t.Fatal("the oldest retired file must go first, whoever owns it")
	}
	if len(removed) != 1 || removed[0].Path != filepath.Join(dir, "gc.log.0") || removed[0].Owner != "main" || removed[0].Bytes != 300 {
		t.Fatalf("removals %+v", removed)
	}
	if b.Used() != 800 || b.Usage("main") != 500 || b.Usage("agent") != 300 {
		t.Fatalf("used %d, main %d, agent %d", b.Used(), b.Usage("main"), b.Usage("agent"))
	}
	if err := live.Reserve(600); !errors.Is(err, ErrOverBudget) || rotated.Gone() {
		t.Fatalf("a write that cannot fit even without the retired files must delete nothing: %v, gone %v", err, rotated.Gone())
	} else if room := Room(err); room != 500 {
		t.Fatalf("a refused write has room for %d bytes, want 500 (the limit less what stays once the retired file goes)", room)
	}
	if err := live.Reserve(500); err != nil || !rotated.Gone() {
		t.Fatalf("reserve 500: %v, rotated gone %v", err, rotated.Gone())
	}
	if err := live.Reserve(1); !errors.Is(err, ErrOverBudget) || Room(err) != 0 {
		t.Fatalf("reserve past the budget with nothing retired: %v, room %d", err, Room(err))
	}
	if _, err := os.Stat(filepath.Join(dir, "agent.log.1")); !os.IsNotExist(err) {
		t.Fatal("deleted file still on disk")
	}
}

// The space a filesystem has left is its available blocks times the
// fragment size, not the preferred I/O size: on NFS or FUSE f_bsize can
// be 1 MiB over 4 KiB blocks, which would make a nearly full disk look
// 256 times emptier than it is.
func TestFreeSpaceCountsBlocksInFragmentSize(t *testing.T) {
	st := syscall.Statfs_t{Bsize: 1 << 20, Frsize: 4096, Bavail: 100}
	if got := availBytes(&st); got != 100*4096 {
		t.Fatalf("available %d bytes, want %d (100 blocks of 4 KiB)", got, 100*4096)
	}
	// Kernels that leave f_frsize zero count in f_bsize.
	st = syscall.Statfs_t{Bsize: 4096, Bavail: 7}
	if got := availBytes(&st); got != 7*4096 {
		t.Fatalf("available %d bytes, want %d", got, 7*4096)
	}
}

// Every cleanup the budget makes is listed, with its totals.
func TestCleanupsAreListed(t *testing.T) {
	dir := t.TempDir()
	b := New(Options{Limit: 100})
	defer b.StopHooks(context.Background(), context.Background())
	old := filepath.Join(dir, "a.log.1")
	if err := os.WriteFile(old, make([]byte, 80), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Track("a", old, 80).Retire(time.Now().Add(-time.Hour))
	live := b.Track("a", filepath.Join(dir, "a.log"), 0)
	if err := live.Reserve(50); err != nil {
		t.Fatal(err)
	}
	recent, total, bytes := b.Cleanups()
	if b.Used() != 50 || total != 1 || bytes != 80 ||
		len(recent) != 1 || recent[0].File != old || recent[0].Action != "deleted" || recent[0].Reason != "disk budget" {
		t.Fatalf("used %d, cleanups %+v, total %d, bytes %d", b.Used(), recent, total, bytes)
	}
}
