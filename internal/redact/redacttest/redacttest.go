// Package redacttest builds videos with faces of known sizes at known
// places in every frame, and measures how well a redacted copy hides
// them: the test of automatic redaction and `make bench-redact` share it.
package redacttest

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/sightline/sightline/internal/detect/facetest"
	"github.com/sightline/sightline/internal/media"
)

// Moving is a face that crosses the scene: its place at frame 0 and its
// speed in pixels a frame.
type Moving struct {
	facetest.Face
	VX, VY float64
}

// At is the face at frame n of a w×h scene: it walks straight and turns
// back at the scene's edges.
func (m Moving) At(n, w, h int) facetest.Face {
	f := m.Face
	half := f.Height * 0.6
	f.CX = bounce(f.CX+m.VX*float64(n), half, float64(w)-half)
	f.CY = bounce(f.CY+m.VY*float64(n), half, float64(h)-half)
	return f
}

// bounce reflects p into [lo, hi].
func bounce(p, lo, hi float64) float64 {
	span := hi - lo
	if span <= 0 {
		return lo
	}
	q := math.Mod(p-lo, 2*span)
	if q < 0 {
		q += 2 * span
	}
	if q > span {
		q = 2*span - q
	}
	return lo + q
}

// Set is the test set for a w×h scene (made for 1280x720): faces from 24
// to 200 pixels tall, walking at 1 to 4 pixels a frame, bright, dim,
// turned, and dim and turned.
func Set(w, h int) []Moving {
	sx, sy := float64(w)/1280, float64(h)/720
	faces := []Moving{
		{facetest.Face{CX: 60, CY: 60, Height: 24}, 3, 0.2},
		{facetest.Face{CX: 1200, CY: 110, Height: 32, Dim: true}, -2.5, 0},
		{facetest.Face{CX: 100, CY: 170, Height: 40, Turned: true}, 2, 0.3},
		{facetest.Face{CX: 1150, CY: 250, Height: 48}, -3, 0},
		{facetest.Face{CX: 80, CY: 330, Height: 64, Dim: true, Turned: true}, 2.5, -0.2},
		{facetest.Face{CX: 1180, CY: 420, Height: 80, Turned: true}, -1.5, 0},
		{facetest.Face{CX: 120, CY: 530, Height: 100, Dim: true}, 1.5, 0},
		{facetest.Face{CX: 640, CY: 560, Height: 128}, -1, -0.3},
		{facetest.Face{CX: 1100, CY: 600, Height: 150, Dim: true, Turned: true}, -1, 0},
		{facetest.Face{CX: 400, CY: 580, Height: 200}, 1, 0},
	}
	for i := range faces {
		faces[i].CX *= sx
		faces[i].CY *= sy
		faces[i].Height *= sy
		faces[i].VX *= sx
		faces[i].VY *= sy
	}
	return faces
}

// Clip is a video made by Build and where its faces are.
type Clip struct {
	Path          string
	Width, Height int
	Frames        int
	FPS           float64
	Faces         []Moving
}

// masks are the pixel offsets of each face's own pixels in frame n that
// show: a face pasted later covers those of the faces before it. full
// is how many pixels each face has, covered or not.
func (c *Clip) masks(photo, scratch *image.RGBA, n int) (visible [][]int32, full []int) {
	drawn := make([][]uint8, len(c.Faces))
	for i, m := range c.Faces {
		drawn[i] = facetest.Paste(photo, scratch, m.At(n, c.Width, c.Height), uint32(n*31+i))
	}
	for i := range c.Faces {
		var idx []int32
		total := 0
		for p, v := range drawn[i] {
			if v != facetest.FacePixel {
				continue
			}
			total++
			covered := false
			for j := i + 1; j < len(drawn) && !covered; j++ {
				covered = drawn[j][p] != 0
			}
			if !covered {
				idx = append(idx, int32(p))
			}
		}
		visible, full = append(visible, idx), append(full, total)
	}
	return visible, full
}

// Build writes a clip of frames frames at 30 fps to dir/name (H.264 at a
// high quality and a tone, in MP4), faces moving over a street-like
// scene. The faces are the photograph of facetest.
func Build(ctx context.Context, dir, name string, w, h, frames int, faces []Moving) (*Clip, error) {
	photo, err := facetest.Photo()
	if err != nil {
		return nil, err
	}
	c := &Clip{Path: filepath.Join(dir, name), Width: w, Height: h, Frames: frames, FPS: 30, Faces: faces}
	cmd := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-y",
		"-f", "rawvideo", "-pix_fmt", "rgb24", "-s", fmt.Sprintf("%dx%d", w, h), "-r", "30", "-i", "pipe:0",
		"-f", "lavfi", "-i", "sine=frequency=300:sample_rate=48000", "-t", strconv.FormatFloat(float64(frames)/30, 'f', 4, 64),
		"-c:v", "libx264", "-preset", "ultrafast", "-crf", "12", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", c.Path)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	var stderr limited
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	scene := facetest.Scene(w, h, 3)
	img := image.NewRGBA(scene.Bounds())
	var werr error
	for n := 0; n < frames && werr == nil; n++ {
		copy(img.Pix, scene.Pix)
		for i, m := range faces {
			facetest.Paste(photo, img, m.At(n, w, h), uint32(n*31+i))
		}
		_, werr = in.Write(facetest.RGB(img))
	}
	in.Close()
	if err := errors.Join(werr, cmd.Wait()); err != nil {
		return nil, fmt.Errorf("encoding the test clip: %v: %s", err, stderr.b)
	}
	return c, nil
}

