package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// MaxConfFile bounds the size of one conf.d file.
const MaxConfFile = 16 << 20

// openRegular opens path for reading when it is a regular file, or a
// symbolic link to one. It never blocks: a named pipe is opened without
// waiting for a writer (O_NONBLOCK), then refused, as is a device, a
// socket or a directory.
func openRegular(path string) (*os.File, error) {
	fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("cannot read: %w", err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("not a regular file but a %s", DescribeMode(st.Mode()))
	}
	if st.Size() > MaxConfFile {
		fh.Close()
		return nil, fmt.Errorf("file of %s, more than the limit of %s", FormatSize(st.Size()), FormatSize(MaxConfFile))
	}
	return fh, nil
}

// DescribeMode names the type of a file for messages, such as
// "named pipe (FIFO)".
func DescribeMode(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m.IsRegular():
		return "regular file"
	case m&fs.ModeSymlink != 0:
		return "symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	}
	return m.Type().String()
}

// checkPaths checks the paths tend will create at start against the
// filesystem as it is now, so that `tend check` reports what would make
// the start fail. It only looks: it creates nothing.
func (b *builder) checkPaths() {
	c := &b.cfg
	// A value already refused left the default in place: checking that
	// would report a path the user never gave.
	if c.Log.Dir != "" && !b.failed(Prefix+"LOG_DIR") {
		if err := checkLogDir(c.Log.Dir); err != nil {
			b.fail(Prefix+"LOG_DIR", c.Log.Dir, err.Error(), "a directory tend can write, or one it can create")
		}
	}
	if len(c.Log.Watch) > 0 && !b.failed(Prefix+"LOG_WATCH") {
		b.checkWatch()
	}
	if !b.failed(Prefix + "SOCKET") {
		err := checkSocketPath(c.Admin.Socket)
		switch {
		case errors.Is(err, errNoDirectory) && !b.given["SOCKET"]:
			// The default must not stop a start: an image without /run
			// runs, without control commands, as it always did.
			b.cfg.Warnings = append(b.cfg.Warnings, fmt.Sprintf(
				"%sSOCKET is unset and its default %s cannot be created (%v): the control commands will be unavailable; set %sSOCKET",
				Prefix, c.Admin.Socket, err, Prefix))
		case err != nil:
			b.fail(Prefix+"SOCKET", c.Admin.Socket, err.Error(), formSocket)
		}
	}
}

// failed reports whether an error names where already.
func (b *builder) failed(where string) bool {
	for _, e := range b.errs {
		if e.Where == where {
			return true
		}
	}
	return false
}

// formSocket describes a valid control socket path.
const formSocket = "an absolute path of at most 107 bytes, in an existing directory, where nothing but a stale socket is"

// checkLogDir reports why dir cannot hold tend's log files: it is not a
// directory, it cannot be written, or it is missing and cannot be created
// because of what its nearest existing ancestor is.
func checkLogDir(dir string) error {
	st, err := os.Stat(dir)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is a %s, not a directory", dir, DescribeMode(st.Mode()))
		}
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			return fmt.Errorf("directory %s cannot be written: %w", dir, err)
		}
		return nil
	}
	if !missing(err) {
		return fmt.Errorf("cannot look at %s: %w", dir, err)
	}
	// Missing: tend creates it and its parents, starting below the nearest
	// ancestor that exists.
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err == nil {
			if !st.IsDir() {
				return fmt.Errorf("cannot be created: %s is a %s, not a directory", p, DescribeMode(st.Mode()))
			}
			if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
				return fmt.Errorf("cannot be created in %s: %w", p, err)
			}
			return nil
		}
		if !missing(err) {
			return fmt.Errorf("cannot be created: cannot look at %s: %w", p, err)
		}
		if p == "/" {
			return nil
		}
	}
}

// missing reports whether err says a path does not exist, including
// ENOTDIR: a parent in the path is a file (checkLogDir then says which).
func missing(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// errNoDirectory says that the directory of a socket path does not exist.
var errNoDirectory = errors.New("does not exist")

// checkSocketPath reports why tend could not create its control socket at
// path: the path is too long for a unix socket address, its directory is
// missing, or something other than a socket is there. Whether another
// tend answers on a socket found there is for the caller to find out
// (package admin): config does not connect to anything.
func checkSocketPath(path string) error {
	if len(path) > MaxSocketPath {
		return fmt.Errorf("path of %d bytes, more than the %d a unix socket address holds", len(path), MaxSocketPath)
	}
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	switch {
	case missing(err):
		return fmt.Errorf("directory %s %w", dir, errNoDirectory)
	case err != nil:
		return fmt.Errorf("cannot look at %s: %w", dir, err)
	case !st.IsDir():
		return fmt.Errorf("%s is a %s, not a directory", dir, DescribeMode(st.Mode()))
	}
	st, err = os.Lstat(path)
	switch {
	case missing(err):
		return nil
	case err != nil:
		return fmt.Errorf("cannot look at %s: %w", path, err)
	case st.Mode().Type() != fs.ModeSocket:
		return fmt.Errorf("%s is a %s, not a socket; tend replaces nothing but a stale socket", path, DescribeMode(st.Mode()))
	}
	return nil
}
