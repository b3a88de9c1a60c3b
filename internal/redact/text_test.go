package redact_test

import (
	"fmt"
	"image"
	"image/color"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/redact"
)

// A licence plate driving across the picture is followed as one text
// track whose box covers the plate in every frame.
func TestTextIsFollowedAcrossThePicture(t *testing.T) {
	dir, err := facetest.Models()
	if err != nil {
		t.Fatal(err)
	}
	det, err := detect.LoadText(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	const w, h, frames = 640, 360, 60
	plateAt := func(n int) image.Rectangle { return image.Rect(60+4*n, 250, 60+4*n+120, 282) }
	path := filepath.Join(t.TempDir(), "plate.mp4")
	cmd := exec.Command("ffmpeg", "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h),
		"-r", "30", "-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14", "-pix_fmt", "yuv420p", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for n := range frames {
		img := facetest.Scene(w, h, 5)
		p := plateAt(n)
		if err := facetest.Write(img, p.Inset(-30), color.RGBA{40, 60, 110, 255}, color.Black, 1); err != nil { // the car
			t.Fatal(err)
		}
		if err := facetest.Write(img, p, color.RGBA{240, 240, 230, 255}, color.RGBA{10, 10, 40, 255}, 24, "KDX 4721"); err != nil {
			t.Fatal(err)
		}
		in.Write(facetest.RGB(img))
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	tool := &media.Tool{}
	src := media.Source{Path: path, Container: "mp4"}
	f, err := tool.CountFrames(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	tracks, err := redact.Find(t.Context(), tool, []redact.Finder{redact.Text(det)}, src, f, 30, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tracks) != 1 || tracks[0].Kind != "text" || len(tracks[0].Thumb) == 0 {
		t.Fatalf("%d tracks for one plate: %+v", len(tracks), tracks)
	}
	c := tracks[0].Change("fill", "identifiers")
	for n := range frames {
		k, ok := c.BoxAt(n)
		box := image.Rect(k.X, k.Y, k.X+k.W, k.Y+k.H)
		// The letters start half the font's size in.
		pl := plateAt(n)
		if p := image.Rect(pl.Min.X+12, pl.Min.Y+4, pl.Max.X-4, pl.Max.Y-4); !ok || !p.In(box) {
			t.Errorf("frame %d: the plate's text %v is not inside the box %v", n, p, box)
		}
	}
}
