// Package tests holds tend's end-to-end tests: each one builds the real
// binary, runs real processes under it, and asserts what a user would look
// at (exit codes, bytes on stdout, signals received, processes left over).
//
// # Harness
//
// harness_test.go builds, once per `go test` run and only when a test asks
// for it, a static tend binary (CGO_ENABLED=0, -trimpath, like `make build`)
// and every helper program under tests/helpers/ into one temporary
// directory. The helpers are small test programs:
//
//   - sigrecorder: records every signal it receives, one name per line,
//     and exits on the signals given with -exit-on;
//   - orphanmaker: double-forks N short-lived processes so that they become
//     orphans of whatever reaps for the namespace, then reports on them;
//   - nonreaper: runs one command and waits for it alone; as PID 1 of a
//     namespace it is an init that never reaps orphans.
//
// A new helper is a directory tests/helpers/NAME with a main package; it is
// built with the others and found with helperPath(t, "NAME"). tend's PATH
// starts with the helper directory, so a main program can name a helper
// without a path.
//
// startTend(t, tendOptions{...}) runs tend with a hermetic environment (no
// inherited TEND_ variable, an empty TEND_CONFIG_DIR, a private
// TEND_SOCKET), either directly or, with PID1 set, as PID 1 of a new PID
// namespace through `unshare --pid --fork --mount-proc` (root only). The
// returned handle captures stdout and stderr, finds tend's PID as the test
// sees it, signals tend, and waits for its exit code. Everything it started
// is killed when the test ends.
//
// requireRoot and requireJava skip a test when root or a JDK is missing,
// and fail it instead when the environment variable CI is "true", so that
// CI never passes by skipping.
//
// # Running
//
//	make test                          # the whole suite, with -race
//	go test -run TestExitCode ./tests  # one group
//	make fuzz                          # short runs of the fuzz targets
package tests
