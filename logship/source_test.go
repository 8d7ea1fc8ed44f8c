package logship

import (
	"testing"

	"tend/config"
)

func TestSourceOfInheritsAndOverrides(t *testing.T) {
	log := config.Log{Rate: 1000, Burst: 5000, Multiline: "java"}
	inherit := config.Program{Name: "main", LogRate: -1, LogBurst: -1, LogMultiline: "-"}
	if got := SourceOf(log, inherit); got != (Source{Program: "main", Rate: 1000, Burst: 5000, Multiline: "java"}) {
		t.Fatalf("inherit: %+v", got)
	}
	own := config.Program{Name: "agent", LogRate: 0, LogBurst: 10, LogMultiline: ""}
	if got := SourceOf(log, own); got != (Source{Program: "agent", Rate: 0, Burst: 10, Multiline: ""}) {
		t.Fatalf("override: %+v", got)
	}
}
