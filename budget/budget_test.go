package budget

import (
	"context"
	"errors"
	"fmt"
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

// A deleted file's space comes back when its last descriptor is closed,
// which the budget does off the writer's path: the file is gone from the
// directory at once, a writer that needs its room waits for the close,
// and one that does not, does not wait; until the close, the bytes still
// count as used.
func TestADeletedFileCountsUntilItsSpaceIsFreed(t *testing.T) {
	dir := t.TempDir()
	b := New(Options{Limit: 1000})
	closing := make(chan int)
	closed := make(chan struct{})
	b.closeFD = func(fd int) error {
		closing <- fd
		<-closed
		return syscall.Close(fd)
	}
	old := filepath.Join(dir, "main.log.1")
	if err := os.WriteFile(old, make([]byte, 600), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Track("main", old, 600).Retire(time.Now().Add(-time.Hour))
	live := b.Track("main", filepath.Join(dir, "main.log"), 300)

	// 300 + 600 + 200 > 1000: the old file goes, and the write waits for
	// its space.
	reserved := make(chan error, 1)
	go func() { reserved <- live.Reserve(200) }()
	fd := <-closing
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the deleted file is still in the directory: %v", err)
	}
	if used := b.Used(); used != 900 {
		t.Errorf("Used %d while the deleted file's space is being freed, want 900 (300 live, 600 freeing)", used)
	}
	if u := b.Usage("main"); u != 300 {
		t.Errorf("Usage of main %d, want 300: the deleted file is no longer main's", u)
	}
	select {
	case err := <-reserved:
		t.Fatalf("Reserve returned (%v) before the space it needs was freed", err)
	case <-time.After(50 * time.Millisecond):
	}
	// A write that fits beside the file being freed does not wait.
	other := b.Track("agent", filepath.Join(dir, "agent.log"), 0)
	if err := other.Reserve(100); err != nil {
		t.Errorf("a write that fits beside the freeing file: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Size != 600 {
		t.Errorf("the descriptor closed off the writer's path is not the deleted file: size %d, %v", st.Size, err)
	}
	close(closed)
	if err := <-reserved; err != nil {
		t.Fatalf("Reserve after the space was freed: %v", err)
	}
	if used := b.Used(); used != 300+100+200 {
		t.Errorf("Used %d after the write, want 600", used)
	}
}

// The minimum of free space is kept by deleting just enough: while the
// files deleted a moment ago are still giving their space back, statfs does
// not show it yet, and the budget counts it rather than deleting every
// other retired file too. Needs a tmpfs (root).
func TestMinFreeCountsTheSpaceBeingFreed(t *testing.T) {
	dir := mountTmpfs(t, "8m")

	const mib = 1 << 20
	b := New(Options{MinFree: 3 * mib})
	closing := make(chan int, 4)
	closed := make(chan struct{})
	b.closeFD = func(fd int) error {
		closing <- fd
		<-closed
		return syscall.Close(fd)
	}
	var files []string
	for i := range 3 {
		path := filepath.Join(dir, fmt.Sprintf("app.log.%d", 3-i))
		if err := os.WriteFile(path, make([]byte, 2*mib), 0o644); err != nil {
			t.Fatal(err)
		}
		b.Track("app", path, 2*mib).Retire(time.Now().Add(-time.Duration(3-i) * time.Hour))
		files = append(files, path)
	}
	// 6 of 8 MiB used: 2 MiB free, 1 MiB short of the minimum. Deleting
	// the oldest file (2 MiB) is enough.
	if missing := b.TrimSpace(dir); missing > 0 {
		t.Errorf("TrimSpace: %d bytes still missing while 2 MiB are being freed", missing)
	}
	<-closing
	left := 0
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			left++
		}
	}
	if left != 2 {
		t.Errorf("%d of 3 retired files left; want 2: only the oldest was needed", left)
	}
	// A write that needs the room being freed waits for it, and deletes
	// nothing more.
	live := b.Track("app", filepath.Join(dir, "app.log"), 0)
	reserved := make(chan error, 1)
	go func() { reserved <- live.Reserve(mib) }()
	select {
	case err := <-reserved:
		t.Fatalf("Reserve returned (%v) before the space it needs was freed", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(closed)
	if err := <-reserved; err != nil {
		t.Fatalf("Reserve once the space was freed: %v", err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * st.Frsize; free < 3*mib {
		t.Errorf("%d bytes free after the cleanup, minimum %d", free, 3*mib)
	}
	for _, f := range files[1:] {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("a retired file the minimum did not need was deleted: %v", err)
		}
	}
}

// Bytes a writer holds back (SetHeld) are reserved but not on the disk: a
// free-space measure taken meanwhile cannot see them, and the estimate
// still counts them, until they are written. Needs a tmpfs (root).
func TestHeldBytesCountAgainstFreeSpaceAcrossAMeasure(t *testing.T) {
	dir := mountTmpfs(t, "8m")

	const mib = 1 << 20
	b := New(Options{MinFree: mib})
	path := filepath.Join(dir, "app.log")
	live := b.Track("app", path, 0)
	if err := live.Reserve(5 * mib); err != nil {
		t.Fatal(err)
	}
	live.SetHeld(5 * mib) // reserved, held back by the writer
	live.space.checked = time.Time{}
	// The measure sees 8 MiB free; 5 of them are promised.
	if err := live.Reserve(3 * mib); !errors.Is(err, ErrLowSpace) {
		t.Fatalf("Reserve of 3 MiB with 5 of 8 held and 1 to keep free: %v, want ErrLowSpace", err)
	}
	// The held bytes are written.
	if err := os.WriteFile(path, make([]byte, 5*mib), 0o644); err != nil {
		t.Fatal(err)
	}
	live.SetHeld(0)
	live.space.checked = time.Time{}
	if err := live.Reserve(2 * mib); err != nil {
		t.Fatalf("Reserve of 2 MiB with 3 free and 1 to keep: %v", err)
	}
}

// mountTmpfs mounts a tmpfs of the given size on a new directory. It needs
// root: without it the test is skipped, unless CI=true, where it fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("this test needs root to mount a tmpfs, and CI runs as root")
		}
		t.Skip("this test needs root to mount a tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}
