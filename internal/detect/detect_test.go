package detect_test

import (
	"image"
	"os"
	"path/filepath"
	"testing"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/detect/facetest"
)

// ModelDir finds the models folder at the module's root.
func modelDir(t testing.TB) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "models")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

func TestFrameFindsFacesOfEverySize(t *testing.T) {
	d, err := detect.Load(modelDir(t), 2)
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
	for i, f := range faces {
		facetest.Paste(t, img, f, uint32(i))
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
		t.Logf("face %v %v: best IoU %.2f", f, r, best)
	}
	_ = image.Rect
}
