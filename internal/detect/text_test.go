package detect_test

import (
	"image"
	"image/color"
	"testing"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
)

// A licence plate on a car-coloured block and a screen of text are found;
// the plain scene around them is not.
func TestTextFindsAPlateAndAScreen(t *testing.T) {
	dir, err := facetest.Models()
	if err != nil {
		t.Fatal(err)
	}
	d, err := detect.LoadText(dir, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	img := facetest.Scene(1280, 720, 2)
	write := func(bg image.Rectangle, fill, ink color.Color, size float64, lines ...string) {
		if err := facetest.Write(img, bg, fill, ink, size, lines...); err != nil {
			t.Fatal(err)
		}
	}
	plate := image.Rect(200, 500, 380, 548)
	write(image.Rect(150, 420, 430, 600), color.RGBA{120, 20, 20, 255}, color.Black, 1) // the car
	write(plate, color.RGBA{235, 235, 225, 255}, color.RGBA{20, 20, 60, 255}, 34, "KDX 4721")
	screen := image.Rect(800, 120, 1100, 300)
	write(screen, color.RGBA{20, 30, 40, 255}, color.RGBA{200, 230, 255, 255}, 22, "Dispatch 14:02", "Unit 7 en route", "Plate KDX4721")
	boxes, err := d.Frame(facetest.RGB(img), 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	covered := func(r image.Rectangle) float64 {
		want := detect.Box{X: float64(r.Min.X), Y: float64(r.Min.Y), W: float64(r.Dx()), H: float64(r.Dy())}
		best := 0.0
		for _, b := range boxes {
			best = max(best, detect.IoU(want, b))
		}
		return best
	}
	for _, b := range boxes {
		t.Logf("box %.0f,%.0f %.0fx%.0f score %.2f", b.X, b.Y, b.W, b.H, b.Score)
	}
	if c := covered(plate); c < 0.4 {
		t.Errorf("the plate: best IoU %.2f", c)
	}
	// The screen's lines are found (each a box inside the screen).
	inScreen := 0
	for _, b := range boxes {
		r := image.Rect(int(b.X), int(b.Y), int(b.X+b.W), int(b.Y+b.H))
		switch {
		case r.In(screen.Inset(-8)):
			inScreen++
		case !r.Overlaps(plate.Inset(-20)):
			t.Errorf("text found where there is none: %v", r)
		}
	}
	if inScreen < 3 {
		t.Errorf("%d boxes on the screen of three lines", inScreen)
	}
}
