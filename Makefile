# tend: build, test, benchmark and lint.
#
#   make build     static, stripped bin/tend with the version from git
#   make test      every test, with the race detector (the command CI runs)
#   make bench     Go benchmarks; start-up, idle memory and size against peers;
#                  the idle cost of watching 50,000 files and auto with 10,000
#                  open; 1 GiB of log lines from each kind of writer through
#                  tend against cat, then 128 MiB against s6-log, svlogd, tini
#                  and supervisord (LOGSBENCH_FLAGS=-quick: 128 MiB for all)
#   make lint      gofmt, go vet, staticcheck
#   make example   compile examples/java and run it under bin/tend
#   make fuzz      short runs of every fuzz target
#   make clean     remove what the targets above build

GO          ?= go
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME    ?= 20s
JAVA_BUILD  := examples/java/build
LOGSBENCH_FLAGS ?=
# nethttpomithttp2 leaves HTTP/2 out of net/http: tend's HTTP endpoints,
# probes and hooks speak HTTP/1.1, and HTTP/2's package initialization
# costs every start of tend (and 0.5 MiB). tests/ and bench/startup build
# the same way (tests/build_test.go checks that they agree).
TAGS        := nethttpomithttp2

.PHONY: build test bench lint example fuzz clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -tags $(TAGS) -ldflags "-s -w -X main.version=$(VERSION)" -o bin/tend ./cmd/tend

# Packages are tested one at a time (-p 1): the end-to-end tests time
# tend's reactions (a stop inside its budget, a heap dump cut within
# milliseconds), and another package's tests running beside them (a GiB of
# log lines, floods) starved tend for seconds on a 2-CPU machine. Each
# package's own tests still run in parallel.
test:
	$(GO) test -race -count=1 -p 1 -timeout 15m ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./...
	bench/startup.sh bin/tend
	$(GO) run ./bench/idlewatch -tend bin/tend
	$(GO) run ./bench/idlewatch -tend bin/tend -cases busy -rate -1 -window 30s
	bench/logs.sh bin/tend -- $(LOGSBENCH_FLAGS)

lint:
	@out=$$(gofmt -l .); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

example: build
	rm -rf $(JAVA_BUILD)
	mkdir -p $(JAVA_BUILD)
	javac -d $(JAVA_BUILD) examples/java/src/*.java
	@echo "tend runs the example on :8080 (admin on :9090: /readyz, /status, /metrics)."
	@echo "Try: curl localhost:8080/slow; TEND_SOCKET=$(CURDIR)/bin/tend.sock bin/tend status. Ctrl-C drains and stops."
	@# stdin is /dev/null so that tend, not the JVM, gets the terminal's Ctrl-C
	@# and drains; the JVM exits 143 after the TERM, mapped to 0.
	TEND_CONFIG_DIR=$(CURDIR)/examples/java TEND_SOCKET=$(CURDIR)/bin/tend.sock \
	TEND_HTTP_ADDR=127.0.0.1:9090 TEND_LOG_FORMAT=prefix TEND_EVENT_LEVEL=info \
	TEND_MAIN_READY=http://127.0.0.1:8080/health TEND_DRAIN_PORTS=8080 TEND_DRAIN_DELAY=1s \
	TEND_PRESTOP_HTTP='PUT http://127.0.0.1:8080/actuator/service-registry {"status":"OUT_OF_SERVICE"}' \
	TEND_EXIT_CODE_MAP=143:0 \
		bin/tend -- java -cp $(JAVA_BUILD) Hello < /dev/null

# go test -fuzz takes one target of one package per run; every Fuzz
# function of every package is found and run in turn.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

clean:
	rm -rf bin $(JAVA_BUILD)
