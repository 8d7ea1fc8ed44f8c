package resources

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"
)

// OOMVictimWindow is how far apart an OOM kill and a program's death by
// SIGKILL may be for the death to count as the kill's. The counter rises
// as the kernel picks its victim, before the process is reaped, and is
// read up to half a second late on cgroup v1: name the victims a window
// after the event, from the deaths a window before it to a window after.
const OOMVictimWindow = time.Second

// Death is a process of tend's that ended, as the supervisor saw it.
type Death struct {
	// Pid is the process ID.
	Pid int `json:"pid"`
	// Program is the program's name.
	Program string `json:"program"`
	// Command is the program's argv.
	Command []string `json:"command"`
	// Env is the program's environment (JAVA_TOOL_OPTIONS may size a
	// JVM); never shown, since it may hold secrets.
	Env []string `json:"-"`
	// Signal is the signal that ended the process (0: it exited).
	Signal syscall.Signal `json:"signal"`
	// SentByTend is true when tend itself sent that signal (a stop that
	// ran out of time): such a death is never an OOM kill.
	SentByTend bool `json:"sent_by_tend,omitempty"`
	// Member is true for a process of the program other than the one
	// tend started (a child of it): its parent reaped it, so tend saw
	// only that it was gone from /proc, not how it ended (Signal is 0).
	Member bool `json:"member,omitempty"`
	// RSSBytes is the process's last sampled resident memory (0: unknown).
	RSSBytes int64 `json:"rss_bytes"`
	// OOMScore is the badness the OOM killer last gave the process (0:
	// unknown); it kills the highest first.
	OOMScore int `json:"oom_score,omitempty"`
	// Time is when the process was reaped; for a Member, when it was last
	// seen alive.
	Time time.Time `json:"time"`
	// GoneBy is, for a Member, when tend first found it gone: it died
	// between Time and GoneBy, samples apart.
	GoneBy time.Time `json:"gone_by,omitzero"`
}

// OOMVictims picks, from recent deaths, the processes that OOM kill ev
// most likely took: killed by a SIGKILL tend did not send within
// OOMVictimWindow of the event, or gone from a program's processes
// (Member) between two samples that the event falls between, give or
// take OOMVictimWindow (samples are a second or more apart, and the gap
// between two can be longer on a loaded machine), at most ev.New of
// them, the highest OOM score and then the largest last RSS first (the
// OOM killer picks the process with the highest score, which is mostly
// its memory). None is returned when no such death is known: the victim
// was a process tend never saw.
func OOMVictims(ev OOMEvent, deaths []Death) []Death {
	var found []Death
	for _, d := range deaths {
		if (d.Signal == syscall.SIGKILL || d.Member) && !d.SentByTend && d.diedNear(ev.Time) {
			found = append(found, d)
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].OOMScore != found[j].OOMScore {
			return found[i].OOMScore > found[j].OOMScore
		}
		if found[i].RSSBytes != found[j].RSSBytes {
			return found[i].RSSBytes > found[j].RSSBytes
		}
		return absDuration(found[i].Time.Sub(ev.Time)) < absDuration(found[j].Time.Sub(ev.Time))
	})
	return found[:min(len(found), int(max(1, ev.New)))]
}

// diedNear reports whether the process died within OOMVictimWindow of at:
// at its reaping, or for a Member, at some moment between when it was
// last seen alive and when it was first found gone.
func (d Death) diedNear(at time.Time) bool {
	last := d.Time
	if d.Member && d.GoneBy.After(last) {
		last = d.GoneBy
	}
	return !at.Before(d.Time.Add(-OOMVictimWindow)) && !at.After(last.Add(OOMVictimWindow))
}

