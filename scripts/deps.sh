#!/usr/bin/env bash
# Installs the Debian packages Sightline needs and that are missing.
#   scripts/deps.sh run    what the server needs (ffmpeg)
#   scripts/deps.sh test   that, plus what the tests drive (chromium, node and npm for tus-js-client), make (HEIC photos)
#                          and watch (strace: which files ffmpeg opens; pdftotext: what a PDF says), and Mailpit
#                          (a real SMTP server, a Go tool)
#   scripts/deps.sh bench  what the benchmarks need (espeak-ng and sox make the test incidents of bench-sync)
set -euo pipefail

case "${1:-run}" in
run) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux" ;;
test) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux node:nodejs npm:npm chromium:chromium heif-enc:libheif-examples strace:strace pdftotext:poppler-utils" ;;
bench) wanted="ffmpeg:ffmpeg ffprobe:ffmpeg prlimit:util-linux espeak-ng:espeak-ng sox:sox" ;;
*) echo "usage: $0 run|test|bench" >&2; exit 2 ;;
esac

# Mailpit receives the notices the tests email; it is a Go program, built
# from the module proxy into GOPATH/bin.
if [ "${1:-run}" = test ] && ! command -v mailpit >/dev/null 2>&1 && [ ! -x "$(go env GOPATH)/bin/mailpit" ]; then
	echo "installing: mailpit (go install)"
	go install github.com/axllent/mailpit@v1.33.1
fi

missing=()
for pair in $wanted; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# A Node.js from elsewhere (NodeSource) bundles npm and conflicts with
# Debian's npm package: never mix the two.
if command -v node >/dev/null 2>&1 && ! command -v npm >/dev/null 2>&1; then
	echo "node is installed without npm; install npm from the same source as node" >&2
	exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
# De-duplicate (ffmpeg provides two commands).
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "installing: ${missing[*]}"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
