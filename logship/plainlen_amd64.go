package logship

// plainLen returns how many bytes at the start of s are printable ASCII
// other than '"' and '\\', the bytes a JSON string holds as they are. On
// amd64 it compares sixteen bytes in one instruction (SSE2, which every
// amd64 processor has): the word scan (plainLenWords) was still a fifth of
// tend's CPU in a json console, and a record now formats in half the time.
func plainLen(s []byte) int {
	if len(s) < 16 {
		return plainLenWords(s)
	}
	return plainLenSSE2(s)
}

// plainLenSSE2 is plainLen for s of sixteen bytes or more, in
// plainlen_amd64.s.
//
//go:noescape
func plainLenSSE2(s []byte) int
