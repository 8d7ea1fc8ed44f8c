// Command libs does nothing but link every package outside tend that tend
// imports (the standard library's and its modules'): bench/startup times
// it beside an empty Go program and `tend version` to split the start-up
// cost of tend's binary between the packages it uses and its own.
package main

import (
	_ "bufio"
	_ "bytes"
	_ "compress/gzip"
	_ "context"
	_ "crypto/rand"
	_ "crypto/sha512"
	_ "crypto/tls"
	_ "crypto/x509"
	_ "encoding/base64"
	_ "encoding/binary"
	_ "encoding/hex"
	_ "encoding/json"
	_ "errors"
	_ "fmt"
	_ "hash/crc32"
	_ "io"
	_ "io/fs"
	_ "iter"
	_ "math"
	_ "math/bits"
	_ "math/rand/v2"
	_ "net"
	_ "net/http"
	_ "net/netip"
	_ "net/url"
	_ "os"
	_ "os/signal"
	_ "os/user"
	_ "path/filepath"
	_ "runtime"
	_ "runtime/debug"
	_ "slices"
	_ "sort"
	_ "strconv"
	_ "strings"
	_ "sync"
	_ "sync/atomic"
	_ "syscall"
	_ "text/tabwriter"
	_ "time"
	_ "unicode"
	_ "unicode/utf8"
	_ "unsafe"

	_ "github.com/fsnotify/fsnotify"
	_ "go.uber.org/zap"
	_ "go.uber.org/zap/zapcore"
	_ "golang.org/x/sys/unix"
)

func main() {}
