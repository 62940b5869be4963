# cpwarden: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO ?= go
CACHE ?= $(or $(CPWARDEN_CACHE),$(HOME)/.cache/cpwarden)
PKGS ?= ./...
BENCHTIME ?= 1s

.PHONY: all test lint bench generate demo tools kube-apiserver

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

## bench: the benchmarks named in the issues, each against its baseline in the same run.
bench:
	cd bench/emf && $(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count 3

## generate: regenerate checked-in artifacts (state machine JSON, CloudFormation template).
generate:
	$(GO) generate $(PKGS)

## demo: runs the main job on embedded local backends.
demo:
	$(GO) run ./cmd/cpwarden demo
