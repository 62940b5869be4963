# cpwarden: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(or $(CPWARDEN_CACHE),$(HOME)/.cache/cpwarden)
PKGS ?= ./...
BENCHTIME ?= 1s

.PHONY: all test lint bench bench-emf bench-asl bench-coldstart bench-workers generate demo tools kube-apiserver rie npm-tools package

all: lint test

## test: every test in the main module, with the race detector.
test:
	$(GO) test -race -count=1 -timeout 45m $(PKGS)
	cd bench/emf && $(GO) test -count=1 ./...

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

## tools: what the tests need besides Go modules: kube-apiserver and kubectl
## built from the module proxy into $(CACHE)/bin (once; ~6 minutes cold), and
## the npm validators of the state machine definitions.
tools: kube-apiserver rie npm-tools

kube-apiserver:
	tools/kube-apiserver/build.sh all

npm-tools:
	cd tools/npm && npm ci --no-audit --no-fund

## rie: the Lambda Runtime Interface Emulator, pinned, into $(CACHE)/bin.
rie:
	tools/rie/build.sh

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
