package resources

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// requirePodman skips the test unless it runs as root with podman and
// runc installed; in CI it fails instead.
func requirePodman(t *testing.T) {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "this test needs root to run podman"
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil && reason == "" {
			reason = "this test needs podman and runc (" + tool + " not found in PATH)"
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s", reason)
	}
	t.Skip(reason)
}

// buildHelper builds testdata/NAME as a static binary in a temporary
// directory (without the race detector, whose memory would not fit the
// container's limit).
func buildHelper(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	goTool := "go"
	if _, err := exec.LookPath("go"); err != nil && os.Getenv("GOROOT") != "" {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	cmd := exec.Command(goTool, "build", "-trimpath", "-o", out, "./testdata/"+name)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/%s: %v\n%s", name, err, b)
	}
	return out
}

// TestOOMKillInPodmanIsNamed runs the watchers in a real container with a
// 64 MiB limit (cgroup v1 on hybrid machines, whatever the machine has
// elsewhere): a program that holds 95 % of the limit draws one memory
// warning, and `tail /dev/zero`, which grows until the kernel kills it,
// is reported as an OOM kill with the limit, the peak and tail named as
// the victim.
func TestOOMKillInPodmanIsNamed(t *testing.T) {
	requirePodman(t)
	helper := buildHelper(t, "oomhelper")
	// --rootfs runs the container on an overlay of this machine's /,
	// which holds the helper and tail.
	cmd := exec.Command("podman", "--runtime", "runc", "run", "--rm",
		"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
		"--memory", "64m", "--rootfs", "/:O", helper)
	// conmon leaves a file called "oom" in its working directory when
	// the kernel kills a process of the container.
	cmd.Dir = t.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	lines := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		lines[kind] = rest
	}
	if why, failed := lines["FAIL"]; failed {
		t.Fatalf("the helper failed: %s\n%s", why, out)
	}
	t.Logf("%s", out)
	const limit = 64 << 20

	var warn MemoryWarning
	if err := json.Unmarshal([]byte(lines["WARN"]), &warn); err != nil {
		t.Fatalf("no memory warning: %v\n%s", err, out)
	}
	if warn.LimitBytes != limit || warn.WorkingSetBytes < limit*9/10 || warn.WorkingSetBytes > limit {
		t.Errorf("memory warning %+v: want the 64MiB limit and a working set above 90 %% of it", warn)
	}

	var ev OOMEvent
	if err := json.Unmarshal([]byte(lines["OOM"]), &ev); err != nil {
		t.Fatalf("no OOM event: %v\n%s", err, out)
	}
	if ev.Kills != 1 || ev.New != 1 || ev.LimitBytes != limit || ev.PeakBytes < limit*9/10 {
		t.Errorf("OOM event %+v: want 1 kill at the 64MiB limit, peak near it", ev)
	}

	var victim Death
	if err := json.Unmarshal([]byte(lines["VICTIM"]), &victim); err != nil {
		t.Fatalf("no victim named: %v\n%s", err, out)
	}
	if victim.Program != "tail" || victim.Signal != syscall.SIGKILL || victim.RSSBytes == 0 {
		t.Errorf("victim %+v: want tail, killed by SIGKILL, with its RSS", victim)
	}
	if advice := lines["ADVICE"]; !strings.Contains(advice, "tail") || !strings.Contains(advice, "64.0MiB memory limit") {
		t.Errorf("advice %q", advice)
	}
}
