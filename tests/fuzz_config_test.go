package tests

import (
	"strings"
	"testing"
	"time"

	"tend/config"
)

// These fuzz targets check the size and duration parsers of package config
// through its exported functions. Run one with, for example:
//
//	go test -run '^$' -fuzz '^FuzzParseSize$' -fuzztime 30s ./tests
//
// As plain tests (go test) they run their seed corpus only.

// FuzzParseSize: ParseSize never panics, never returns a negative size,
// and what it accepts survives FormatSize and ParseSize again.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{
		"0", "1", "512KiB", "50MiB", "1GB", "1.5Gi", "1024", " 5 MiB ", "5XB", "-1", "",
		"9223372036854775807", "9223372036854775808", "8Ei", "8191Ti", "8388608Ti",
		"0.0000001k", ".5k", "1.", ".", "1e3", "NaN", "Inf", "1..2M", "1ki", "1KIB", "١٢",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := config.ParseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d, a negative size", s, n)
		}
		back, err := config.ParseSize(config.FormatSize(n))
		if err != nil || back != n {
			t.Fatalf("ParseSize(%q) = %d, formatted %q, parsed back as %d (err %v)", s, n, config.FormatSize(n), back, err)
		}
	})
}

// FuzzFormatSizeRoundTrip: for every n >= 0, ParseSize(FormatSize(n)) == n.
func FuzzFormatSizeRoundTrip(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 1 << 20, 3 << 30, 1 << 40, 5 << 40, 1<<62 + 1, 1<<63 - 1, -1} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 {
			return
		}
		s := config.FormatSize(n)
		back, err := config.ParseSize(s)
		if err != nil || back != n {
			t.Fatalf("FormatSize(%d) = %q, parsed back as %d (err %v)", n, s, back, err)
		}
	})
}

// FuzzParseDuration: ParseDuration never panics, never returns a negative
// duration, and a duration it accepts in Go syntax comes back unchanged
// through Duration.String and ParseDuration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"0", "10", "0.5", "10s", "1m30s", "250ms", "1h", "-5s", "-0", "+5s", "", " 7 ",
		"10y", "1.5.s", "9223372036854775807ns", "9223372036854775808ns", "2562047h", "2562048h",
		"1e9", "9.3e9", "NaN", "Inf", "+Inf", "0x10", "1_000", "1µs", "1us", ".5s", "5.s",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := config.ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %v, a negative duration", s, d)
		}
		back, err := config.ParseDuration(d.String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, formatted %q, parsed back as %v (err %v)", s, d, d.String(), back, err)
		}
		// Go syntax means what time.ParseDuration says it means.
		if goD, goErr := time.ParseDuration(strings.TrimSpace(s)); goErr == nil && goD != d {
			t.Fatalf("ParseDuration(%q) = %v, but Go syntax says %v", s, d, goD)
		}
	})
}
