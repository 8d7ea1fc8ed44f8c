package main

import (
	"fmt"
	"os"
	"slices"
	"time"
)

// against times `tend -- true` for two builds of tend, a and b, one start
// of each in turn, n starts each (the order rotated every turn, so that
// each copy starts first, second and third equally often),
// and prints the medians and the median of the paired differences. Two builds a few tens of µs apart
// cannot be told apart by hyperfine's rounds on a shared machine (rounds of
// the same binary spread by a millisecond in a busy hour); starts one by one
// in turn meet the same moments. Both are timed from copies written by
// install, and the first build is also timed against a second copy of
// itself: how a file's pages are cached moves every start of it (see
// install), and the copy's difference is the method's own error.
func against(dir, a, b, truePath string, n int) {
	builds := []struct{ name, path string }{
		{"a: " + a, install(dir, a)},
		{"a again (a second copy of a)", installAs(dir, a, "again")},
		{"b: " + b, installAs(dir, b, "other")},
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer devnull.Close()
	attr := &os.ProcAttr{Files: []*os.File{nil, devnull, devnull}}
	start := func(path string) time.Duration {
		begin := time.Now()
		p, err := os.StartProcess(path, []string{path, "--", truePath}, attr)
		check(err)
		st, err := p.Wait()
		check(err)
		if !st.Success() {
			fail("%s -- true: %v", path, st)
		}
		return time.Since(begin)
	}
	times := make([][]time.Duration, len(builds))
	for i := range 20 { // warm-up
		start(builds[i%len(builds)].path)
	}
	for i := range n {
		for j := range builds {
			k := (j + i) % len(builds)
			times[k] = append(times[k], start(builds[k].path))
		}
	}
	fmt.Printf("## tend -- true, two builds started in turn (%d starts each, %s)\n\n", n, time.Now().Format("2006-01-02 15:04"))
	fmt.Println("| build | median | 25th percentile | 75th percentile | paired difference to a (median) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: |")
	for k, bd := range builds {
		diffs := make([]time.Duration, n)
		for i := range n {
			diffs[i] = times[k][i] - times[0][i]
		}
		s := slices.Clone(times[k])
		slices.Sort(s)
		fmt.Printf("| %s | %.3f ms | %.3f ms | %.3f ms | %+.3f ms |\n", bd.name,
			ms(s[n/2].Seconds()), ms(s[n/4].Seconds()), ms(s[3*n/4].Seconds()), ms(median(diffs).Seconds()))
	}
	fmt.Println("\nb against a is the difference to read; a's second copy against a is the method's error.")
}

// installAs is install under another name, for a second copy in dir.
func installAs(dir, src, suffix string) string {
	sub := dir + "/" + suffix
	check(os.MkdirAll(sub, 0o755))
	return install(sub, src)
}
