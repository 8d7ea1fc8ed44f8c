// Command emptygo does nothing: bench/startup builds it as tend is built
// (static, stripped) and times it beside tend, as the floor that the Go
// runtime's own start and exit set under any Go program.
package main

func main() {}
