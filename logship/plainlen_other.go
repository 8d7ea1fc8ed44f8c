//go:build !amd64

package logship

// appendPlain appends the bytes at the start of s that a JSON string
// holds as they are to dst, and returns dst and how many bytes that is.
func appendPlain(dst, s []byte) ([]byte, int) {
	n := plainLenWords(s)
	return append(dst, s[:n]...), n
}

// appendJSONLines formats nothing on other processors: AppendJSONNext
// formats every line. It reports a stop at a byte to escape, so that a
// caller asks no more for the run.
func appendJSONLines(dst, start, rest []byte, limit int) ([]byte, []byte, bool) {
	return dst, rest, true
}
