package logship

import "tend/config"

// SourceOf resolves a program's log settings against the global ones:
// a program's LogRate and LogBurst of -1, and LogMultiline of "-", inherit
// the global value.
func SourceOf(log config.Log, p config.Program) Source {
	src := Source{Program: p.Name, Rate: log.Rate, Burst: log.Burst, Multiline: log.Multiline}
	if p.LogRate >= 0 {
		src.Rate = p.LogRate
	}
	if p.LogBurst >= 0 {
		src.Burst = p.LogBurst
	}
	if p.LogMultiline != "-" {
		src.Multiline = p.LogMultiline
	}
	return src
}
