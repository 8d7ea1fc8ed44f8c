module tend

go 1.26.8

require (
	github.com/fsnotify/fsnotify v1.10.1
	github.com/tinylib/msgp v1.3.0
	go.uber.org/zap v1.28.0
	golang.org/x/sys v0.50.0
)

require (
	github.com/philhofer/fwd v1.2.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
)
