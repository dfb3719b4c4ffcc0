# Nexplane build. `make run` and `make test` are all a new machine needs.

TEMPL_VERSION       := v0.3.1100
STATICCHECK_VERSION := v0.8.2
VERSION             ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS             := -s -w -X main.version=$(VERSION)
TESTFLAGS           ?= -race -shuffle=on -count=1 -timeout 15m
DATA_DIR            ?= ./data

.PHONY: build run test bench generate generate-check lint clean

# build writes bin/nexplane (the server) and bin/nexplane-agent (the host agent).
build:
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/nexplane ./cmd/nexplane
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/nexplane-agent ./cmd/nexplane-agent

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

# ---- packages (issue 6) ----------------------------------------------------
# make packages: static linux binaries for PKG_ARCHES and, with nfpm (pinned,
# built from source by go run), dist/nexplane_<v>_<arch>.deb and
# dist/nexplane-<v>.<rpmarch>.rpm, plus the same for nexplane-agent when
# ./cmd/nexplane-agent builds. The version comes from packaging/version.sh.
NFPM_VERSION := v2.45.2
NFPM         := go run github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
# Computed once per make run (simply expanded), so every package of one run
# carries the same version.
ifeq ($(origin PKG_VERSION),undefined)
PKG_VERSION  := $(shell packaging/version.sh 2>/dev/null || echo 0.0.0~unknown)
endif
PKG_ARCHES   ?= amd64 arm64
DIST         := dist
PKG_LDFLAGS  := -s -w -X main.version=$(PKG_VERSION)

.PHONY: packages package-binaries package-version

package-version:
	@echo $(PKG_VERSION)

package-binaries:
	@set -e; rm -rf $(DIST)/build; \
	for arch in $(PKG_ARCHES); do \
		echo "packages: building linux/$$arch binaries, version $(PKG_VERSION)"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags '$(PKG_LDFLAGS)' \
			-o $(DIST)/build/linux_$$arch/nexplane ./cmd/nexplane; \
		if [ ! -d cmd/nexplane-agent ]; then \
			echo "packages: no ./cmd/nexplane-agent yet; skipping the agent package"; \
		elif ! CGO_ENABLED=0 GOOS=linux GOARCH=$$arch go build -trimpath -ldflags '$(PKG_LDFLAGS)' \
			-o $(DIST)/build/linux_$$arch/nexplane-agent ./cmd/nexplane-agent 2>$(DIST)/build/agent-build-$$arch.log; then \
			echo "packages: ./cmd/nexplane-agent does not build for $$arch; skipping the agent package ($(DIST)/build/agent-build-$$arch.log):"; \
			head -n 5 $(DIST)/build/agent-build-$$arch.log | sed 's/^/    /'; \
		fi; \
	done

packages: package-binaries
	@set -e; \
	for arch in $(PKG_ARCHES); do \
		case $$arch in amd64) rpmarch=x86_64 ;; arm64) rpmarch=aarch64 ;; *) rpmarch=$$arch ;; esac; \
		for name in nexplane nexplane-agent; do \
			[ -x $(DIST)/build/linux_$$arch/$$name ] || continue; \
			rm -rf $(DIST)/stage; mkdir -p $(DIST)/stage; \
			cp $(DIST)/build/linux_$$arch/$$name $(DIST)/stage/$$name; \
			VERSION='$(PKG_VERSION)' ARCH=$$arch $(NFPM) package -p deb \
				-f packaging/nfpm/$$name.yaml -t $(DIST)/$${name}_$(PKG_VERSION)_$$arch.deb; \
			VERSION='$(PKG_VERSION)' ARCH=$$arch $(NFPM) package -p rpm \
				-f packaging/nfpm/$$name.yaml -t $(DIST)/$$name-$(PKG_VERSION).$$rpmarch.rpm; \
		done; \
	done; \
	rm -rf $(DIST)/stage
