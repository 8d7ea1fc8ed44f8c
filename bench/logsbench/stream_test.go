package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// The checks must pass the stream as logsgen writes it and fail on every
// way a logger can get it wrong, naming where.

func TestCheckFileAcceptsLogsgenOutput(t *testing.T) {
	for _, mode := range []string{"lines", "stdio4k", "perline"} {
		out := genOutput(t, "-writer", mode, "-n", "20000")
		if err := checkFile(writeFile(t, out), stream{lines: 20000}); err != nil {
			t.Errorf("-writer %s: %v", mode, err)
		}
	}
}

func TestCheckFileFindsWhatALoggerGetsWrong(t *testing.T) {
	out := genOutput(t, "-n", "20000")
	line := func(i int) []byte { return out[i*lineSize : (i+1)*lineSize] }
	join := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name string
		data []byte
		want string // in the error
	}{
		{"a line lost", join(out[:5000*lineSize], out[5001*lineSize:]), "line 5000"},
		{"two lines swapped", join(out[:700*lineSize], line(701), line(700), out[702*lineSize:]), "line 700"},
		{"a line twice", join(out[:9000*lineSize], line(8999), out[9000*lineSize:]), "line 9000"},
		{"the last line lost", out[:19999*lineSize], "19999 lines"},
		{"the last line cut", out[:len(out)-1], "119 bytes"},
		{"a line added at the end", join(out, []byte("total 20000\n")), "line 20000"},
		{"a line split by a newline", join(out[:300*lineSize+50], []byte("\n"), out[300*lineSize+50:]), "line 300"},
	}
	for _, c := range cases {
		err := checkFile(writeFile(t, c.data), stream{lines: 20000})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want an error naming %q", c.name, err, c.want)
		}
	}
}

func TestCheckJSONFindsALostRecord(t *testing.T) {
	out := genOutput(t, "-n", "3000")
	var records [][]byte
	for i := 0; i < 3000; i++ {
		rec, err := json.Marshal(struct {
			Time    string `json:"time"`
			Program string `json:"program"`
			Stream  string `json:"stream"`
			Message string `json:"message"`
		}{"2026-01-02T03:04:05.123456789Z", "main", "stdout", string(out[i*lineSize : (i+1)*lineSize-1])})
		if err != nil {
			t.Fatal(err)
		}
		records = append(records, append(rec, '\n'))
	}
	whole := bytes.Join(records, nil)
	if err := checkJSON(writeFile(t, whole), stream{lines: 3000}); err != nil {
		t.Fatalf("every record: %v", err)
	}
	lost := bytes.Join(append(append([][]byte{}, records[:1234]...), records[1235:]...), nil)
	if err := checkJSON(writeFile(t, lost), stream{lines: 3000}); err == nil || !strings.Contains(err.Error(), "record 1234") {
		t.Errorf("record 1234 lost: got %v, want an error naming it", err)
	}
	short := bytes.Join(records[:2999], nil)
	if err := checkJSON(writeFile(t, short), stream{lines: 3000}); err == nil || !strings.Contains(err.Error(), "2999 records") {
		t.Errorf("the last record lost: got %v, want an error counting 2999 records", err)
	}
	partial := bytes.Replace(whole, []byte(`"message":"000000000042 xxx`), []byte(`"message":"000000000042 x`), 1)
	if err := checkJSON(writeFile(t, partial), stream{lines: 3000}); err == nil || !strings.Contains(err.Error(), "record 42") {
		t.Errorf("record 42 cut: got %v, want an error naming it", err)
	}
}

func TestFillStreamMatchesLogsgenAtAnyOffset(t *testing.T) {
	out := genOutput(t, "-n", "1000")
	for _, off := range []int64{0, 1, 119, 120, 121, 4096, 65536, 119999 - 300} {
		got := make([]byte, 300)
		fillStream(got, off)
		if !bytes.Equal(got, out[off:off+300]) {
			t.Errorf("offset %d: got %q, want %q", off, got[:40], out[off:off+40])
		}
	}
	if err := expectAt(out[5000:6000], 5000); err != nil {
		t.Errorf("expectAt: %v", err)
	}
	if err := expectAt(out[5000:6000], 5120); err == nil {
		t.Error("expectAt at the wrong offset: no error")
	}
}
