package resources

import (
	"context"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"
)

// keepSamples bounds the samples kept per program (one hour at the
// default interval), so memory stays constant however long tend runs.
const keepSamples = 720

// sample is one reading of one program, as rates over the interval
// before it.
type sample struct {
	cpu   float64 // cores
	rss   int64   // bytes
	read  float64 // bytes per second
	write float64 // bytes per second
}

// series is the samples of one program and the last raw reading.
type series struct {
	samples []sample
	next    int
	last    *Usage
	lastAt  time.Time
	peakRSS int64
}

func (s *series) add(x sample) {
	if len(s.samples) < keepSamples {
		s.samples = append(s.samples, x)
	} else {
		s.samples[s.next] = x
		s.next = (s.next + 1) % keepSamples
	}
	s.peakRSS = max(s.peakRSS, x.rss)
}

// Sampler reads the usage of every running program at an interval and
// keeps enough to build a Profile.
type Sampler struct {
	interval time.Duration
	limits   func() Limits
	pids     func() map[string]int

	mu     sync.Mutex
	series map[string]*series
	since  time.Time
}

// NewSampler samples the programs that pids returns (name to PID of the
// running process) every interval; limits is read when a profile is built.
func NewSampler(interval time.Duration, limits func() Limits, pids func() map[string]int) *Sampler {
	return &Sampler{interval: interval, limits: limits, pids: pids, series: map[string]*series{}, since: time.Now()}
}

