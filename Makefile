# CI (.ci/run) runs `make check` (vet, gofmt, every module's go.mod tidiness), then `make test`.
GO       ?= go
BIN      := bin/bacalhau bin/bacalhau-node
EXAMPLES := $(patsubst examples/%/,build/examples/%.wasm,$(filter-out examples/c/,$(wildcard examples/*/)))
# The C examples (examples/c, CGI guests without the SDK) need clang and wasi-libc:
# without them they are skipped with a message, or fail with CI=true.
C_EXAMPLES := $(patsubst examples/c/%.c,build/examples/%.wasm,$(wildcard examples/c/*.c))
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X github.com/bacalhau-project/bacalhau-wasm/internal/version.Version=$(VERSION)

.PHONY: all build examples kubo test test-short demo bench check fuzz clean FORCE test-images demo-docker
all: build examples

# bin/bacalhau is the light client; it execs bin/bacalhau-node (the same commands plus
# the node) for serve, devstack and verify. The client is static (no cgo): a dynamically
# linked binary spends a fifth of its start in the dynamic loader and libc.
build: $(BIN)
bin/bacalhau: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/bacalhau
bin/bacalhau-node: FORCE
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ ./cmd/bacalhau-node

examples: $(EXAMPLES) $(C_EXAMPLES)
$(C_EXAMPLES): build/examples/%.wasm: examples/c/%.c scripts/build-c-example.sh
	bash scripts/build-c-example.sh $< $@
build/examples/%.wasm: FORCE
	@mkdir -p build/examples
	GOOS=wasip1 GOARCH=wasm $(GO) build -trimpath -o $@ ./examples/$*

# The race detector runs on the packages with concurrency of their own; the packages that
# mostly run guests run without it (it slows wazero's compiler tenfold on two cores).
GUEST_PKGS = ./wasi/... ./sandbox/... ./internal/executor/wasm/... ./examples/... ./cmd/...
test: build examples kubo test-images
	$(GO) mod download
	$(GO) test -race -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e /wasi -e /sandbox -e /internal/executor/wasm -e /examples/ -e /cmd/)
	$(GO) test -count=1 -timeout 30m $(GUEST_PKGS)
	# The pure-Go build (no cgo: no wasmtime engine) passes the tests of the packages its
	# build changes: the engine flags, the executors.
	CGO_ENABLED=0 $(GO) test -count=1 -timeout 10m ./internal/cli/nodecmd/ ./internal/executor/... ./sandbox/wasmtime/
	cd interop && $(GO) test -count=1 -timeout 20m .  # kubo and our binaries, side by side (own module)

test-short: build examples
	$(GO) test -short -count=1 ./...

demo: build examples
	bash scripts/demo.sh

# The local images the Docker tests, demo-docker and the bench run (FROM scratch plus
# Debian's busybox-static; no registry). Without a Docker engine it says what to
# install, and fails only with CI=true.
test-images:
	bash scripts/test-images.sh

demo-docker: build test-images
	bash scripts/demo-docker.sh

# kubo, the reference IPFS implementation, built from its own module (tools/kubo): the
# benchmarks compare against it.
kubo: bin/ipfs
bin/ipfs: tools/kubo/go.mod
	cd tools/kubo && $(GO) build -trimpath -o ../../bin/ipfs github.com/ipfs/kubo/cmd/ipfs

bench: build examples kubo test-images
	@command -v wrk >/dev/null || { echo "bench: installing wrk (Debian)"; apt-get update -qq && apt-get install -y -qq wrk; }
	PATH="$(CURDIR)/bin:$$PATH" $(GO) run ./cmd/bacalhau-bench

# Every decoder of outside input has a fuzzer; `make fuzz` runs each for FUZZTIME. The list
# is every `func FuzzXxx` in a tracked _test.go file (outside testdata), as dir:FuzzXxx, so
# a new fuzzer is run without being listed here; `make fuzz FUZZERS=dht/jobproto:FuzzBid` runs one.
# Each runs in its package's directory, so a nested module's fuzzers run too. A failure
# does not stop the others; its input is saved under the package's testdata/fuzz/.
FUZZTIME ?= 30s
FUZZ_RE  := ^func Fuzz([A-Z0-9_][[:alnum:]_]*)?\(
FUZZERS  ?= $(shell git grep -E '$(FUZZ_RE)' -- '*_test.go' ':!:*testdata/*' | \
	sed -E 's|^|./|; s|^(.*)/[^/]*:func (Fuzz[[:alnum:]_]*).*|\1:\2|')
fuzz:
	@n=0; failed=; for f in $(FUZZERS); do n=$$((n+1)); echo "== $$f"; \
		(cd $${f%%:*} && $(GO) test -run '^$$' -fuzz "^$${f#*:}$$" -fuzztime $(FUZZTIME) .) || \
			failed="$$failed $$f"; \
	done; \
	echo "fuzz: ran $$n fuzzers for $(FUZZTIME) each"; \
	test $$n -gt 0 || { echo "fuzz: found no fuzzers"; exit 1; }; \
	test -z "$$failed" || { echo "fuzz: failed:$$failed"; exit 1; }

# Every module in the repository (each tracked go.mod: the root and tools/kubo) must be
# tidy; `go mod tidy -diff` changes nothing and fails if go.mod or go.sum would change.
# It runs first: an untidy go.sum would otherwise show up as vet's missing-entry errors.
MODULES = $(patsubst %/,%,$(dir $(shell git ls-files -- go.mod '*/go.mod')))
check:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$bad" || \
		{ echo "check: not gofmt-formatted (run gofmt -w):"; echo "$$bad"; exit 1; }
	@for m in $(MODULES); do \
		echo "$(GO) mod tidy -diff  # in $$m"; \
		d=$$(cd $$m && $(GO) mod tidy -diff); rc=$$?; \
		if [ -n "$$d" ]; then printf '%s\n' "$$d"; \
			echo "check: go.mod/go.sum in $$m are not tidy: run (cd $$m && $(GO) mod tidy)"; exit 1; fi; \
		if [ $$rc -ne 0 ]; then echo "check: go mod tidy -diff failed in $$m (see above)"; exit 1; fi; \
	done
	$(GO) vet ./...
	# The pure-Go builds, which do not offer the wasmtime engine (cgo), still build and vet.
	CGO_ENABLED=0 $(GO) build ./...
	$(GO) vet -tags nowasmtime ./...

clean:
	rm -rf bin build
