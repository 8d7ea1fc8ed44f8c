package main

import (
	"path/filepath"
	"strconv"
)

// writer is a program that writes the stream, cut into write(2) calls the
// way one kind of real program cuts its output.
type writer struct {
	name   string
	models string // the real programs that write this way
	java   bool   // needs the compiled bench/java/Writer.java
	args   []string
}

// writers are every writer, in the tables' order. The Go ones are
// bench/logsgen's -writer modes; the JVM ones run bench/java/Writer.java.
var writers = []writer{
	{name: "lines", models: "whole lines in ~64 KiB runs (the earlier benchmark)", args: []string{"-writer", "lines"}},
	{name: "bufio64k", models: "Go program, bufio.Writer of 64 KiB", args: []string{"-writer", "bufio64k"}},
	{name: "java8k", models: "JVM PrintWriter over a BufferedWriter (8 KiB)", args: []string{"-writer", "java8k"}},
	{name: "stdio4k", models: "C stdio, stdout a pipe (4 KiB buffer)", args: []string{"-writer", "stdio4k"}},
	{name: "perline", models: "one write per line (System.out.println, logback console)", args: []string{"-writer", "perline"}},
	{name: "jvm", models: "a real JVM: System.out.println in a loop", java: true, args: []string{"println"}},
	{name: "jvm-printwriter", models: "a real JVM: PrintWriter over a BufferedWriter on stdout", java: true, args: []string{"printwriter"}},
}

// argv is the command line that writes lines lines.
func (w writer) argv(b *bench, lines int64) []string {
	n := strconv.FormatInt(lines, 10)
	if w.java {
		return append([]string{"java", "-cp", b.javaDir, "Writer", n}, w.args...)
	}
	return append([]string{b.gen, "-n", n}, w.args...)
}

// javaClasses is where bench/logs.sh compiles bench/java/Writer.java.
var javaClasses = filepath.Join("bin", "bench-java")
