# Nexplane build. `make run` and `make test` are all a new machine needs.

TEMPL_VERSION       := v0.3.1100
STATICCHECK_VERSION := v0.8.2
VERSION             ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS             := -s -w -X main.version=$(VERSION)
TESTFLAGS           ?= -race -shuffle=on -count=1 -timeout 15m
DATA_DIR            ?= ./data

.PHONY: build run test bench generate generate-check lint clean

build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/nexplane ./cmd/nexplane

# run starts a development server on https://localhost:8443 with SQLite in
# ./data and a development SECRET_KEY generated there on first use.
run:
	@mkdir -p $(DATA_DIR)
	@if [ ! -s $(DATA_DIR)/dev-secret-key ]; then \
		(umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n' > $(DATA_DIR)/dev-secret-key); \
		echo "make run: generated a development SECRET_KEY in $(DATA_DIR)/dev-secret-key (never use it in production)"; \
	fi
	env -u SECRET_KEY SECRET_KEY_FILE=$(DATA_DIR)/dev-secret-key NEXPLANE_DATA_DIR=$(DATA_DIR) \
		go run -ldflags '-X main.version=$(VERSION)' ./cmd/nexplane serve

test:
	go test $(TESTFLAGS) ./...

bench:
	go test -run '^$$' -bench . -benchmem -timeout 60m ./...

generate:
	go run github.com/a-h/templ/cmd/templ@$(TEMPL_VERSION) generate

# generate-check fails when the committed *_templ.go files are stale.
generate-check: generate
	@git diff --exit-code -- '*_templ.go' || (echo "templ output is stale: run make generate and commit" && exit 1)
	@test -z "$$(git status --porcelain -- '*_templ.go')" || (echo "untracked templ output: run make generate and commit" && exit 1)

lint:
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	go vet ./...
	go run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

clean:
	rm -rf bin dist
