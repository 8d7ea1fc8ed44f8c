package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// writesTable prints how each writer cuts its lines into write(2) calls,
// as seen at the other end of a socket that keeps each write whole.
func writesTable(b *bench, ws []writer, s stream) {
	fmt.Printf("### The writers: their write(2) calls for %d lines (%d bytes)\n\n", s.lines, s.size())
	fmt.Println("| writer | stands for | writes | sizes | writes ending on a newline |")
	fmt.Println("| --- | --- | ---: | --- | ---: |")
	for _, w := range ws {
		st, err := measureWrites(w.argv(b, s.lines), s)
		if err != nil {
			fmt.Printf("| %s | %s | FAILED: %v | | |\n", w.name, w.models, err)
			continue
		}
		fmt.Printf("| %s | %s | %d | %s | %.0f%% |\n", w.name, w.models, st.writes, st, 100*float64(st.unsplit)/float64(st.writes))
	}
	fmt.Println()
}

// summary is the medians of one cell's runs.
type summary struct {
	wall, lo, hi time.Duration
	cpu          time.Duration // -1: no logger
	rss          int64
	check        string
	failed       int
	firstErr     error
	ok           bool // at least one run succeeded
}

// summarize takes the median of each figure over the runs that succeeded.
func summarize(rs []result) summary {
	var s summary
	var walls, cpus []time.Duration
	var rsss []int64
	for _, r := range rs {
		if r.err != nil {
			s.failed++
			if s.firstErr == nil {
				s.firstErr = r.err
			}
			continue
		}
		walls = append(walls, r.wall)
		cpus = append(cpus, r.cpu)
		rsss = append(rsss, r.rss)
		s.check = r.check
	}
	if len(walls) == 0 {
		return s
	}
	s.ok = true
	slices.Sort(walls)
	slices.Sort(cpus)
	slices.Sort(rsss)
	s.wall, s.lo, s.hi = walls[len(walls)/2], walls[0], walls[len(walls)-1]
	s.cpu, s.rss = cpus[len(cpus)/2], rsss[len(rsss)/2]
	return s
}

// medianOf returns the median of v (the mean of the middle two when even).
func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 0 {
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return v[len(v)/2]
}

// writeCSV writes every run of the matrix, one line each.
func (m *matrix) writeCSV(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	fmt.Fprintln(f, "matrix,writer,case,round,wall_s,logger_cpu_s,logger_peak_rss_kib,error")
	for wi, w := range m.writers {
		for li, l := range m.loggers {
			for r, res := range m.results[[2]int{wi, li}] {
				errText := ""
				if res.err != nil {
					errText = strconv.Quote(res.err.Error())
				}
				fmt.Fprintf(f, "%s,%s,%s,%d,%.4f,%.2f,%d,%s\n", m.title, w.name, l.key, r+1, res.wall.Seconds(), res.cpu.Seconds(), res.rss, errText)
			}
		}
	}
	return f.Close()
}