// Who names the process: the program for its own process, and the
// program and command for another of its processes ("main's process
// java (pid 42)").
func (d Death) Who() string {
	if !d.Member {
		return d.Program
	}
	cmd := "pid " + strconv.Itoa(d.Pid)
	if len(d.Command) > 0 {
		cmd = filepath.Base(d.Command[0]) + " (" + cmd + ")"
	}
	return d.Program + "'s process " + cmd
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// OOMAdvice says in one line what to change after OOM kill ev took
// victim (see OOMVictims; nil: the victim is not known). hostBytes is the
// machine's memory, which a JVM sizes itself against without a limit.
//
// For a JVM it compares the heap its options allow (JavaMaxHeap) with
// the limit: the memory outside the heap (metaspace, thread stacks, code
// cache, direct buffers) needs about a quarter of the limit and at least
// 150 MiB, so a heap that leaves less is the likely cause, and the advice
// is the -Xmx or -XX:MaxRAMPercentage that leaves enough.
func OOMAdvice(ev OOMEvent, victim *Death, hostBytes int64) string {
	limit := ev.LimitBytes
	if limit <= 0 {
		return "no memory limit is set on this cgroup: the machine, or a cgroup above this one, ran out of memory; set a memory limit so the container's use is bounded and measured"
	}
	if victim == nil {
		return fmt.Sprintf("the process killed was none tend had seen (one that lived less than a sample, or outside the programs), at the %s memory limit: raise the limit or lower the programs' memory use", human(limit))
	}
	rss := ""
	if victim.RSSBytes > 0 {
		rss = fmt.Sprintf(" (last RSS %s)", human(victim.RSSBytes))
	}
	heap, isJava := JavaMaxHeap(victim.Command, victim.Env, limit, hostBytes)
	if !isJava || heap.MaxBytes <= 0 {
		return fmt.Sprintf("%s%s was killed at the %s memory limit: raise the limit or lower its memory use", victim.Who(), rss, human(limit))
	}
	allowance := nonHeapAllowance(limit)
	left := limit - heap.MaxBytes
	if left >= allowance {
		if victim.RSSBytes > 0 && victim.RSSBytes < limit/2 {
			return fmt.Sprintf("%s%s used under half of the %s limit: other processes in the container took the rest; raise the limit or lower their use",
				victim.Who(), rss, human(limit))
		}
		return fmt.Sprintf("heap up to %s (%s) leaves %s of the %s limit, yet %s%s went over it: memory outside the heap grew (direct buffers, threads, metaspace, native code); cap -XX:MaxDirectMemorySize and -XX:MaxMetaspaceSize or raise the limit",
			human(heap.MaxBytes), heap.Flag, human(max(left, 0)), human(limit), victim.Who(), rss)
	}
	what := fmt.Sprintf("heap up to %s (%s) leaves %s of the %s limit for metaspace, threads, code cache and direct buffers, which need about %s",
		human(heap.MaxBytes), heap.Flag, human(max(left, 0)), human(limit), human(allowance))
	// The limit a heap this size needs beside its allowance.
	need := max(heap.MaxBytes+nonHeapFloor, heap.MaxBytes*4/3)
	target := limit - allowance
	if target < 64<<20 {
		return fmt.Sprintf("%s: the limit is too small for this JVM; raise it to at least %s", what, human(roundUpMiB(need, 64)))
	}
	if heap.Explicit {
		return fmt.Sprintf("%s: lower -Xmx to %dm or raise the limit to %s", what, target>>20, human(roundUpMiB(need, 64)))
	}
	pct := javaHeapPercent(limit)
	flags := fmt.Sprintf("-XX:MaxRAMPercentage=%.1f", pct)
	// Where memory is small the JVM reads MinRAMPercentage instead, and
	// above that it never goes below 126 MiB: name both flags when the
	// first alone would not do.
	if javaHeapFor(limit, "", jvmFlagsFrom([]string{flags})).MaxBytes > target {
		flags += fmt.Sprintf(" -XX:MinRAMPercentage=%.1f", pct)
	}
	return fmt.Sprintf("%s: set %s (or -Xmx%dm) or raise the limit to %s", what, flags, target>>20, human(roundUpMiB(need, 64)))
}

// roundUpMiB rounds n up to a multiple of step MiB.
func roundUpMiB(n int64, step int64) int64 {
	unit := step << 20
	return int64(math.Ceil(float64(n)/float64(unit))) * unit
}
