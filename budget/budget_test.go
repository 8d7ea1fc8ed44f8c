package logship

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestBudgetDeletesRetiredFilesOldestFirstAndReportsThem(t *testing.T) {
	dir := t.TempDir()
	var removed []Removal
	b := NewBudget(BudgetOptions{Limit: 1000, OnRemove: func(r Removal) { removed = append(removed, r) }})
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
	}
	if err := live.Reserve(500); err != nil || !rotated.Gone() {
		t.Fatalf("reserve 500: %v, rotated gone %v", err, rotated.Gone())
	}
	if err := live.Reserve(1); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("reserve past the budget with nothing retired: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "agent.log.1")); !os.IsNotExist(err) {
		t.Fatal("deleted file still on disk")
	}
}
