//go:build !amd64

package logship

// plainLen returns how many bytes at the start of s are printable ASCII
// other than '"' and '\\', the bytes a JSON string holds as they are.
func plainLen(s []byte) int { return plainLenWords(s) }

// appendPlain appends the bytes at the start of s that plainLen counts
// to dst, and returns dst and how many bytes that is.
func appendPlain(dst, s []byte) ([]byte, int) {
	n := plainLen(s)
	return append(dst, s[:n]...), n
}

// appendJSONLines formats nothing on other processors: AppendJSONNext
// formats every line.
func appendJSONLines(dst, start, rest []byte, limit int) ([]byte, []byte, bool) {
	return dst, rest, true
}
