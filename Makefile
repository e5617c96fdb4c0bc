# Switchman. `make` builds bin/bot; `make run` starts the demo in the
# console; `make test` installs what the tests need (Debian) and runs them.

GO      ?= go
GOFMT   ?= gofmt
BIN     = bin/bot
CONFIG  ?= config/demo.yaml
ifndef VERSION
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
LDFLAGS = -X main.version=$(VERSION)

ARTIFACTS_DIR = var/artifacts
ARTIFACTS     = $(foreach n,1 2 3,$(ARTIFACTS_DIR)/demo-$(n).tar.gz $(ARTIFACTS_DIR)/demo-$(n).tar.gz.sha256)
DEMO_SRC      = demo/mkartifacts.sh $(wildcard demo/app/*.go)

# Commands the tests run for real, and the Debian packages that bring them.
TEST_COMMANDS = redis-server sshd haproxy supervisord zstd curl tar ssh-keygen busybox pg_ctlcluster pg_dump strace
TEST_PACKAGES = redis-server openssh-server openssh-client haproxy supervisor zstd curl tar busybox postgresql strace

.DEFAULT_GOAL := build

.PHONY: build run demo deps test bench bench-fleet bench-peers fuzz check-config clean fmt lint image

# go build decides what is stale, so this always asks it.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/bot

run: build demo
	$(BIN) -config $(CONFIG) console

check-config: build
	$(BIN) -config $(CONFIG) check-config

# The demo's three builds, rebuilt when the app or the script changes.
demo: $(ARTIFACTS)

$(ARTIFACTS) &: $(DEMO_SRC)
	GO="$(GO)" sh demo/mkartifacts.sh $(ARTIFACTS_DIR)

# Installs the commands the tests need when one is missing: Debian, as root
# or through sudo, non-interactive. Daemons live in sbin, which a non-root
# PATH may lack.
# -race needs cgo, hence a C compiler: gcc joins the list when `go env CC`
# is missing.
deps:
	@missing=; pkgs="$(TEST_PACKAGES)"; \
	for c in $(TEST_COMMANDS); do \
		command -v $$c >/dev/null 2>&1 || test -x /usr/sbin/$$c || missing="$$missing $$c"; \
	done; \
	cc=$$($(GO) env CC 2>/dev/null); cc=$${cc%% *}; \
	if ! command -v "$${cc:-gcc}" >/dev/null 2>&1; then missing="$$missing $${cc:-gcc}"; pkgs="$$pkgs gcc libc6-dev"; fi; \
	if [ "$$(id -u)" -eq 0 ]; then sudo=; else sudo=sudo; fi; \
	if [ -n "$$missing" ]; then \
		echo "deps: missing:$$missing; installing $$pkgs"; \
		if [ -n "$$sudo" ] && ! command -v sudo >/dev/null 2>&1; then \
			echo "deps: not root and no sudo; as root run: apt-get install -y $$pkgs" >&2; exit 1; \
		fi; \
		if ! command -v apt-get >/dev/null 2>&1; then \
			echo "deps: no apt-get; install the packages providing:$$missing" >&2; exit 1; \
		fi; \
		$$sudo apt-get update && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y $$pkgs; \
	fi; \
	if [ -z "$$sudo" ]; then mkdir -p /run/sshd; fi

test: deps demo
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 25m ./...

# The Go benchmarks of every package but bench/, whose fleet runs take
# minutes (bench-fleet, bench-peers).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $$($(GO) list ./... | grep -v '/bench$$')

# Switchman deploying to 1, 10 and 50 real sshd hosts against the floor, and
# side by side with Capistrano, Ansible and Fabric; see bench/README.md.
# The tables are printed at the end, so go test's timeout is set well past
# the runs' own limits (BENCH_CELL_SECONDS, BENCH_TIMEOUT_SECONDS): the full
# bench-peers took 27 minutes on a VM slow at starting processes, and a
# timeout there would have thrown every row away.
bench-fleet:
	$(GO) test ./bench -run '^$$' -bench Fleet -benchtime 1x -timeout 2h -v

bench-peers:
	$(GO) test ./bench -run '^$$' -bench Peers -benchtime 1x -timeout 2h -v

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./internal/commands/

fmt:
	$(GOFMT) -s -w .

lint:
	@files=$$($(GOFMT) -l .); \
	if [ -n "$$files" ]; then echo "gofmt needed on:"; echo "$$files"; exit 1; fi
	$(GO) vet ./...

# The container image; the version is passed in because .git stays out of
# the build context.
image:
	docker build --build-arg VERSION=$(VERSION) -t switchman:$(VERSION) .

clean:
	rm -rf bin var
