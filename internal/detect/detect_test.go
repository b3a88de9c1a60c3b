package detect_test

import (
	"testing"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
)

func TestFrameFindsFacesOfEverySize(t *testing.T) {
	dir, err := facetest.Models()
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.Load(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := facetest.Scene(1280, 720, 1)
	faces := []facetest.Face{
		{CX: 100, CY: 150, Height: 24}, {CX: 250, CY: 150, Height: 32}, {CX: 420, CY: 160, Height: 48},
		{CX: 620, CY: 170, Height: 64}, {CX: 850, CY: 180, Height: 100}, {CX: 1120, CY: 200, Height: 200},
		{CX: 150, CY: 500, Height: 40, Dim: true}, {CX: 350, CY: 500, Height: 80, Dim: true},
		{CX: 600, CY: 500, Height: 40, Turned: true}, {CX: 850, CY: 520, Height: 120, Turned: true},
		{CX: 1100, CY: 560, Height: 150, Dim: true, Turned: true},
	}
	photo, err := facetest.Photo()
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range faces {
		facetest.Paste(photo, img, f, uint32(i))
	}
	boxes, err := d.Frame(facetest.RGB(img), 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range boxes {
		t.Logf("box %.0f,%.0f %.0fx%.0f score %.2f", b.X, b.Y, b.W, b.H, b.Score)
	}
	for _, f := range faces {
		r := f.Box()
		want := detect.Box{X: float64(r.Min.X), Y: float64(r.Min.Y), W: float64(r.Dx()), H: float64(r.Dy())}
		best := 0.0
		for _, b := range boxes {
			best = max(best, detect.IoU(want, b))
		}
		if best < 0.45 {
			t.Errorf("face %+v at %v: best IoU %.2f", f, r, best)
		}
	}
	if len(boxes) != len(faces) {
		t.Errorf("%d boxes for %d faces", len(boxes), len(faces))
	}
}
