package config

import (
	"fmt"
	"strings"
)

// Error is one invalid input: where it is (a variable name or file:line),
// the value seen, what was wrong, the expected form and, for a misspelt
// name, the nearest valid one.
type Error struct {
	// Where is a variable such as "TEND_STOP_TIMEOUT" or "/etc/tend/conf.d/a.conf:3".
	Where string
	// Value is the value seen.
	Value string
	// Problem says what is wrong.
	Problem string
	// Expected describes the valid form ("" when not applicable).
	Expected string
	// Suggest is the nearest valid name, for typos ("" when none).
	Suggest string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Where)
	if e.Value != "" || e.Expected != "" {
		fmt.Fprintf(&b, "=%q", e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Problem)
	if e.Expected != "" {
		b.WriteString("; expected ")
		b.WriteString(e.Expected)
	}
	if e.Suggest != "" {
		fmt.Fprintf(&b, "; did you mean %s?", e.Suggest)
	}
	return b.String()
}

// Errors is every invalid input found in one Load, in the order found.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

func (es *Errors) add(e *Error) { *es = append(*es, e) }

// nearest returns the candidate closest to name by edit distance, or ""
// when none is close enough to be a plausible typo.
func nearest(name string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToUpper(name), strings.ToUpper(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := len(name)/3 + 1
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
