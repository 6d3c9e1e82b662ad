# smsgw — see README.md. Every target installs what it needs; nothing is assumed
# beyond Go (and, for `make proto`, Debian's protoc, which the target installs).
GO        ?= go
BIN       := bin
TOOLS     := $(CURDIR)/.tools
PROTOC_GEN_GO_VERSION      := v1.36.12
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
GRPC_GATEWAY_VERSION       := v2.34.0
BUF_VERSION                := v1.75.0
PKGS      := ./...
# What `smsgw version`, the start-up log and smsgw_build_info report.
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS   := -X github.com/openmf/smsgw/internal/buildinfo.Version=$(VERSION) -X github.com/openmf/smsgw/internal/buildinfo.Revision=$(REVISION)

.PHONY: all build run test lint proto proto-check proto-history proto-lint protoc-installed postgres-installed chromium-installed python-installed java-installed kannel-installed docs docs-check bench bench-go bench-kannel fuzz soak clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/smsgw ./cmd/smsgw
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/smsbench ./cmd/smsbench
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/smsgw-fineract ./cmd/smsgw-fineract

# The demo: embedded store under ./data, a built-in simulated carrier, a demo
# tenant whose API key is printed at start. SMSGW_GRPC_LISTEN and
# SMSGW_HTTP_LISTEN move it off 127.0.0.1:9190 and :9191 (port 0: any free).
run: build
	$(BIN)/smsgw serve --demo

# The console's browser test writes a PNG of each page here (never committed).
SCREENSHOTS := $(CURDIR)/$(BIN)/console-screenshots

test: lint proto-check proto-history docs-check postgres-installed chromium-installed python-installed java-installed kannel-installed
	@echo "== go test -race: $$($(GO) list $(PKGS) | wc -l) packages; a line as each finishes (the slowest take a few minutes)"
	SMSGW_CONSOLE_SCREENSHOTS=$(SCREENSHOTS) $(GO) test -race -count=1 -timeout 9m $(PKGS)
	@echo "== console screenshots: $(SCREENSHOTS)"

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

$(TOOLS)/protoc-gen-go:
	@echo "== building protoc-gen-go $(PROTOC_GEN_GO_VERSION) into .tools"
	@GOBIN=$(TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)

$(TOOLS)/protoc-gen-go-grpc:
	@echo "== building protoc-gen-go-grpc $(PROTOC_GEN_GO_GRPC_VERSION) into .tools"
	@GOBIN=$(TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)