// Run samples until ctx is done.
func (s *Sampler) Run(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.Sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sample takes one reading of every running program.
func (s *Sampler) Sample(now time.Time) {
	pids := s.pids()
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pid := range pids {
		u := ReadUsage(pid)
		if u == nil {
			continue
		}
		sr := s.series[name]
		if sr == nil {
			sr = &series{}
			s.series[name] = sr
		}
		// A restarted program's counters start again from zero; the first
		// reading after that only sets the base.
		if sr.last != nil && u.CPUSeconds >= sr.last.CPUSeconds {
			dt := now.Sub(sr.lastAt).Seconds()
			if dt > 0 {
				sr.add(sample{
					cpu:   (u.CPUSeconds - sr.last.CPUSeconds) / dt,
					rss:   u.RSSBytes,
					read:  float64(max(u.ReadBytes-sr.last.ReadBytes, 0)) / dt,
					write: float64(max(u.WriteBytes-sr.last.WriteBytes, 0)) / dt,
				})
			}
		}
		sr.last, sr.lastAt = u, now
		sr.peakRSS = max(sr.peakRSS, u.RSSBytes)
	}
}

// ProgramProfile summarises one program's samples.
type ProgramProfile struct {
	Name string `json:"name"`
	// Samples is how many intervals the figures cover.
	Samples int `json:"samples"`
	// CPUAvg, CPUP95 and CPUMax are in cores.
	CPUAvg float64 `json:"cpu_avg_cores"`
	CPUP95 float64 `json:"cpu_p95_cores"`
	CPUMax float64 `json:"cpu_max_cores"`
	// RSSPeak and RSSLast are resident memory in bytes.
	RSSPeak int64 `json:"rss_peak_bytes"`
	RSSLast int64 `json:"rss_last_bytes"`
	// ReadRate and WriteRate are average storage bytes per second.
	ReadRate  float64 `json:"read_bytes_per_second"`
	WriteRate float64 `json:"write_bytes_per_second"`
}

// Profile is the service profile: what the programs used, what bounds
// them, and which Kubernetes requests and limits fit.
type Profile struct {
	// Observed is how long samples have been taken.
	Observed time.Duration    `json:"observed_ns"`
	Limits   Limits           `json:"limits"`
	Programs []ProgramProfile `json:"programs"`
	// Kind is cpu-bound, io-bound, memory-bound, or light.
	Kind string `json:"kind"`
	// Why explains Kind with the figures behind it.
	Why string `json:"why"`
	// Recommendation is for the whole container.
	Recommendation Recommendation `json:"recommendation"`
}

// Recommendation is a Kubernetes resources stanza.
type Recommendation struct {
	CPURequest    string `json:"cpu_request"`
	CPULimit      string `json:"cpu_limit,omitempty"`
	MemoryRequest string `json:"memory_request"`
	MemoryLimit   string `json:"memory_limit"`
	// Notes say what the figures are based on.
	Notes []string `json:"notes"`
}

// Thresholds of the classification.
const (
	cpuBoundShare    = 0.8              // p95 CPU at this share of the quota (or of one core without a quota)
	memoryBoundShare = 0.9              // peak RSS at this share of the memory limit
	ioBoundRate      = 10 * 1024 * 1024 // bytes per second of storage I/O
	ioBoundCPU       = 0.3              // ... while CPU stays under this share of a core
)

// Profile builds the service profile from the samples so far.
func (s *Sampler) Profile() Profile {
	s.mu.Lock()
	defer s.mu.Unlock()
	limits := s.limits()
	p := Profile{Observed: time.Since(s.since), Limits: limits}
	var cpuP95Sum, cpuMaxSum, readSum, writeSum float64
	var rssPeakSum int64
	names := make([]string, 0, len(s.series))
	for n := range s.series {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sr := s.series[name]
		pp := ProgramProfile{Name: name, Samples: len(sr.samples), RSSPeak: sr.peakRSS}
		if sr.last != nil {
			pp.RSSLast = sr.last.RSSBytes
		}
		cpus := make([]float64, len(sr.samples))
		for i, x := range sr.samples {
			cpus[i] = x.cpu
			pp.CPUAvg += x.cpu
			pp.ReadRate += x.read
			pp.WriteRate += x.write
			pp.CPUMax = max(pp.CPUMax, x.cpu)
		}
		if n := float64(len(sr.samples)); n > 0 {
			pp.CPUAvg /= n
			pp.ReadRate /= n
			pp.WriteRate /= n
		}
		pp.CPUP95 = percentile(cpus, 0.95)
		p.Programs = append(p.Programs, pp)
		cpuP95Sum += pp.CPUP95
		cpuMaxSum += pp.CPUMax
		readSum += pp.ReadRate
		writeSum += pp.WriteRate
		rssPeakSum += pp.RSSPeak
	}
	p.Kind, p.Why = classify(limits, cpuP95Sum, rssPeakSum, readSum+writeSum)
	p.Recommendation = recommend(limits, cpuP95Sum, cpuMaxSum, rssPeakSum, p.Observed)
	return p
}

// classify names what bounds the service.
func classify(l Limits, cpuP95 float64, rssPeak int64, ioRate float64) (kind, why string) {
	cpuCap := l.CPUs
	if cpuCap == 0 {
		cpuCap = 1
	}
	switch {
	case l.MemoryBytes > 0 && float64(rssPeak) >= memoryBoundShare*float64(l.MemoryBytes):
		return "memory-bound", fmt.Sprintf("peak RSS %s is %.0f%% of the %s limit", human(rssPeak), 100*float64(rssPeak)/float64(l.MemoryBytes), human(l.MemoryBytes))
	case cpuP95 >= cpuBoundShare*cpuCap:
		return "cpu-bound", fmt.Sprintf("p95 CPU %.2f cores against %.2f available", cpuP95, cpuCap)
	case ioRate >= ioBoundRate && cpuP95 < ioBoundCPU:
		return "io-bound", fmt.Sprintf("storage I/O %s/s while p95 CPU is only %.2f cores", human(int64(ioRate)), cpuP95)
	}
	return "light", fmt.Sprintf("p95 CPU %.2f cores, peak RSS %s, storage I/O %s/s", cpuP95, human(rssPeak), human(int64(ioRate)))
}

// recommend sizes requests and limits: CPU request at the p95 with a
// floor of 100m, a CPU limit only as a cap at twice the observed maximum
// (throttling hurts JVM latency more than it saves), and memory request
// equal to the limit at the peak plus a quarter, rounded up to 64Mi, since
// a JVM's heap does not shrink back to a lower request.
func recommend(l Limits, cpuP95, cpuMax float64, rssPeak int64, observed time.Duration) Recommendation {
	cpuReq := math.Max(0.1, math.Ceil(cpuP95*20)/20)
	mem := int64(float64(rssPeak) * 1.25)
	const step = 64 << 20
	mem = max((mem+step-1)/step*step, step)
	r := Recommendation{
		CPURequest:    fmt.Sprintf("%dm", int(cpuReq*1000)),
		CPULimit:      fmt.Sprintf("%dm", int(math.Max(cpuReq*2, math.Ceil(cpuMax*2*20)/20)*1000)),
		MemoryRequest: fmt.Sprintf("%dMi", mem>>20),
		MemoryLimit:   fmt.Sprintf("%dMi", mem>>20),
	}
	r.Notes = append(r.Notes, fmt.Sprintf("based on %s of samples", observed.Round(time.Second)))
	if observed < 10*time.Minute {
		r.Notes = append(r.Notes, "observe the service under real load for longer before relying on these figures")
	}
	if l.MemoryBytes > 0 && mem > l.MemoryBytes {
		r.Notes = append(r.Notes, "the current memory limit is below the recommendation: expect OOM kills")
	}
	return r
}

// percentile returns the q-quantile of xs (nearest rank); xs is sorted.
func percentile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
