// Command tls does nothing but link crypto/tls, as tend does for Fluentd
// over TLS and HTTPS hooks: bench/startup times it beside an empty Go
// program to show what the package's initialisation costs each start.
package main

import _ "crypto/tls"

func main() {}
