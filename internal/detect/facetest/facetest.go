// Package facetest builds test frames with faces of known sizes at known
// places, for the face detector's and the redaction's tests.
//
// The face is the photograph that ships in the pigo module's testdata
// (github.com/esimov/pigo v1.4.6, a frontal portrait, 320x400), fetched
// with `go mod download` like any module: nothing large is kept in this
// repository. Faces are pasted dim (a quarter of the light, with noise)
// or turned (narrowed and tilted, as a head turned 45° looks) on request.
package facetest

import (
	"image/draw"

	"bytes"
	"encoding/json"
	"fmt"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"
	"image"
	"image/color"
	_ "image/jpeg"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// The portrait's face (hairline to chin, ear to ear) in its own pixels.
var faceRect = image.Rect(58, 78, 262, 350)

var photo struct {
	once sync.Once
	img  *image.RGBA
	err  error
}

// Photo returns the portrait, fetching the module once.
func Photo() (*image.RGBA, error) {
	photo.once.Do(func() {
		out, err := exec.Command("go", "mod", "download", "-json", "github.com/esimov/pigo@v1.4.6").Output()
		if err != nil {
			photo.err = err
			return
		}
		var m struct{ Dir string }
		if photo.err = json.Unmarshal(out, &m); photo.err != nil {
			return
		}
		b, err := os.ReadFile(filepath.Join(m.Dir, "testdata", "sample.jpg"))
		if err != nil {
			photo.err = err
			return
		}
		img, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			photo.err = err
			return
		}
		rgba := image.NewRGBA(img.Bounds())
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				rgba.Set(x, y, img.At(x, y))
			}
		}
		photo.img = rgba
	})
	if photo.err != nil {
		return nil, fmt.Errorf("the test portrait (pigo v1.4.6 testdata): %w", photo.err)
	}
	return photo.img, nil
}

// What Paste drew at a pixel.
const (
	Drawn     uint8 = 1 // hair, neck, the photograph's background
	FacePixel uint8 = 2 // the face itself
)

// Face is one face to paste: its height in pixels (the face, hairline to
// chin), its centre, and how it looks.
type Face struct {
	CX, CY float64
	Height float64
	Dim    bool // a quarter of the light, with noise
	Turned bool // narrowed to 60% and tilted 12°
}

// Box is where the face's pixels are in the frame (x0, y0, x1, y1).
func (f Face) Box() image.Rectangle {
	s := f.Height / float64(faceRect.Dy())
	w := float64(faceRect.Dx()) * s
	if f.Turned {
		w *= 0.6
	}
	// A tilt of 12° widens the bounds a little.
	if f.Turned {
		a := 12 * math.Pi / 180
		w, h := w*math.Cos(a)+f.Height*math.Sin(a), w*math.Sin(a)+f.Height*math.Cos(a)
		return image.Rect(int(f.CX-w/2), int(f.CY-h/2), int(math.Ceil(f.CX+w/2)), int(math.Ceil(f.CY+h/2)))
	}
	return image.Rect(int(f.CX-w/2), int(f.CY-f.Height/2), int(math.Ceil(f.CX+w/2)), int(math.Ceil(f.CY+f.Height/2)))
}

// Paste draws the face of src (Photo), with some of the photograph's
// hair and neck around it, onto img, and returns what it drew, a value
// per pixel of img: FacePixel where the face's own pixels are (the
// ellipse inside Box), Drawn for the rest of what was pasted, 0
// elsewhere.
func Paste(src, img *image.RGBA, f Face, seed uint32) []uint8 {
	b := img.Bounds()
	mask := make([]uint8, b.Dx()*b.Dy())
	s := f.Height / float64(faceRect.Dy())
	sx := s
	if f.Turned {
		sx *= 0.6
	}
	a := 0.0
	if f.Turned {
		a = 12 * math.Pi / 180
	}
	cos, sin := math.Cos(a), math.Sin(a)
	fcx := float64(faceRect.Min.X+faceRect.Max.X) / 2
	fcy := float64(faceRect.Min.Y+faceRect.Max.Y) / 2
	// The photograph's region pasted: the face and a margin of hair.
	reach := f.Height * 0.75
	rnd := seed*2654435761 + 1
	for y := int(f.CY - reach); y <= int(f.CY+reach); y++ {
		for x := int(f.CX - reach); x <= int(f.CX+reach); x++ {
			if x < b.Min.X || y < b.Min.Y || x >= b.Max.X || y >= b.Max.Y {
				continue
			}
			// Frame -> photograph: undo the tilt, then the scale.
			dx, dy := float64(x)+0.5-f.CX, float64(y)+0.5-f.CY
			ux, uy := dx*cos+dy*sin, -dx*sin+dy*cos
			px, py := fcx+ux/sx, fcy+uy/s
			if px < 30 || py < 30 || px >= 290 || py >= 395 {
				continue
			}
			c := src.RGBAAt(int(px), int(py))
			if f.Dim {
				rnd = rnd*1664525 + 1013904223
				n := int(rnd>>28) - 8
				c = color.RGBA{dim(c.R, n), dim(c.G, n), dim(c.B, n), 255}
			}
			img.SetRGBA(x, y, c)
			ex := (px - fcx) / (float64(faceRect.Dx()) / 2)
			ey := (py - fcy) / (float64(faceRect.Dy()) / 2)
			m := Drawn
			if ex*ex+ey*ey <= 1 {
				m = FacePixel
			}
			mask[(y-b.Min.Y)*b.Dx()+(x-b.Min.X)] = m
		}
	}
	return mask
}

func dim(v uint8, noise int) uint8 {
	return uint8(max(0, min(255, int(v)/4+noise)))
}

// Scene is a street-like background: a gradient with blocks, no faces.
func Scene(w, h int, seed int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			v := uint8(60 + 80*y/h)
			blk := ((x+seed*7)/97 + y/61) % 5
			img.SetRGBA(x, y, color.RGBA{v + uint8(blk*12), v + uint8(blk*5), v + uint8(20-blk*4), 255})
		}
	}
	return img
}

// RGB packs img as 3 bytes a pixel.
func RGB(img *image.RGBA) []byte {
	b := img.Bounds()
	out := make([]byte, 0, 3*b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		row := img.Pix[(y-b.Min.Y)*img.Stride:]
		for x := 0; x < b.Dx(); x++ {
			out = append(out, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
	return out
}

// Models is the models folder of this checkout (scripts/models.sh
// installs it at the module's root), found from the working directory.
func Models() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "models"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Write fills bg with fill and writes lines on it in ink, in the Go Bold
// font at size pixels: a licence plate, a screen.
func Write(img *image.RGBA, bg image.Rectangle, fill, ink color.Color, size float64, lines ...string) error {
	draw.Draw(img, bg, image.NewUniform(fill), image.Point{}, draw.Src)
	f, err := opentype.Parse(gobold.TTF)
	if err != nil {
		return err
	}
	face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: size, DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		return err
	}
	for i, l := range lines {
		dr := font.Drawer{Dst: img, Src: image.NewUniform(ink), Face: face,
			Dot: fixed.P(bg.Min.X+int(size/2), bg.Min.Y+int(size*1.2)*(i+1))}
		dr.DrawString(l)
	}
	return nil
}
