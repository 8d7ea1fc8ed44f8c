// Command http does nothing but link crypto/tls and net/http, as tend
// does for its admin HTTP server and HTTP hooks: bench/startup times it
// beside an empty Go program to show what their initialisation costs each
// start.
package main

import (
	_ "crypto/tls"
	_ "net/http"
)

func main() {}
