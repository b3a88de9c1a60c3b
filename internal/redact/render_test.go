package redact_test

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/media/mediatest"
	"github.com/sightline/sightline/internal/redact"
	"github.com/sightline/sightline/verify"
)

// plan describes a test clip for a manifest.
func plan(t *testing.T, tool *media.Tool, src media.Source, changes ...verify.Change) verify.Manifest {
	t.Helper()
	f, err := tool.CountFrames(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	return verify.Manifest{Format: verify.ManifestFormat,
		Original: verify.ManifestOriginal{Evidence: "e1", SHA256: "00000000000000000000000000000000000000000000000000000000000000aa",
			Size: 1, Container: src.Container, Width: f.Width, Height: f.Height, FPS: 30, Frames: f.Count, Audio: true},
		Tools: verify.ManifestTools{Recipe: redact.Recipe}, Changes: changes, Author: "staff:a", Approver: "staff:b"}
}

func TestRenderChangesTheBoxAndTheSpanOnlyAndIsDeterministic(t *testing.T) {
	tool := &media.Tool{}
	src := media.Source{Path: mediatest.Clip(t, "a.mp4", "3"), Container: "mp4"}
	box := verify.Change{Kind: verify.ChangeBox, Effect: verify.EffectFill, From: 10, To: 70, Source: "manual", Reason: "privacy",
		Keyframes: []verify.Keyframe{{Frame: 10, X: 21, Y: 21, W: 60, H: 40}, {Frame: 70, X: 201, Y: 151, W: 60, H: 40}}}
	mute := verify.Change{Kind: verify.ChangeMute, FromS: 1, ToS: 2, Source: "manual", Reason: "privacy"}
	p := plan(t, tool, src, box, mute)
	dir := t.TempDir()
	render := func(name string, p verify.Manifest) verify.Manifest {
		m, err := redact.Render(t.Context(), tool, src, p, filepath.Join(dir, name), dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := render("a.mp4", p), render("b.mp4", p)
	if a.Output.SHA256 != b.Output.SHA256 || len(a.StreamHashes) != 2 || a.StreamHashes[0] != b.StreamHashes[0] {
		t.Fatalf("two renders of one manifest differ: %+v %v, %+v %v", a.Output, a.StreamHashes, b.Output, b.StreamHashes)
	}
	moved := p
	moved.Changes = []verify.Change{box, mute}
	moved.Changes[0].Keyframes = []verify.Keyframe{{Frame: 10, X: 23, Y: 21, W: 60, H: 40}, {Frame: 70, X: 201, Y: 151, W: 60, H: 40}}
	if c := render("c.mp4", moved); c.Output.SHA256 == a.Output.SHA256 || c.StreamHashes[0] == a.StreamHashes[0] {
		t.Error("a box moved by 2 pixels rendered the same bytes")
	}

	// Every frame of the range is black inside the box; the rest of the
	// picture is as the original's (within the encoder's loss).
	out := media.Source{Path: filepath.Join(dir, "a.mp4"), Container: "mp4"}
	f := media.Frames{Width: p.Original.Width, Height: p.Original.Height, Count: p.Original.Frames}
	var orig [][]byte
	if err := tool.Decode(t.Context(), src, f, "yuv420p", 1, func(n int, fr []byte) error {
		orig = append(orig, append([]byte(nil), fr...))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	frames := 0
	if err := tool.Decode(t.Context(), out, f, "yuv420p", 1, func(n int, fr []byte) error {
		frames++
		k, in := box.BoxAt(n)
		var inside, changedOutside, outsideN int
		for y := 0; y < f.Height; y++ {
			for x := 0; x < f.Width; x++ {
				v, o := int(fr[y*f.Width+x]), int(orig[n][y*f.Width+x])
				if in && x >= k.X && x < k.X+k.W && y >= k.Y && y < k.Y+k.H {
					// Black, but for the encoder's ringing at the edge.
					edge := x < k.X+2 || x >= k.X+k.W-2 || y < k.Y+2 || y >= k.Y+k.H-2
					if v > 24 && !edge || v > 48 {
						inside++
					}
					continue
				}
				if in && x >= k.X-4 && x < k.X+k.W+4 && y >= k.Y-4 && y < k.Y+k.H+4 {
					continue // the box's even padding and the encoder's ringing
				}
				outsideN++
				if abs(v-o) > 24 {
					changedOutside++
				}
			}
		}
		if inside > 0 {
			t.Errorf("frame %d: %d pixels of the box are not black", n, inside)
		}
		if changedOutside > outsideN/200 {
			t.Errorf("frame %d: %d of %d pixels outside the box changed", n, changedOutside, outsideN)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if frames != p.Original.Frames {
		t.Errorf("the output has %d frames, the original %d", frames, p.Original.Frames)
	}

	// The muted second is silent, the rest is not.
	if r := mediatest.Loudness(t, out.Path, 1.02, 1.98); r > 1e-3 {
		t.Errorf("the muted span has sound (rms %.4f)", r)
	}
	if r := mediatest.Loudness(t, out.Path, 0.2, 0.9); r < 0.05 {
		t.Errorf("the sound before the span is gone (rms %.4f)", r)
	}
	if r := mediatest.Loudness(t, out.Path, 2.1, 2.8); r < 0.05 {
		t.Errorf("the sound after the span is gone (rms %.4f)", r)
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// TestRenderSpanIsThatSpan renders frames 15 to 60 of a 3-second clip
// with a box: 45 frames and 1.5 s of sound, the box where the original's
// frame numbers put it, and the same bytes twice.
func TestRenderSpanIsThatSpan(t *testing.T) {
	tool := &media.Tool{}
	src := media.Source{Path: mediatest.Clip(t, "a.mp4", "3"), Container: "mp4"}
	box := verify.Change{Kind: verify.ChangeBox, Effect: verify.EffectFill, From: 30, To: 40, Source: "manual", Reason: "privacy",
		Keyframes: []verify.Keyframe{{Frame: 30, X: 20, Y: 20, W: 60, H: 40}, {Frame: 40, X: 20, Y: 20, W: 60, H: 40}}}
	p := plan(t, tool, src, box)
	dir := t.TempDir()
	render := func(name string) verify.Manifest {
		m, err := redact.RenderSpan(t.Context(), tool, src, p, 15, 60, filepath.Join(dir, name), dir)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, b := render("a.mp4"), render("b.mp4")
	if a.Output.SHA256 != b.Output.SHA256 {
		t.Fatalf("two renders of one span differ")
	}
	out := media.Source{Path: filepath.Join(dir, "a.mp4"), Container: "mp4"}
	f := media.Frames{Width: p.Original.Width, Height: p.Original.Height}
	var black []int
	n := 0
	if err := tool.Decode(t.Context(), out, f, "yuv420p", 1, func(i int, fr []byte) error {
		n++
		if fr[30*f.Width+40] < 30 { // inside the box: luma of black
			black = append(black, i)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n != 45 || len(black) != 11 || black[0] != 15 || black[10] != 25 {
		t.Errorf("%d frames, the box black in frames %v; want 45, frames 15 to 25 (30 to 40 of the original)", n, black)
	}
	pcm, err := exec.Command("ffmpeg", "-v", "error", "-i", out.Path, "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-").Output()
	if d := float64(len(pcm)) / 2 / 8000; err != nil || d < 1.45 || d > 1.6 {
		t.Errorf("%.3f s of sound (%v), want 1.5", d, err)
	}
}