// report prints the matrix: every cell in full, then the ratios to cat and
// the CPU per GiB as writer-by-case grids.
func (m *matrix) report() {
	gib := float64(m.stream.size()) / (1 << 30)
	catIdx := slices.IndexFunc(m.loggers, func(l logger) bool { return l.key == "cat" })
	sums := map[[2]int]summary{}
	for k, rs := range m.results {
		sums[k] = summarize(rs)
	}
	// A ratio to cat is the median of the ratios within each round: cat
	// and the case ran minutes apart at most, with the same writer, so a
	// busy spell on the machine that slows both cancels out.
	vsCat := func(w, l int) (float64, float64, bool) {
		if catIdx < 0 {
			return 0, 0, false
		}
		cats, cells := m.results[[2]int{w, catIdx}], m.results[[2]int{w, l}]
		var walls, cpus []float64
		for r := range min(len(cats), len(cells)) {
			if cats[r].err != nil || cells[r].err != nil {
				continue
			}
			walls = append(walls, cats[r].wall.Seconds()/cells[r].wall.Seconds())
			if cats[r].cpu > 0 {
				cpus = append(cpus, cells[r].cpu.Seconds()/cats[r].cpu.Seconds())
			}
		}
		if len(walls) == 0 {
			return 0, 0, false
		}
		cpuRatio := -1.0 // cat used less than a clock tick
		if len(cpus) > 0 {
			cpuRatio = medianOf(cpus)
		}
		return medianOf(walls), cpuRatio, true
	}

	fmt.Printf("### %s: %s of 120-byte lines per run (%d lines)\n\n", m.title, m.sizeText, m.stream.lines)
	fmt.Printf("Median of %d runs per cell, cells interleaved; ratios to cat are medians of the ratios within a round; load average %s.\n\n", m.runs, m.load)
	fmt.Println("| writer | case | wall s | min–max s | MB/s | throughput vs cat | logger CPU s per GiB | CPU vs cat | logger peak RSS MiB | output checked |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
	var failures []string
	for wi, w := range m.writers {
		for li, l := range m.loggers {
			s := sums[[2]int{wi, li}]
			if s.failed > 0 {
				failures = append(failures, fmt.Sprintf("- %s through %s: %d of %d runs failed; the first: %v", w.name, l.key, s.failed, m.runs, s.firstErr))
			}
			if !s.ok {
				fmt.Printf("| %s | %s | FAILED | | | | | | | every run: see below |\n", w.name, l.name)
				continue
			}
			ratio, cpuRatio := "—", "—"
			if r, c, ok := vsCat(wi, li); ok {
				ratio = fmt.Sprintf("%.2f", r)
				if s.cpu >= 0 && c >= 0 {
					cpuRatio = fmt.Sprintf("%.2f", c)
				}
			}
			cpu := "—"
			if s.cpu >= 0 {
				cpu = fmt.Sprintf("%.2f", s.cpu.Seconds()/gib)
			}
			rss := "—"
			if s.rss > 0 {
				rss = fmt.Sprintf("%.1f", float64(s.rss)/1024)
			}
			checked := s.check
			if s.failed > 0 {
				checked = fmt.Sprintf("**FAILED in %d of %d runs**", s.failed, m.runs)
			}
			fmt.Printf("| %s | %s | %.2f | %.2f–%.2f | %.0f | %s | %s | %s | %s | %s |\n",
				w.name, l.name, s.wall.Seconds(), s.lo.Seconds(), s.hi.Seconds(),
				float64(m.stream.size())/s.wall.Seconds()/1e6, ratio, cpu, cpuRatio, rss, checked)
		}
	}
	fmt.Println()
	if len(failures) > 0 {
		fmt.Println("Runs whose output was wrong or that failed (not in the medians):")
		fmt.Println()
		fmt.Println(strings.Join(failures, "\n"))
		fmt.Println()
	}

	grid := func(title string, cell func(wi, li int, s summary) string) {
		fmt.Printf("%s\n\n| writer |", title)
		for _, l := range m.loggers {
			fmt.Printf(" %s |", l.key)
		}
		fmt.Print("\n| --- |")
		for range m.loggers {
			fmt.Print(" ---: |")
		}
		fmt.Println()
		for wi, w := range m.writers {
			fmt.Printf("| %s |", w.name)
			for li := range m.loggers {
				s := sums[[2]int{wi, li}]
				v := "FAILED"
				if s.ok {
					v = cell(wi, li, s)
				}
				fmt.Printf(" %s |", v)
			}
			fmt.Println()
		}
		fmt.Println()
	}
	if catIdx >= 0 {
		grid(fmt.Sprintf("Throughput as a ratio to `writer | cat > file` with the same writer (%s):", m.sizeText), func(wi, li int, s summary) string {
			r, _, ok := vsCat(wi, li)
			if !ok {
				return "—"
			}
			return fmt.Sprintf("%.2f", r)
		})
	}
	grid(fmt.Sprintf("The logger's own CPU seconds per GiB (%s):", m.sizeText), func(wi, li int, s summary) string {
		if s.cpu < 0 {
			return "—"
		}
		return fmt.Sprintf("%.2f", s.cpu.Seconds()/gib)
	})
	fmt.Fprintln(os.Stderr, "logsbench:", m.title, "done")
}
