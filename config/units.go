package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// sizeUnits maps a lower-cased unit suffix to its multiplier. Suffixes with
// an "i" are powers of 1024 (KiB, Mi), the others powers of 1000 (KB, M), as
// Kubernetes quantities and IEC units mean them. A bare number is bytes.
var sizeUnits = map[string]int64{
	"":    1,
	"b":   1,
	"k":   1000,
	"kb":  1000,
	"ki":  1 << 10,
	"kib": 1 << 10,
	"m":   1000 * 1000,
	"mb":  1000 * 1000,
	"mi":  1 << 20,
	"mib": 1 << 20,
	"g":   1000 * 1000 * 1000,
	"gb":  1000 * 1000 * 1000,
	"gi":  1 << 30,
	"gib": 1 << 30,
	"t":   1000 * 1000 * 1000 * 1000,
	"tb":  1000 * 1000 * 1000 * 1000,
	"ti":  1 << 40,
	"tib": 1 << 40,
}

// SizeForm describes the accepted size syntax for error messages.
const SizeForm = "a size such as 512KiB, 50MiB, 1GB or a plain number of bytes"

// DurationForm describes the accepted duration syntax for error messages.
const DurationForm = "a duration such as 10s, 1m30s, 250ms or a plain number of seconds"

// ParseSize parses a byte size such as "512KiB", "50MiB", "1GB", "1.5Gi" or
// "1024". It rejects negative values, unknown units and values that do not
// fit in an int64.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty size")
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	if num == "" {
		if strings.HasPrefix(t, "-") {
			return 0, fmt.Errorf("negative size %q", s)
		}
		return 0, fmt.Errorf("no number in %q", s)
	}
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q in %q", t[i:], s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("number out of range in %q", s)
		}
		if n > math.MaxInt64/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad number in %q", s)
	}
	v := f * float64(mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

// FormatSize renders n bytes with the largest binary unit that divides it
// evenly, so that ParseSize(FormatSize(n)) == n.
func FormatSize(n int64) string {
	units := []struct {
		suffix string
		mult   int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}}
	if n == 0 {
		return "0"
	}
	for _, u := range units {
		if n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseDuration parses Go duration syntax ("1m30s", "250ms") or a plain,
// possibly fractional, number of seconds ("10", "0.5"). Negative durations
// are rejected.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	if f, err := strconv.ParseFloat(t, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f*float64(time.Second) >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is out of range", s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("negative duration %q", s)
	}
	return d, nil
}