type limited struct{ b []byte }

func (l *limited) Write(p []byte) (int, error) {
	if len(l.b) < 8192 {
		l.b = append(l.b, p[:min(len(p), 8192-len(l.b))]...)
	}
	return len(p), nil
}

// Leaks is how well a redacted copy hides the clip's faces.
type Leaks struct {
	// Pairs are (face, frame) pairs with the face in the picture, at
	// least half of it not covered by another face; Shown those with
	// more than 10% of the face's visible pixels unchanged. Covered are
	// the pairs left out, the face mostly behind another.
	Pairs, Shown, Covered int
	// LongestRun is the most frames in a row one face was shown.
	LongestRun int
	// ByFace is how many frames each face (of Clip.Faces) was shown in.
	ByFace []int
	// FalseArea is the share of the picture changed far from any face
	// (more than half a face's size away), over every frame: area
	// redacted that held no face.
	FalseArea float64
}

// Rate is the share of pairs shown.
func (l Leaks) Rate() float64 { return float64(l.Shown) / math.Max(float64(l.Pairs), 1) }

func (l Leaks) String() string {
	return fmt.Sprintf("%d of %d (face, frame) pairs show more than 10%% of the face (%.2f%%); longest run %d frames; %.2f%% of the picture redacted away from faces; %d pairs left out, the face mostly behind another",
		l.Shown, l.Pairs, 100*l.Rate(), l.LongestRun, 100*l.FalseArea, l.Covered)
}

// Unchanged is how close a luma value must stay to count as unchanged.
const Unchanged = 10

// Measure compares the redacted copy at path with the clip, frame by
// frame (both decoded by tool).
func (c *Clip) Measure(ctx context.Context, tool *media.Tool, path string) (Leaks, error) {
	photo, err := facetest.Photo()
	if err != nil {
		return Leaks{}, err
	}
	scratch := image.NewRGBA(image.Rect(0, 0, c.Width, c.Height))
	f := media.Frames{Width: c.Width, Height: c.Height, Count: c.Frames}
	orig := make(chan []byte, 4)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	decoded := make(chan error, 1)
	go func() {
		err := tool.Decode(ctx, media.Source{Path: c.Path, Container: "mp4"}, f, "yuv420p", 1, func(n int, fr []byte) error {
			select {
			case orig <- append([]byte(nil), fr...):
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(orig)
		decoded <- err
	}()
	l := Leaks{ByFace: make([]int, len(c.Faces))}
	runs := make([]int, len(c.Faces))
	var falsePixels, allPixels float64
	n := 0
	err = tool.Decode(ctx, media.Source{Path: path, Container: "mp4"}, f, "yuv420p", 1, func(i int, out []byte) error {
		o, ok := <-orig
		if !ok {
			return errors.New("the original has fewer frames than the copy")
		}
		n++
		visible, full := c.masks(photo, scratch, i)
		for fi, idx := range visible {
			if 2*len(idx) < full[fi] {
				l.Covered++
				runs[fi] = 0
				continue
			}
			l.Pairs++
			same := 0
			for _, p := range idx {
				if d := int(out[p]) - int(o[p]); d <= Unchanged && d >= -Unchanged {
					same++
				}
			}
			if same*10 > len(idx) {
				l.Shown++
				l.ByFace[fi]++
				runs[fi]++
				l.LongestRun = max(l.LongestRun, runs[fi])
			} else {
				runs[fi] = 0
			}
		}
		// Changed pixels away from every face.
		var near []image.Rectangle
		for fi := range c.Faces {
			face := c.Faces[fi].At(i, c.Width, c.Height)
			r := face.Box()
			g := int(face.Height / 2)
			near = append(near, image.Rect(r.Min.X-g, r.Min.Y-g, r.Max.X+g, r.Max.Y+g))
		}
		for y := 0; y < c.Height; y += 2 {
			for x := 0; x < c.Width; x += 2 {
				allPixels++
				p := y*c.Width + x
				if d := int(out[p]) - int(o[p]); d <= 3*Unchanged && d >= -3*Unchanged {
					continue
				}
				pt := image.Pt(x, y)
				far := true
				for _, r := range near {
					if pt.In(r) {
						far = false
						break
					}
				}
				if far {
					falsePixels++
				}
			}
		}
		return nil
	})
	cancel()
	for range orig {
	}
	if derr := <-decoded; err == nil && derr != nil && !errors.Is(derr, context.Canceled) {
		err = derr
	}
	if err != nil {
		return l, err
	}
	if n != c.Frames {
		return l, fmt.Errorf("the copy has %d frames, the clip %d", n, c.Frames)
	}
	l.FalseArea = falsePixels / math.Max(allPixels, 1)
	return l, nil
}
