package resources

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOOMVictimsAreTheLargestKilledInTheWindow(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ev := OOMEvent{Time: at, Kills: 1, New: 1, LimitBytes: 64 << 20}
	deaths := []Death{
		{Pid: 10, Program: "agent", Signal: syscall.SIGKILL, RSSBytes: 20 << 20, Time: at.Add(200 * time.Millisecond)},
		{Pid: 11, Program: "main", Signal: syscall.SIGKILL, RSSBytes: 40 << 20, Time: at.Add(300 * time.Millisecond)},
		// Not OOM kills: exited, killed by tend's stop, killed long before.
		{Pid: 12, Program: "exiter", RSSBytes: 60 << 20, Time: at},
		{Pid: 13, Program: "stopped", Signal: syscall.SIGKILL, SentByTend: true, RSSBytes: 60 << 20, Time: at},
		{Pid: 14, Program: "old", Signal: syscall.SIGKILL, RSSBytes: 60 << 20, Time: at.Add(-5 * time.Second)},
		{Pid: 15, Program: "termed", Signal: syscall.SIGTERM, RSSBytes: 60 << 20, Time: at},
	}
	got := OOMVictims(ev, deaths)
	if len(got) != 1 || got[0].Pid != 11 {
		t.Fatalf("victims = %+v, want main (pid 11) alone", got)
	}
	ev.New = 2
	got = OOMVictims(ev, deaths)
	if len(got) != 2 || got[0].Pid != 11 || got[1].Pid != 10 {
		t.Errorf("victims of two kills = %+v, want main then agent", got)
	}
	// A death reaped just before the counter was read still counts.
	early := []Death{{Pid: 20, Program: "main", Signal: syscall.SIGKILL, Time: at.Add(-400 * time.Millisecond)}}
	if got := OOMVictims(ev, early); len(got) != 1 {
		t.Errorf("victims = %+v, want the death 0.4 s before the event", got)
	}
	if got := OOMVictims(ev, deaths[2:]); len(got) != 0 {
		t.Errorf("victims = %+v, want none", got)
	}
}

func TestOOMAdviceForAJVMWhoseHeapLeavesTooLittle(t *testing.T) {
	ev := OOMEvent{LimitBytes: 512 << 20}
	pct := &Death{Program: "main", Command: []string{"java", "-XX:MaxRAMPercentage=75", "-jar", "app.jar"}, RSSBytes: 500 << 20}
	advice := OOMAdvice(ev, pct, 8<<30)
	for _, want := range []string{"heap up to 384.0MiB (-XX:MaxRAMPercentage=75)", "leaves 128.0MiB of the 512.0MiB limit", "about 150.0MiB", "set -XX:MaxRAMPercentage=70.7", "-Xmx362m"} {
		if !strings.Contains(advice, want) {
			t.Errorf("advice %q lacks %q", advice, want)
		}
	}
	xmx := &Death{Program: "main", Command: []string{"java", "-jar", "app.jar"}, Env: []string{"JAVA_TOOL_OPTIONS=-Xmx400m"}}
	if advice := OOMAdvice(ev, xmx, 8<<30); !strings.Contains(advice, "(-Xmx400m)") || !strings.Contains(advice, "lower -Xmx to 362m") {
		t.Errorf("advice for -Xmx400m is %q", advice)
	}
	// At 256 MiB the JVM reads MinRAMPercentage too: the advice names both.
	small := &Death{Program: "main", Command: []string{"java", "-XX:MaxRAMPercentage=75", "-jar", "app.jar"}}
	if advice := OOMAdvice(OOMEvent{LimitBytes: 256 << 20}, small, 8<<30); !strings.Contains(advice, "-XX:MaxRAMPercentage=41.4 -XX:MinRAMPercentage=41.4") {
		t.Errorf("advice at 256MiB is %q", advice)
	}
	tiny := &Death{Program: "main", Command: []string{"java", "-jar", "app.jar"}}
	if advice := OOMAdvice(OOMEvent{LimitBytes: 64 << 20}, tiny, 8<<30); !strings.Contains(advice, "too small for this JVM; raise it to at least 192.0MiB") {
		t.Errorf("advice at 64MiB is %q", advice)
	}
}

func TestOOMAdviceWhenTheHeapFitsOrTheVictimIsNoJVM(t *testing.T) {
	ev := OOMEvent{LimitBytes: 2 << 30}
	big := &Death{Program: "main", Command: []string{"java", "-XX:MaxRAMPercentage=50", "-jar", "app.jar"}, RSSBytes: 2000 << 20}
	if advice := OOMAdvice(ev, big, 8<<30); !strings.Contains(advice, "memory outside the heap grew") || !strings.Contains(advice, "MaxDirectMemorySize") {
		t.Errorf("advice for a JVM over its non-heap is %q", advice)
	}
	smallRSS := &Death{Program: "main", Command: []string{"java", "-XX:MaxRAMPercentage=50", "-jar", "app.jar"}, RSSBytes: 200 << 20}
	if advice := OOMAdvice(ev, smallRSS, 8<<30); !strings.Contains(advice, "other processes") {
		t.Errorf("advice for a small JVM is %q", advice)
	}
	tail := &Death{Program: "sidecar", Command: []string{"tail", "/dev/zero"}, RSSBytes: 60 << 20}
	if advice := OOMAdvice(OOMEvent{LimitBytes: 64 << 20}, tail, 8<<30); advice != "sidecar (last RSS 60.0MiB) was killed at the 64.0MiB memory limit: raise the limit or lower its memory use" {
		t.Errorf("advice for tail is %q", advice)
	}
	if advice := OOMAdvice(OOMEvent{LimitBytes: 64 << 20}, nil, 8<<30); !strings.Contains(advice, "none tend had seen") {
		t.Errorf("advice without a victim is %q", advice)
	}
	if advice := OOMAdvice(OOMEvent{}, tail, 8<<30); !strings.Contains(advice, "no memory limit") {
		t.Errorf("advice without a limit is %q", advice)
	}
}

// A process of a program other than its own (a child its parent reaped)
// counts by its disappearance, whatever ended it; the OOM killer's own
// ranking, the OOM score, comes before the RSS.
func TestOOMVictimsTakeVanishedMembersByOOMScore(t *testing.T) {
	at := time.Unix(1700000000, 0)
	ev := OOMEvent{Time: at, Kills: 1, New: 1, LimitBytes: 64 << 20}
	deaths := []Death{
		{Pid: 30, Program: "main", Member: true, Command: []string{"worker"}, RSSBytes: 40 << 20, OOMScore: 600, Time: at.Add(-300 * time.Millisecond)},
		{Pid: 31, Program: "main", Member: true, Command: []string{"date"}, RSSBytes: 1 << 20, OOMScore: 2, Time: at},
		{Pid: 32, Program: "agent", Signal: syscall.SIGKILL, RSSBytes: 50 << 20, OOMScore: 500, Time: at},
	}
	got := OOMVictims(ev, deaths)
	if len(got) != 1 || got[0].Pid != 30 {
		t.Fatalf("victims = %+v, want main's worker (pid 30)", got)
	}
	if who := got[0].Who(); who != "main's process worker (pid 30)" {
		t.Errorf("who = %q", who)
	}
	if advice := OOMAdvice(ev, &got[0], 8<<30); !strings.HasPrefix(advice, "main's process worker (pid 30) (last RSS 40.0MiB) was killed") {
		t.Errorf("advice %q", advice)
	}
}
