// Command redact measures automatic redaction on a minute of 720p30
// video, against decoding the same minute, in the same run.
//
// It builds a test clip (redacttest: ten faces 24 to 200 pixels tall,
// bright, dim and turned, walking across a street-like scene), then
// times:
//
//   - the baseline: ffmpeg decoding the clip to raw frames, once;
//   - detection: the face detector over the clip, every third frame,
//     followed into tracks (redact.Find, 2 threads);
//   - the render: every track as a solid box, the deterministic encode
//     (redact.Render: one x264 thread, as the recipe pins).
//
// It prints seconds of each per minute of video and as a ratio to the
// baseline, the total against the target (a minute in at most two), and
// the leak figures of the output: how many (face, frame) pairs show more
// than 10% of the face, the longest run of frames one face showed, and
// the share of the picture redacted away from any face.
//
//	go run ./bench/redact [-seconds 60] [-threads 2]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/redact/redacttest"
	"github.com/sightline/sightline/verify"
)

func main() {
	seconds := flag.Int("seconds", 60, "length of the test clip")
	threads := flag.Int("threads", 2, "the detector's threads")
	flag.Parse()
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-redact-")
	check(err)
	defer os.RemoveAll(dir)
	models, err := facetest.Models()
	check(err)
	det, err := detect.Load(models, *threads)
	check(err)
	defer det.Close()

	const w, h = 1280, 720
	frames := *seconds * 30
	fmt.Printf("building a %d s %dx%d clip of %d faces...\n", *seconds, w, h, len(redacttest.Set(w, h)))
	t0 := time.Now()
	clip, err := redacttest.Build(ctx, dir, "faces.mp4", w, h, frames, redacttest.Set(w, h))
	check(err)
	fmt.Printf("built in %.1f s\n", time.Since(t0).Seconds())
	tool := &media.Tool{Timeout: time.Hour}
	src := media.Source{Path: clip.Path, Container: "mp4"}
	f, err := tool.CountFrames(ctx, src)
	check(err)

	t0 = time.Now()
	check(tool.Decode(ctx, src, f, "yuv420p", 1, func(int, []byte) error { return nil }))
	base := time.Since(t0).Seconds()

	t0 = time.Now()
	tracks, err := redact.Find(ctx, tool, []redact.Finder{redact.Faces(det)}, src, f, clip.FPS, nil)
	check(err)
	detection := time.Since(t0).Seconds()

	plan := verify.Manifest{Format: verify.ManifestFormat,
		Original: verify.ManifestOriginal{Evidence: "bench", SHA256: fmt.Sprintf("%064x", 1), Size: 1, Container: "mp4",
			Width: f.Width, Height: f.Height, FPS: clip.FPS, Frames: f.Count, Audio: true},
		Tools: verify.ManifestTools{Recipe: redact.Recipe}, Author: "a", Approver: "b"}
	for _, t := range tracks {
		plan.Changes = append(plan.Changes, t.Change(verify.EffectFill, "privacy"))
	}
	out := filepath.Join(dir, "out.mp4")
	t0 = time.Now()
	_, err = redact.Render(ctx, tool, src, plan, out, dir)
	check(err)
	render := time.Since(t0).Seconds()

	leaks, err := clip.Measure(ctx, tool, out)
	check(err)

	perMinute := 60 / float64(*seconds)
	fmt.Printf("\nper minute of %dx%d at 30 fps (%d frames measured):\n", w, h, frames)
	fmt.Printf("  baseline, decoding:  %6.1f s\n", base*perMinute)
	fmt.Printf("  detection:           %6.1f s  (%.1f× the decode; %d tracks for %d faces)\n", detection*perMinute, detection/base, len(tracks), len(clip.Faces))
	fmt.Printf("  render:              %6.1f s  (%.1f× the decode)\n", render*perMinute, render/base)
	total := (detection + render) * perMinute
	verdict := "meets"
	if total > 120 {
		verdict = "MISSES"
	}
	fmt.Printf("  total:               %6.1f s  (%s the target of 120 s)\n", total, verdict)
	fmt.Printf("leaks: %s\n", leaks)
	for i, n := range leaks.ByFace {
		if n > 0 {
			f := clip.Faces[i]
			fmt.Printf("  face %d (%.0f px, dim %v, turned %v): shown in %d frames\n", i, f.Height, f.Dim, f.Turned, n)
		}
	}
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-redact:", err)
		os.Exit(1)
	}
}