$(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2:
	@echo "== building protoc-gen-grpc-gateway and protoc-gen-openapiv2 $(GRPC_GATEWAY_VERSION) into .tools"
	@GOBIN=$(TOOLS) $(GO) install github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$(GRPC_GATEWAY_VERSION) \
	  github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$(GRPC_GATEWAY_VERSION)

$(TOOLS)/buf:
	@echo "== building buf $(BUF_VERSION) into .tools (a few minutes, once)"
	@GOBIN=$(TOOLS) $(GO) install github.com/bufbuild/buf/cmd/buf@$(BUF_VERSION)

# The PostgreSQL store's tests start a real server from Debian's binaries.
postgres-installed:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "== installing postgresql (Debian) for the store tests"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

# Debian's Kannel is the independent ESME the SMPP server's tests bind
# with (smpp/server TestKannelAsESME).
kannel-installed:
	@test -x /usr/sbin/bearerbox -a -x /usr/sbin/smsbox || { echo "== installing kannel (Debian) for the SMPP server tests"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kannel; } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

# The console's browser tests drive a headless Chromium (Debian's).
chromium-installed:
	@test -x /usr/lib/chromium/chromium || { echo "== installing chromium (Debian) for the console's browser tests"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

# The Python client example's test (examples/python) runs it with Debian's
# python3 gRPC and generates its stubs with protoc's Python output and
# Debian's gRPC Python plugin.
python-installed:
	@{ /usr/bin/python3 -c 'import grpc, google.protobuf' && command -v grpc_python_plugin; } >/dev/null 2>&1 || { \
	  echo "== installing python3-grpcio, python3-protobuf, protobuf-compiler-grpc (Debian) for the Python example"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-grpcio python3-protobuf protobuf-compiler-grpc; } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

# The Java client example's test (examples/java) builds it offline with
# Debian's JDK and grpc-java jars, and generates its classes with protoc's
# Java output and Debian's grpc-java plugin.
JAVA_PACKAGES := default-jdk-headless libgrpc-java protobuf-compiler-grpc-java-plugin libprotobuf-java libnetty-java \
	libperfmark-java libguava-java libjsr305-java liberror-prone-java libgeronimo-annotation-1.3-spec-java
java-installed:
	@{ command -v javac && command -v grpc_java_plugin && ls /usr/share/java/grpc-netty.jar /usr/share/java/netty-transport.jar \
	  /usr/share/java/perfmark-api.jar /usr/share/java/geronimo-annotation-1.3-spec.jar /usr/share/java/protobuf.jar; } >/dev/null 2>&1 || { \
	  echo "== installing Debian's JDK and grpc-java for the Java example"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(JAVA_PACKAGES); } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

protoc-installed:
	@command -v protoc >/dev/null || { echo "== installing protoc (Debian's protobuf-compiler)"; \
	  log=$$(mktemp); { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq protobuf-compiler; } >$$log 2>&1 \
	  || { cat $$log; rm -f $$log; exit 1; }; rm -f $$log; }

PROTO_FILES := $(wildcard proto/smsgw/v1/*.proto)

PROTO_PLUGINS := $(TOOLS)/protoc-gen-go $(TOOLS)/protoc-gen-go-grpc $(TOOLS)/protoc-gen-grpc-gateway $(TOOLS)/protoc-gen-openapiv2
# protoc's arguments writing into $(1): the Go types and gRPC stubs, the
# REST gateway (from the google.api.http annotations) and one merged
# OpenAPI v2 document, smsgw/v1/openapi.swagger.json.
PROTOC_GEN = PATH=$(TOOLS):$$PATH protoc -I proto -I /usr/include \
	  --go_out=$(1) --go_opt=paths=source_relative \
	  --go-grpc_out=$(1) --go-grpc_opt=paths=source_relative \
	  --grpc-gateway_out=$(1) --grpc-gateway_opt=paths=source_relative \
	  --openapiv2_out=$(1) --openapiv2_opt=allow_merge=true,merge_file_name=smsgw/v1/openapi,openapi_configuration=proto/openapi.yaml \
	  $(PROTO_FILES)

# Regenerates the committed code from the .proto files with pinned tools.
proto: protoc-installed $(PROTO_PLUGINS)
	$(call PROTOC_GEN,proto)

# Fails when the committed generated code differs from what the .proto files give.
proto-check: protoc-installed $(PROTO_PLUGINS)
	@tmp=$$(mktemp -d); \
	$(call PROTOC_GEN,$$tmp) && \
	for f in $$(cd $$tmp && find . -name '*.go' -o -name '*.json'); do \
	  cmp -s $$tmp/$$f proto/$$f || { echo "proto/$$f is stale: run make proto"; rm -rf $$tmp; exit 1; }; \
	done; rm -rf $$tmp; echo "generated code matches the .proto files"

# internal/protocompat's test (in make test) compares the API with the
# previous commit's; a shallow checkout (CI) fetches that commit first.
proto-history:
	@git rev-parse -q --verify 'HEAD~1^{commit}' >/dev/null 2>&1 || \
	  { [ "$$(git rev-parse --is-shallow-repository 2>/dev/null)" = true ] && git fetch -q --deepen=1 >/dev/null 2>&1; } || true

# buf lint (rules and their exceptions in buf.yaml), then buf breaking: the
# .proto files must keep the wire, JSON and generated code of the previous
# commit's (of HEAD's while proto/ has uncommitted changes; BUF_AGAINST=<ref>
# names another, e.g. BUF_AGAINST=origin/main on a branch). A shallow
# checkout lacking the previous commit is deepened by one; when that cannot
# be done (no remote) or there is none (the first commit), it says so and
# passes: there is nothing to compare. Building buf takes minutes on 2
# cores, so CI (.ci/run) runs this after make test.
proto-lint: $(TOOLS)/buf
	@$(TOOLS)/buf lint && echo "buf lint: clean"
	@against=$${BUF_AGAINST:-$$(git diff --quiet HEAD -- proto && echo HEAD~1 || echo HEAD)}; \
	has() { git rev-parse -q --verify "$$against^{commit}" >/dev/null 2>&1; }; \
	if [ -z "$$BUF_AGAINST" ] && ! has && [ "$$(git rev-parse --is-shallow-repository)" = true ]; then \
	  git fetch -q --deepen=1 >/dev/null 2>&1; fi; \
	if ! has; then \
	  [ -n "$$BUF_AGAINST" ] && { echo "buf breaking: BUF_AGAINST=$$BUF_AGAINST is not a commit here"; exit 1; }; \
	  echo "buf breaking: $$against is not in this checkout: nothing to compare"; exit 0; fi; \
	tmp=$$(mktemp -d); git archive "$$against" proto | tar -x -C $$tmp && \
	$(TOOLS)/buf breaking --against $$tmp/proto; rc=$$?; rm -rf $$tmp; \
	[ $$rc = 0 ] && echo "buf breaking: compatible with $$against"; exit $$rc

# The API reference, generated from the .proto comments.
docs: protoc-installed
	@tmp=$$(mktemp -d); \
	protoc -I proto -I /usr/include --include_source_info --include_imports \
	  --descriptor_set_out=$$tmp/api.pb $(PROTO_FILES) && \
	$(GO) run ./internal/protodoc $$tmp/api.pb > docs/api.md; rc=$$?; rm -rf $$tmp; exit $$rc

# Fails when docs/api.md differs from what the .proto comments give.
docs-check: protoc-installed
	@tmp=$$(mktemp -d); \
	protoc -I proto -I /usr/include --include_source_info --include_imports \
	  --descriptor_set_out=$$tmp/api.pb $(PROTO_FILES) && \
	$(GO) run ./internal/protodoc $$tmp/api.pb > $$tmp/api.md && \
	{ cmp -s $$tmp/api.md docs/api.md || { echo "docs/api.md is stale: run make docs"; rm -rf $$tmp; exit 1; }; }; \
	rm -rf $$tmp; echo "docs/api.md matches the .proto comments"

# The steady scenario through an in-process gateway (about a minute on 2 cores):
# prints the summary, writes bin/bench/steady.{json,html}.
bench: build
	@mkdir -p $(BIN)/bench
	$(BIN)/smsbench run bench/scenarios/steady.yaml --json $(BIN)/bench/steady.json --html $(BIN)/bench/steady.html

# Kannel side by side: the same sendsms load with a dlr-url per message into
# Debian's Kannel and into smsgw, bound to one simulated carrier, in turns
# (about 3 minutes; COUNT, CLIENTS, ROUNDS, MASK and BASE_PORT change it).
bench-kannel: build kannel-installed
	bash bench/versus-kannel.sh

# The Go benchmarks: store, SMPP, routing, gRPC accept, end to end.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s ./gateway/... ./smpp/... ./routing/
	$(GO) test -run '^$$' -bench 'Send' -benchmem -benchtime 3s ./bench/
	$(GO) test -run '^$$' -bench EndToEnd -benchtime 5000x ./bench/

# Each fuzz target (package:name) for 60 s; names are anchored (-fuzz takes
# a regexp).
fuzz:
	@for t in smstext:FuzzParseReceipt smstext:FuzzDecodeText smstext:FuzzSplitUDH smstext:FuzzSegment \
	  smpp:FuzzReassemble internal/mask:FuzzText gateway/store:FuzzJournalReplay gateway/store:FuzzAcceptRecord \
	  gateway:FuzzNormalizeNumber; do \
	  p=$${t%%:*}; f=$${t#*:}; \
	  echo "== $$f ($$p)"; $(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime 60s ./$$p/ || exit 1; \
	done

# The long soak: 20,000 messages, 2 carriers x 2 binds, throttling, link drops,
# receipts before responses. Prints the counts.
soak:
	$(GO) test -tags soak -run 'Soak|HugePageRSS' -timeout 30m -v ./bench/ ./httpapi/kannel/ ./httpapi/messagegateway/

clean:
	rm -rf $(BIN) $(TOOLS)
