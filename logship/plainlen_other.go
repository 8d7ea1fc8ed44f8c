//go:build !amd64

package logship

// plainLen returns how many bytes at the start of s are printable ASCII
// other than '"' and '\\', the bytes a JSON string holds as they are.
func plainLen(s []byte) int { return plainLenWords(s) }
