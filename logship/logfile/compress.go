package logfile

import (
	"compress/gzip"
	"errors"
	"io"
	"os"

	"go.uber.org/zap"

	"tend/budget"
)

// A rotated file is compressed in the background, into <name>.gz next to
// it, while the live file goes on; the .gz replaces the plain file only
// once it is complete and synced. Rotation waits for the previous
// compression before it shifts names. The compressed bytes are reserved in
// the disk budget as they are written; when the budget refuses them the
// compression is abandoned and the plain file kept.

// zipResult is the outcome of compressing src.
type zipResult struct {
	src, dst *budget.Entry
	ok       bool
}

var errZipStopped = errors.New("compression stopped at shutdown")

func (w *writer) startZip(src *budget.Entry) {
	ch := make(chan zipResult, 1)
	w.zipping = ch
	srcPath := src.Path()
	go func() { ch <- w.zip(src, srcPath, srcPath+".gz") }()
}

func (w *writer) zip(src *budget.Entry, srcPath, dstPath string) zipResult {
	fail := func(err error) zipResult {
		if !errors.Is(err, errZipStopped) {
			w.s.log.Warn("compressing rotated log file", zap.String("file", srcPath), zap.Error(err))
		}
		return zipResult{src: src}
	}
	in, err := os.Open(srcPath)
	if err != nil {
		return fail(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dstPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fail(err)
	}
	dst := w.s.budget.Track(w.prog.Name, dstPath, 0)
	zw, _ := gzip.NewWriterLevel(&budgetWriter{f: out, e: dst, stop: w.s.stopZip}, gzip.BestSpeed)
	_, err = io.Copy(zw, in)
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		dst.Remove()
		return fail(err)
	}
	if !dst.Replace(src) {
		return zipResult{src: src}
	}
	return zipResult{src: src, dst: dst, ok: true}
}

// waitZip waits for the running compression and puts its result in place.
func (w *writer) waitZip() {
	if w.zipping == nil {
		return
	}
	r := <-w.zipping
	w.zipping = nil
	if !r.ok {
		return
	}
	for i := range w.rotated {
		if w.rotated[i].e == r.src {
			w.rotated[i] = rotatedFile{e: r.dst, gz: true}
		}
	}
}

// budgetWriter writes to a file after reserving the bytes in the budget.
type budgetWriter struct {
	f    *os.File
	e    *budget.Entry
	stop <-chan struct{}
}

func (bw *budgetWriter) Write(p []byte) (int, error) {
	select {
	case <-bw.stop:
		return 0, errZipStopped
	default:
	}
	if err := bw.e.Reserve(int64(len(p))); err != nil {
		return 0, err
	}
	n, err := bw.f.Write(p)
	if n < len(p) {
		bw.e.Unreserve(int64(len(p) - n))
	}
	return n, err
}
