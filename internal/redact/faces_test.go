package redact_test

import (
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/internal/redact/redacttest"
	"github.com/sightline/sightline/verify"
)

// The automatic redaction, with no manual change, hides faces of 24 to
// 200 pixels, bright, dim and turned, as they walk across the picture.
func TestAutomaticRedactionHidesEveryFace(t *testing.T) {
	dir, err := facetest.Models()
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.Load(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	tmp := t.TempDir()
	clip, err := redacttest.Build(t.Context(), tmp, "faces.mp4", 1280, 720, 90, redacttest.Set(1280, 720))
	if err != nil {
		t.Fatal(err)
	}
	tool := &media.Tool{}
	// The measure sees every face in the clip itself.
	if bare, err := clip.Measure(t.Context(), tool, clip.Path); err != nil || bare.Shown != bare.Pairs || bare.Pairs+bare.Covered != 900 || bare.Pairs < 850 {
		t.Fatalf("the clip measured against itself: %v, %v", bare, err)
	}
	src := media.Source{Path: clip.Path, Container: "mp4"}
	f, err := tool.CountFrames(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	tracks, err := redact.Find(t.Context(), tool, []redact.Finder{redact.Faces(det)}, src, f, clip.FPS, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := plan(t, tool, src)
	for _, tr := range tracks {
		p.Changes = append(p.Changes, tr.Change(verify.EffectFill, "privacy"))
		if len(tr.Thumb) == 0 {
			t.Errorf("track %d has no thumbnail", tr.ID)
		}
	}
	m, err := redact.Render(t.Context(), tool, src, p, filepath.Join(tmp, "out.mp4"), tmp)
	if err != nil {
		t.Fatal(err)
	}
	leaks, err := clip.Measure(t.Context(), tool, filepath.Join(tmp, "out.mp4"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d tracks for %d faces; %s; output %d bytes", len(tracks), len(clip.Faces), leaks, m.Output.Size)
	if leaks.Rate() >= 0.01 {
		t.Errorf("%.2f%% of (face, frame) pairs show a face, want under 1%%", 100*leaks.Rate())
	}
	if leaks.LongestRun > 2 {
		t.Errorf("a face showed for %d frames in a row, want at most 2", leaks.LongestRun)
	}
}
