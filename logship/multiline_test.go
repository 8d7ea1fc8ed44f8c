package logship

import (
	"bytes"
	"testing"
)

const javaTrace = "2026-01-02 10:00:00 ERROR request failed\n" +
	"java.lang.IllegalStateException: outer\n" +
	"\tat com.example.Service.handle(Service.java:42)\n" +
	"\tat com.example.Controller.get(Controller.java:17)\n" +
	"\tSuppressed: java.io.IOException: close failed\n" +
	"\t\tat com.example.Res.close(Res.java:9)\n" +
	"Caused by: java.lang.NullPointerException: inner\n" +
	"\tat com.example.Repo.find(Repo.java:88)\n" +
	"\t... 2 more\n" +
	"2026-01-02 10:00:01 INFO next request\n"

func TestMultilineJoinsJavaStackTrace(t *testing.T) {
	for _, reads := range [][]int{nil, {7, 13, 1, 50, 3}} {
		raws, _ := frameAll(t, []byte(javaTrace), reads, 16<<10, "java")
		if len(raws) != 3 {
			t.Fatalf("reads %v: got %d records, want 3: %q", reads, len(raws), raws)
		}
		if !bytes.HasPrefix(raws[1], []byte("java.lang.IllegalStateException")) ||
			!bytes.HasSuffix(raws[1], []byte("\t... 2 more\n")) {
			t.Fatalf("stack trace not joined: %q", raws[1])
		}
		if string(raws[2]) != "2026-01-02 10:00:01 INFO next request\n" {
			t.Fatalf("line after the trace: %q", raws[2])
		}
	}
}

func TestMultilineRespectsSizeLimit(t *testing.T) {
	var in bytes.Buffer
	in.WriteString("Exception\n")
	for i := 0; i < 10000; i++ {
		in.WriteString("\tat com.example.Deep.call(Deep.java:1)\n")
	}
	raws, _ := frameAll(t, in.Bytes(), []int{4096, 4096}, 1024, "java")
	for _, r := range raws {
		if len(r) > joinLimit+1 {
			t.Fatalf("joined record of %d bytes passes the limit %d", len(r), joinLimit)
		}
	}
	if got := bytes.Join(raws, nil); !bytes.Equal(got, in.Bytes()) {
		t.Fatal("joined records do not rebuild the input")
	}
}
