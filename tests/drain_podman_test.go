package tests

import (
	"archive/tar"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// requirePodman skips the test unless podman and runc are installed (and
// it runs as root); in CI it fails instead.
func requirePodman(t testing.TB) {
	t.Helper()
	requireRoot(t)
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, "this test needs podman and runc ("+tool+" not found in PATH)")
		}
	}
}

// podman runs podman with runc (crun refuses hybrid cgroup layouts) and
// returns its combined output.
func podman(args ...string) (string, error) {
	cmd := exec.Command("podman", append([]string{"--runtime", "runc"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// mustPodman runs podman or fails the test.
func mustPodman(t testing.TB, args ...string) string {
	t.Helper()
	out, err := podman(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// uniqueName returns prefix plus a random suffix, for containers and
// images that parallel runs must not share.
func uniqueName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

// podmanLimits are the flags every container needs on these machines:
// the VM does not allow raising resource limits, which Podman's defaults
// try to.
var podmanLimits = []string{"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// runContainer starts a detached container named name with args after
// `podman run`, and removes it when the test ends.
func runContainer(t *testing.T, name string, args ...string) {
	t.Helper()
	t.Cleanup(func() { podman("rm", "-f", "-t", "0", name) })
	run := append(append([]string{"run", "-d", "--name", name}, podmanLimits...), args...)
	mustPodman(t, run...)
}

// containerGone returns why the container is not running, or "".
func containerGone(name string) string {
	state, err := podman("inspect", name, "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}")
	if err != nil {
		return err.Error()
	}
	if s, code, _ := strings.Cut(strings.TrimSpace(state), " "); s != "running" {
		// The exit code and the engine's OOM flag tell a kill of PID 1
		// from an exit.
		logs, _ := podman("logs", name)
		return "container " + s + " (exit code, OOM killed: " + code + ")\n" + logs
	}
	return ""
}

// stopContainer runs `podman stop -t grace` (TERM to the container's PID
// 1, SIGKILL after grace) and returns the container's exit code.
func stopContainer(t *testing.T, name string, grace time.Duration) int {
	t.Helper()
	mustPodman(t, "stop", "-t", strconv.Itoa(int(grace.Seconds())), name)
	out := mustPodman(t, "inspect", name, "--format", "{{.State.ExitCode}}")
	return atoi(t, out)
}

// TestDrainInPodmanLosesNoRequest is the drain test inside a real
// container engine: tend is the container's PID 1, `podman stop` sends
// the TERM, and `podman logs` must hold every line.
func TestDrainInPodmanLosesNoRequest(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	requireJava(t)
	const budget = 8 * time.Second
	classes := compileExampleService(t)
	port, admin := freePort(t), freePort(t)
	name := uniqueName(t, "tend-drain-")
	args := []string{"--network", "host"}
	env := append(append(exampleEnv(port, admin), drainEnv(port)...), "TEND_STOP_TIMEOUT="+budget.String(), "TEND_EXIT_CODE_MAP=143:0")
	for _, kv := range env {
		args = append(args, "-e", kv)
	}
	// --rootfs makes the first argument a root filesystem instead of an
	// image: an overlay of this machine's /, which holds the binary built
	// for this run, the JDK and the compiled example.
	args = append(append(append(args, "--rootfs", "/:O", tendPath(t), "--", "java"), jvmFlags...), "-cp", classes, "Hello")
	runContainer(t, name, args...)

	lb := newLBClient(fmt.Sprintf("http://127.0.0.1:%d/slow", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 20, true)
	lbDone := startLoad(t, lb, func() string { return containerGone(name) })
	var code int
	inFlight, took := stopUnderLoad(t, lb, lbDone, func() { code = stopContainer(t, name, budget+2*time.Second) })
	logs := mustPodman(t, "logs", name)
	assertNothingLost(t, lb, inFlight, logs)
	if code != 0 {
		t.Errorf("the container exited %d, want 0 (the JVM's 143 mapped)\n%s", code, tail(logs))
	}
	if took > budget+time.Second {
		t.Errorf("podman stop took %s; tend's budget is %s", took, budget)
	}
	if !strings.Contains(logs, "stop sequence done") {
		t.Errorf("tend's last events are not in podman logs:\n%s", tail(logs))
	}
}

// TestBaseImageRunsTheExampleInPodman builds Dockerfile.base on a JRE
// image the test makes from this machine's JDK (no registry is reachable),
// builds the example on top of it as an application image would, runs it,
// and checks what the base image promises: HEALTHCHECK with `tend health`
// passes, and `podman stop` drains it with the image's defaults.
func TestBaseImageRunsTheExampleInPodman(t *testing.T) {
	t.Parallel()
	requirePodman(t)
	requireJava(t)
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	suffix := uniqueName(t, "")
	jreImage := "localhost/tend-test-jre:" + suffix
	baseImage := "localhost/tend-test-base:" + suffix
	appImage := "localhost/tend-test-hello:" + suffix
	t.Cleanup(func() { podman("rmi", "-f", appImage, baseImage, jreImage) })

	// A minimal JRE image: a jlink runtime with the modules the example
	// uses, its shared libraries, and busybox for a shell.
	rootfs := t.TempDir()
	makeJRERootfs(t, rootfs)
	tarball := filepath.Join(t.TempDir(), "jre.tar")
	writeTar(t, rootfs, tarball)
	mustPodman(t, "import", "--change", "ENV PATH=/opt/java/bin:/bin", tarball, jreImage)

	// The base image, from the repository's Dockerfile.base, with the
	// tend built for this run as the build context's bin/tend.
	baseCtx := t.TempDir()
	copyFile(t, tendPath(t), filepath.Join(baseCtx, "bin", "tend"), 0o755)
	// --format docker keeps HEALTHCHECK, which the OCI format lacks.
	mustPodman(t, "build", "--format", "docker", "--build-arg", "BASE_IMAGE="+jreImage,
		"-f", filepath.Join(root, "Dockerfile.base"), "-t", baseImage, baseCtx)

	// The application image: only its code and CMD.
	appCtx := t.TempDir()
	if err := os.CopyFS(filepath.Join(appCtx, "classes"), os.DirFS(compileExampleService(t))); err != nil {
		t.Fatal(err)
	}
	containerfile := fmt.Sprintf("FROM %s\nCOPY classes/ /app/\nCMD [\"java\", \"-XX:TieredStopAtLevel=1\", \"-cp\", \"/app\", \"Hello\"]\n", baseImage)
	if err := os.WriteFile(filepath.Join(appCtx, "Containerfile"), []byte(containerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	mustPodman(t, "build", "--format", "docker", "-t", appImage, appCtx)

	port, admin := freePort(t), freePort(t)
	name := uniqueName(t, "tend-base-")
	args := []string{"--network", "host"}
	// The image's own stop budget (25s) and exit code map (143:0) apply;
	// the drain settings name the service's port and shorten the drain
	// delay, to keep the test quick.
	for _, kv := range append(exampleEnv(port, admin), drainEnv(port)...) {
		args = append(args, "-e", kv)
	}
	runContainer(t, name, append(args, appImage)...)

	lb := newLBClient(fmt.Sprintf("http://127.0.0.1:%d/slow", port), fmt.Sprintf("http://127.0.0.1:%d/readyz", admin), 20, true)
	lbDone := startLoad(t, lb, func() string { return containerGone(name) })

	if out, err := podman("healthcheck", "run", name); err != nil {
		t.Errorf("the image's HEALTHCHECK fails on a ready service: %v", err)
	} else {
		t.Logf("podman healthcheck run: exit 0 %s", strings.TrimSpace(out))
	}
	hc := mustPodman(t, "inspect", "--type", "image", appImage, "--format", "{{json .HealthCheck}}")
	if !strings.Contains(hc, `"/usr/local/bin/tend","health"`) {
		t.Errorf("the image's health check is %s, want tend health", hc)
	}
	var code int
	inFlight, took := stopUnderLoad(t, lb, lbDone, func() { code = stopContainer(t, name, 30*time.Second) })
	logs := mustPodman(t, "logs", name)
	assertNothingLost(t, lb, inFlight, logs)
	if code != 0 {
		t.Errorf("the container exited %d, want 0 (TEND_EXIT_CODE_MAP=143:0 of the base image)\n%s", code, tail(logs))
	}
	if !strings.Contains(logs, `"budget": "25s"`) {
		t.Errorf("the base image's TEND_STOP_TIMEOUT=25s is not in effect:\n%s", tail(logs))
	}
	t.Logf("podman stop took %s", took.Round(time.Millisecond))
	if size, err := podman("image", "inspect", appImage, "--format", "{{.Size}}"); err == nil {
		t.Logf("application image size: %s bytes", strings.TrimSpace(size))
	}
}

// makeJRERootfs fills dir with a minimal root filesystem for Java: a
// jlink runtime in /opt/java holding the modules the example needs, the
// shared libraries it loads, at the paths the dynamic loader looks for
// them, busybox as /bin/sh when the machine has it, and /tmp.
func makeJRERootfs(t *testing.T, dir string) {
	t.Helper()
	javaHome := javaHome(t)
	jre := filepath.Join(dir, "opt", "java")
	jlink := exec.Command(filepath.Join(javaHome, "bin", "jlink"),
		"--add-modules", "java.base,jdk.httpserver,jdk.unsupported",
		"--strip-debug", "--no-header-files", "--no-man-pages", "--compress=2", "--output", jre)
	if out, err := jlink.CombinedOutput(); err != nil {
		skipOrFail(t, fmt.Sprintf("jlink cannot make a runtime (are the JDK's jmods installed?): %v\n%s", err, out))
	}
	var objects []string
	filepath.WalkDir(jre, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".so") || p == filepath.Join(jre, "bin", "java")) {
			objects = append(objects, p)
		}
		return nil
	})
	for _, lib := range sharedLibraries(t, objects) {
		if !strings.HasPrefix(lib, jre) {
			copyFile(t, lib, filepath.Join(dir, lib), 0o755)
		}
	}
	if busybox, err := exec.LookPath("busybox"); err == nil {
		copyFile(t, busybox, filepath.Join(dir, "bin", "busybox"), 0o755)
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", "sh")); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"tmp", "run", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o777|fs.ModeSticky); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// javaHome asks the java on PATH for its java.home.
func javaHome(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("java", "-XshowSettings:properties", "-version").CombinedOutput()
	if err != nil {
		t.Fatalf("java -XshowSettings:properties: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "java.home = "); ok {
			return v
		}
	}
	t.Fatalf("no java.home in:\n%s", out)
	return ""
}

// sharedLibraries returns the shared libraries that objects load, as
// ldd resolves them (the dynamic loader included).
func sharedLibraries(t *testing.T, objects []string) []string {
	t.Helper()
	out, err := exec.Command("ldd", objects...).CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Fatalf("ldd: %v", err)
	}
	seen := map[string]bool{}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		var lib string
		switch {
		case len(f) >= 3 && f[1] == "=>":
			lib = f[2]
		case len(f) >= 1 && strings.HasPrefix(f[0], "/"):
			lib = f[0] // the dynamic loader
		}
		if strings.HasPrefix(lib, "/") && !strings.HasSuffix(lib, ":") && !seen[lib] {
			seen[lib] = true
			libs = append(libs, lib)
		}
	}
	return libs
}

// copyFile copies src, following links, to dst with mode, making dst's
// directory.
func copyFile(t *testing.T, src, dst string, mode fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// writeTar writes the tree at dir into a tar file at path, as `podman
// import` takes it.
func writeTar(t *testing.T, dir, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatalf("tar %s: %v", dir, err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}
