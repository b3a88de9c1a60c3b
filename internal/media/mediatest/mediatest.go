// Package mediatest makes real media files for tests with ffmpeg, so that no
// large file needs to live in the repository.
package mediatest

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// FFmpeg runs ffmpeg with args, writing to a file called name in a new
// temporary directory, and returns the file's path. The test fails if
// ffmpeg is missing: `make test` installs it.
func FFmpeg(t testing.TB, name string, args ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	argv := append([]string{"-nostdin", "-v", "error", "-y"}, args...)
	argv = append(argv, out)
	cmd := exec.Command("ffmpeg", argv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(argv, " "), err, b)
	}
	return out
}

// Clip makes a test-pattern video with a tone, seconds long, as name (whose
// extension picks the container), with extra output options such as
// metadata. It uses H.264 and AAC unless opts choose other codecs.
func Clip(t testing.TB, name string, seconds string, opts ...string) string {
	t.Helper()
	args := []string{
		"-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30",
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
		"-t", seconds,
	}
	if !hasCodec(opts, "-c:v") {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	}
	if !hasCodec(opts, "-c:a") {
		args = append(args, "-c:a", "aac")
	}
	return FFmpeg(t, name, append(args, opts...)...)
}

func hasCodec(opts []string, flag string) bool {
	for _, o := range opts {
		if o == flag {
			return true
		}
	}
	return false
}

// Truncate copies the first n bytes of the file at path to a new file and
// returns its path: a recording cut short.
func Truncate(t testing.TB, path string, n int64) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "truncated-"+filepath.Base(path))
	if err := os.WriteFile(out, b[:min(int64(len(b)), n)], 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// NoiseWAV returns a valid WAV file of about size bytes: 48 kHz mono 16-bit
// noise from the given seed, so that every seed gives different content.
// Tests that need many distinct, quickly made media files use it.
func NoiseWAV(size int, seed uint64) []byte {
	n := max(size-44, 2) &^ 1
	b := make([]byte, 44+n)
	copy(b, "RIFF")
	le32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	le32(b[16:], 16)
	b[20], b[22] = 1, 1 // PCM, mono
	le32(b[24:], 48000)
	le32(b[28:], 96000)
	b[32], b[34] = 2, 16
	copy(b[36:], "data")
	le32(b[40:], uint32(n))
	x := seed*0x9e3779b97f4a7c15 + 1
	for i := 44; i+8 <= len(b); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		for j := range 8 {
			b[i+j] = byte(x >> (8 * j))
		}
	}
	return b
}

func le32(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }

// Scene makes a clip of one shared scene: a test-pattern video whose
// sound is seconds of a pink-noise street scene (the same for every seed)
// starting at start seconds into it, as name, with extra output options
// (codecs, sample rate). Clips of one seed share their sound where their
// spans overlap, as cameras at one encounter do.
func Scene(t testing.TB, name string, seed int, start, seconds float64, opts ...string) string {
	t.Helper()
	args := []string{
		"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=320x240:rate=30:duration=%g", seconds),
		"-f", "lavfi", "-i", fmt.Sprintf("anoisesrc=d=%g:c=pink:a=0.3:seed=%d,atrim=start=%g:duration=%g,asetpts=PTS-STARTPTS",
			start+seconds+1, seed, start, seconds),
		"-shortest",
	}
	if !hasCodec(opts, "-c:v") {
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	}
	if !hasCodec(opts, "-c:a") {
		args = append(args, "-c:a", "aac")
	}
	return FFmpeg(t, name, append(args, opts...)...)
}

// Loudness is the RMS level (full scale 1) of the sound of the file at
// path between from and to seconds, mixed to mono at 8 kHz.
func Loudness(t testing.TB, path string, from, to float64) float64 {
	t.Helper()
	pcm, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "f32le", "-").Output()
	if err != nil {
		t.Fatalf("decoding the sound of %s: %v", path, err)
	}
	var sum float64
	n := 0
	for i := int(from * 8000); i < int(to*8000) && 4*i+4 <= len(pcm); i++ {
		v := float64(math.Float32frombits(binary.LittleEndian.Uint32(pcm[4*i:])))
		sum += v * v
		n++
	}
	return math.Sqrt(sum / math.Max(float64(n), 1))
}
