# The two commands of the quick start:
#   make run    install what is missing, then serve on the embedded default
#   make test   install what the tests need, then run them all
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go
DATA ?= ./sightline-data
LISTEN ?= 127.0.0.1:8080
# A count of executions, not a duration: Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" when a duration
# runs out mid-execution (go.dev/issue/75804, fixed in Go 1.27), which
# turned CI red with nothing found. 150000 runs take 5-45 s per target here.
FUZZTIME ?= 150000x
FUZZ_TARGETS := internal/media:FuzzSniff internal/ledger:FuzzResourcePath internal/media:FuzzISO6709 internal/media:FuzzBMFF internal/media:FuzzEXIF \
	internal/media:FuzzProbeReport internal/media:FuzzPacketsEnd internal/evidence:FuzzParseEvent internal/review:FuzzNormalizeCode internal/web:FuzzLocalPath internal/web:FuzzRangeSpan \
	internal/cases:FuzzParseComplaint verify:FuzzReceipt verify:FuzzCheckpoint verify:FuzzPackage:30000x verify:FuzzPolicy:30000x \
	verify:FuzzManifest:30000x verify:FuzzReleaseProof:30000x internal/fingerprint:FuzzFingerprintFile internal/fingerprint:FuzzSegment:20000x
VENDOR_JS := internal/web/assets/vendor/tus.min.js

.PHONY: run run-pg test build cluster bench-cluster witnesses bench bench-sync bench-load bench-package bench-redact bench-lookup fuzz vendor vendor-check deps test-deps clean

run: deps
	$(GO) run ./cmd/sightline serve --data $(DATA) --listen $(LISTEN)

# The same server on a local PostgreSQL and S3 server (versitygw), started
# beside the data folder and stopped with it: scripts/run-pg.sh.
run-pg: test-deps
	scripts/run-pg.sh $(if $(filter ./sightline-data,$(DATA)),./sightline-data-pg,$(DATA)) $(LISTEN)

build:
	$(GO) build -o bin/sightline ./cmd/sightline

# Three replicas behind HAProxy in round-robin, on a throwaway PostgreSQL,
# MariaDB and S3 server (internal/cluster): prints the address; Ctrl-C
# stops it all and throws it away.
cluster: test-deps build
	$(GO) run ./internal/cluster/run -bin bin/sightline

# Three witnesses on loopback (two litewitness, one omniwitness) for the
# log in $(DATA), and a 2-of-3 policy for them in witnesses.policy:
# then `sightline serve --data $(DATA) --witness-policy witnesses.policy`.
witnesses: test-deps
	$(GO) run ./internal/ledger/witnesstest/witnesses -data $(DATA)

# The suites that run whole servers, the services' own (cases, incidents,
# accounts: internal/db/dbtest), and the crash tests of the built binary,
# run again with their records on PostgreSQL, their blobs on S3 and the
# custody log shared as replicas share it (tiles in the bucket, sequenced
# in MariaDB): a throwaway PostgreSQL, versitygw and MariaDB each test
# process starts (internal/db/pgtest, internal/blob/s3test,
# internal/ledger/mariadbtest).
BACKEND_SUITES := ./internal/server/... ./internal/ingest ./internal/web ./internal/audit ./internal/cases ./internal/incident ./internal/account
BACKEND_CRASH := TestSIGKILLLosesNothingAcknowledged|TestMediaJobsResumeAfterSIGKILL
BACKENDS := SIGHTLINE_TEST_DATABASE=postgres SIGHTLINE_TEST_BLOBS=s3 SIGHTLINE_TEST_LOG=shared

test: test-deps vendor-check
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 40m ./...
	$(BACKENDS) $(GO) test -count=1 -timeout 30m $(BACKEND_SUITES)
	$(BACKENDS) $(GO) test -count=1 -timeout 20m -run '^($(BACKEND_CRASH))$$' ./integration
	$(MAKE) --no-print-directory fuzz

# Each fuzz target briefly; FUZZTIME=5000000x for a longer hunt. Minimizing each
# new input is capped: at the default (60 s) one find stalls a short run. A
# target may name its own count (pkg:Fuzz:30000x): FuzzPackage reads a whole
# zipped bag per run, about 1 ms.
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; f=$${t#*:}; n=$(FUZZTIME); \
		if [[ $$f == *:* ]]; then n=$${f#*:}; f=$${f%%:*}; [[ "$(origin FUZZTIME)" == "command line" ]] && n=$(FUZZTIME); fi; \
		$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$$n -fuzzminimizetime=1s ./$$pkg || exit 1; \
	done

# Upload throughput over loopback, as a ratio to the machine's raw limit;
# custody-log events per second and time to a covering checkpoint, as a
# ratio to a group-commit file; upload and media-job throughput on
# PostgreSQL + S3, as a ratio to the embedded mode.
bench: test-deps
	$(GO) run ./bench/upload
	$(GO) run ./bench/ledger
	$(GO) run ./bench/backends

# Upload throughput and custody events per second of 1, 2 and 3 replicas
# behind HAProxy (internal/cluster), as ratios to one embedded server.
bench-cluster: test-deps
	$(GO) run ./bench/cluster

# A city's worth of traffic for a minute on loopback: 200 uploads (a
# quarter streams), 1,000 readers with valid tokens and 20 attackers at
# once; rates and latencies per kind (as ratios to a health check measured
# first), errors, the server's peak RSS, the log's growth, then the audit.
bench-load: deps
	$(GO) run ./bench/load

# Evidence packages: a 10 GiB export against reading the same files, and
# the server's peak RSS.
bench-package: deps
	$(GO) run ./bench/package

# Automatic redaction of a minute of 720p30 video: seconds of detection
# and of the render per minute, as ratios to decoding it, and how many
# faces of the test set show in the output.
bench-redact: test-deps
	$(GO) run ./bench/redact

# Sound alignment: accuracy and speed on test incidents built from
# espeak-ng speech and sox street noise (installed by scripts/deps.sh bench).
bench-sync:
	scripts/deps.sh bench
	$(GO) run ./bench/sync

# "Where is this clip from?": top-1 accuracy of degraded 10-s clips per
# degradation, false positives, offset error and search time in an index
# padded to 10,000 hours (about 8 GB in memory), index bytes per hour,
# fingerprinting speed. HOURS=1000 for a quicker run.
HOURS ?= 10000
bench-lookup:
	scripts/deps.sh bench
	$(GO) run ./bench/lookup -hours $(HOURS)

# The browser's tus client comes from npm (pinned in web/package-lock.json)
# and is committed, so that every way of building (go build, go install,
# make) embeds it. `make vendor` refreshes it after a version change;
# `make vendor-check` (part of make test) proves the copy is npm's.
vendor:
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cp web/node_modules/tus-js-client/dist/tus.min.js $(VENDOR_JS)

vendor-check:
	cd web && npm ci --no-audit --no-fund --loglevel=error
	cmp web/node_modules/tus-js-client/dist/tus.min.js $(VENDOR_JS)

deps:
	scripts/deps.sh run

test-deps:
	scripts/deps.sh test

clean:
	rm -rf bin web/node_modules
