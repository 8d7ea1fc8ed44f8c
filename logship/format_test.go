package logship

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

type jsonRecord struct {
	Time    string `json:"time"`
	Program string `json:"program"`
	Stream  string `json:"stream"`
	Message string `json:"message"`
	Partial bool   `json:"partial"`
	Tend    bool   `json:"tend"`
}

func FuzzJSONEscape(f *testing.F) {
	f.Add([]byte("plain text"))
	f.Add([]byte("quote \" backslash \\ tab \t nl \n cr \r nul \x00 bell \x07"))
	f.Add([]byte{0xff, 'a', 0xc3, 0x28, 0xe2, 0x82})
	f.Add([]byte("héllo wörld ✓ \u2028 😀"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		ts := AppendTime(nil, time.Unix(1700000000, 123456789))
		line := AppendJSONRecord(nil, ts, "main", Stderr, msg, true, false)
		if line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
			t.Fatalf("not one line: %q", line)
		}
		var r jsonRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("does not parse: %v: %q", err, line)
		}
		if r.Program != "main" || r.Stream != "stderr" || !r.Partial {
			t.Fatalf("fields wrong: %+v", r)
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Time); err != nil {
			t.Fatalf("time %q: %v", r.Time, err)
		}
		want := string(msg)
		if !utf8.Valid(msg) {
			// Each invalid byte becomes one U+FFFD.
			want = replaceInvalid(msg)
		}
		if r.Message != want {
			t.Fatalf("message %q, want %q", r.Message, want)
		}
	})
}

// replaceInvalid replaces each byte that is not part of valid UTF-8 with
// U+FFFD, the way encoding/json does.
func replaceInvalid(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.Write(b[:n])
		}
		b = b[n:]
	}
	return sb.String()
}

func TestPrefixFormatPrefixesEveryLineOfAJoinedRecord(t *testing.T) {
	got := string(AppendPrefixed(nil, "main", []byte("boom\n\tat x.y(Z.java:1)")))
	want := "main | boom\nmain | \tat x.y(Z.java:1)\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestDroppedMarkerText(t *testing.T) {
	got := string(AppendDropped(nil, "agent", Drops{Lines: 2, Bytes: 20}, LostBudget|LostNoSpace))
	if got != "dropped 2 lines (20 bytes) from agent (disk budget, disk full)" {
		t.Fatal(got)
	}
}
