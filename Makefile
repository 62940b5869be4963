# cpwarden: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(or $(CPWARDEN_CACHE),$(HOME)/.cache/cpwarden)
# The tool scripts and the tests find the built tools there.
export CPWARDEN_CACHE := $(CACHE)
PKGS ?= ./...
BENCHTIME ?= 1s

.PHONY: all test test-go system-tools lint bench bench-emf bench-asl bench-coldstart bench-workers generate demo tools kube-apiserver rie npm-tools package

all: lint test

## test: the whole suite, as CI runs it, on a fresh machine too. First what
## the tests need: system-tools checks the tools that come from pip and apt
## (and names the install command of a missing one), `tools` builds or
## installs ours (each says "up to date" when its cached result is current,
## and prints progress lines while it builds: several minutes the first time
## on a machine, seconds afterwards). Then every test, with the race detector:
## none skips for want of a tool.
##   make test-go                  only the Go tests: no tool checked or built
##                                 (tests whose tool is missing skip, saying
##                                 how to install it); same as `make test TOOLS=`
##   make test PKGS=./cmd/cpwarden part of the suite, its tools first
## TOOLS is what `make test` prepares, in order; only the command line
## overrides it (an environment variable of the name does not).
TOOLS = system-tools tools
test:
	@for t in $(TOOLS); do $(MAKE) --no-print-directory $$t || exit 1; done
	@$(MAKE) --no-print-directory test-go

## test-go: the tests alone, with whatever tools are there (the bench/emf
## module's own tests too when PKGS is the whole main module).
test-go:
	$(GO) test -race -count=1 -timeout 45m $(PKGS)
ifeq ($(PKGS),./...)
	cd bench/emf && $(GO) test -count=1 ./...
endif

## system-tools: what the tests need that does not come from this repository
## or the Go module proxy: moto_server (the AWS APIs), cfn-lint (the template)
## and node with npm (the definitions' npm validators).
system-tools:
	@echo "test tools from pip and apt:"; missing=""; \
	for t in "moto_server|pip install 'moto[server]'" "cfn-lint|pip install cfn-lint" \
	         "node|apt-get install nodejs npm" "npm|apt-get install npm"; do \
	  bin="$${t%%|*}"; hint="$${t#*|}"; \
	  if p="$$(command -v "$$bin")"; then echo "  $$bin: $$p"; \
	  else echo "  $$bin: MISSING: install it with: $$hint"; missing="$$missing $$bin"; fi; \
	done; \
	if [ -n "$$missing" ]; then echo "make test needs$$missing (see above for the install commands; make test-go runs the Go tests without them)" >&2; exit 1; fi

## lint: gofmt and go vet must be clean.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags nocfn ./cmd/cpwarden

## bench: the benchmarks named in the issues, each against its baseline in the same run.
bench: bench-emf bench-asl bench-coldstart bench-workers

bench-emf:
	cd bench/emf && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 3

bench-asl:
	bench/asl/run.sh

## bench-workers: backup streaming vs the raw snapshot read, drain vs kubectl
## drain, a probe round with a black-holed member vs the probe deadline.
bench-workers:
	$(GO) test -run '^$$' -bench BackupStreaming -benchtime 3x -timeout 30m ./workers/backup
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./workers/drain ./workers/health

bench-coldstart:
	$(GO) test -run '^$$' -bench . -benchtime 10x -timeout 60m ./bench/coldstart

## generate: regenerate checked-in artifacts (state machine JSON, CloudFormation template).
generate:
	$(GO) generate $(PKGS)

## tools: what the tests need that this repository builds: kube-apiserver and
## kubectl built from the module proxy into $(CACHE)/bin (once; ~6 minutes
## cold), the emulator, and the npm validators of the state machine
## definitions. Each step is skipped when its cached result is current.
tools: kube-apiserver rie npm-tools

kube-apiserver:
	@tools/kube-apiserver/build.sh all

## npm-tools: `npm ci` in tools/npm, when package-lock.json changed since.
npm-tools:
	@tools/npm/install.sh

## rie: the Lambda Runtime Interface Emulator, pinned, into $(CACHE)/bin.
rie:
	@tools/rie/build.sh

## package: dist/bootstrap.zip, the Lambda package (linux/arm64 bootstrap for provided.al2023).
package:
	@mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 GOFLAGS=-buildvcs=false $(GO) build -trimpath -ldflags='-s -w' -tags lambda.norpc -o dist/bootstrap ./workers/bootstrap
	cd dist && rm -f bootstrap.zip && TZ=UTC touch -t 198001010000 bootstrap && TZ=UTC zip -X -9 -q bootstrap.zip bootstrap

## demo: runs the main job on embedded local backends. The first time on a
## machine it builds kube-apiserver, the emulator, cpwarden and its Lambda
## binary, sharing one build cache (tools/demo.sh), with progress lines.
demo:
	tools/demo.sh
