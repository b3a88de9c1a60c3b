package redact

import (
	"bytes"
	"cmp"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"math"
	"slices"

	"github.com/sightline/sightline/internal/detect"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// Track is one face (or piece of text) followed through the video: where it was each time
// the detector looked, padded to cover the head, and the frames it
// covers (a little before the first sighting and after the last, so a
// face entering or leaving is never bare).
type Track struct {
	ID    int     `json:"id"`
	Kind  string  `json:"kind"` // "face" or "text"
	From  int     `json:"from_frame"`
	To    int     `json:"to_frame"`
	Score float64 `json:"score"` // the best sighting's
	// Boxes are the sightings, as keyframes of a box change.
	Boxes []verify.Keyframe `json:"boxes"`
	// Thumb is a JPEG of the best sighting, for the editor's list.
	Thumb []byte `json:"-"`
}

// Change is the track as a box change of the manifest.
func (t Track) Change(effect, reason string) verify.Change {
	return verify.Change{Kind: verify.ChangeBox, Effect: effect, From: t.From, To: t.To, Keyframes: t.Boxes,
		Source: "auto", Track: t.ID, Score: math.Round(t.Score*1000) / 1000, Reason: reason}
}

// A Finder finds one kind of thing in frames, to be followed as tracks.
type Finder struct {
	Kind string // "face", "text"
	// Frame finds them in a frame of packed RGB.
	Frame func(rgb []byte, w, h int) ([]detect.Box, error)
	// Rate is how many frames a second it looks at.
	Rate float64
	// Pad grows a found box to what must be hidden.
	Pad func(b detect.Box, w, h int) verify.Keyframe
}

// Faces is the Finder of faces: 7.5 looks a second, boxes padded to the
// head.
func Faces(d *detect.Detector) Finder {
	return Finder{Kind: "face", Frame: d.Frame, Rate: 7.5, Pad: Pad}
}

// Text is the Finder of text (plates, screens): 2.5 looks a second,
// boxes grown by a fifth of their height all round.
func Text(d *detect.Text) Finder {
	return Finder{Kind: "text", Frame: d.Frame, Rate: 2.5, Pad: func(b detect.Box, w, h int) verify.Keyframe {
		g := b.H / 5
		return clampBox(b.X-g, b.Y-g, b.X+b.W+g, b.Y+b.H+g, w, h)
	}}
}

// Following: a thing missed for up to gapSightings looks in a row stays
// one track, its box moving straight between sightings; a track covers
// holdSightings looks more before its first sighting and after its last,
// its box carried on at the speed it was moving (a face coming out from
// behind something is boxed before the detector sees it whole).
const (
	gapSightings  = 8
	holdSightings = 4
)

// Find runs the finders over the video (decoded once) and follows what
// each finds into tracks, numbered from 1. progress, if not nil, is told
// the frames done so far.
func Find(ctx context.Context, tool *media.Tool, finders []Finder, src media.Source, f media.Frames, fps float64, progress func(frame int)) ([]Track, error) {
	if len(finders) == 0 {
		return nil, nil
	}
	every := make([]int, len(finders))
	trackers := make([]*tracker, len(finders))
	step := 0
	for i, fd := range finders {
		every[i] = max(1, int(math.Round(fps/fd.Rate)))
		trackers[i] = &tracker{every: every[i], w: f.Width, h: f.Height, pad: fd.Pad, kind: fd.Kind}
		if step == 0 || every[i] < step {
			step = every[i]
		}
	}
	err := tool.Decode(ctx, src, f, "rgb24", step, func(n int, frame []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		for i, fd := range finders {
			if n%every[i] != 0 {
				continue
			}
			boxes, err := fd.Frame(frame, f.Width, f.Height)
			if err != nil {
				return err
			}
			trackers[i].add(n, boxes, frame)
		}
		if progress != nil {
			progress(n)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out []Track
	for i, tr := range trackers {
		hold := holdSightings * every[i]
		for _, t := range tr.tracks {
			t.ID = len(out) + 1
			t.From = max(0, t.Boxes[0].Frame-hold)
			t.To = min(f.Count-1, t.Boxes[len(t.Boxes)-1].Frame+hold)
			if n := len(t.Boxes); n >= 2 {
				first := carry(t.Boxes[0], t.Boxes[1], t.From, f)
				last := carry(t.Boxes[n-1], t.Boxes[n-2], t.To, f)
				t.Boxes = append(append([]verify.Keyframe{first}, t.Boxes...), last)
				t.Boxes = slices.CompactFunc(t.Boxes, func(a, b verify.Keyframe) bool { return a.Frame == b.Frame })
			}
			t.Thumb = thumb(t.best)
			out = append(out, t.Track)
		}
	}
	return out, nil
}

// carry moves box a, seen beside b, on to frame n at the speed it moved
// between them, kept inside the picture.
func carry(a, b verify.Keyframe, n int, f media.Frames) verify.Keyframe {
	dt := float64(b.Frame - a.Frame)
	steps := float64(n - a.Frame)
	k := a
	k.Frame = n
	k.X = int(math.Round(float64(a.X) + float64(b.X-a.X)*steps/dt))
	k.Y = int(math.Round(float64(a.Y) + float64(b.Y-a.Y)*steps/dt))
	k.X = max(0, min(k.X, f.Width-k.W))
	k.Y = max(0, min(k.Y, f.Height-k.H))
	return k
}

type liveTrack struct {
	Track
	last     detect.Box // the last sighting, unpadded
	lastN    int
	velocity [2]float64 // centre pixels a frame
	best     *image.RGBA
}

type tracker struct {
	every  int
	w, h   int
	pad    func(detect.Box, int, int) verify.Keyframe
	kind   string
	tracks []*liveTrack
}

// add matches a sampled frame's faces to the open tracks, best overlap
// first, and opens a track for each face left.
func (tr *tracker) add(n int, boxes []detect.Box, frame []byte) {
	type pair struct {
		t     *liveTrack
		b     int
		score float64
	}
	var pairs []pair
	for _, t := range tr.tracks {
		if n-t.lastN > (gapSightings+1)*tr.every {
			continue // closed
		}
		dt := float64(n - t.lastN)
		pred := t.last
		pred.X += t.velocity[0] * dt
		pred.Y += t.velocity[1] * dt
		for i, b := range boxes {
			iou := detect.IoU(pred, b)
			dist := math.Hypot(pred.X+pred.W/2-b.X-b.W/2, pred.Y+pred.H/2-b.Y-b.H/2)
			near := dist < 0.6*math.Max(pred.W, b.W) && b.W < 2*pred.W && pred.W < 2*b.W
			if iou >= 0.2 || near {
				pairs = append(pairs, pair{t, i, iou + 0.01/(1+dist)})
			}
		}
	}
	slices.SortFunc(pairs, func(a, b pair) int { return cmp.Compare(b.score, a.score) })
	usedT := map[*liveTrack]bool{}
	usedB := map[int]bool{}
	for _, p := range pairs {
		if usedT[p.t] || usedB[p.b] {
			continue
		}
		usedT[p.t], usedB[p.b] = true, true
		tr.extend(p.t, n, boxes[p.b], frame)
	}
	for i, b := range boxes {
		if !usedB[i] {
			t := &liveTrack{Track: Track{Kind: tr.kind}}
			tr.tracks = append(tr.tracks, t)
			tr.extend(t, n, b, frame)
		}
	}
}

func (tr *tracker) extend(t *liveTrack, n int, b detect.Box, frame []byte) {
	if len(t.Boxes) > 0 {
		dt := float64(n - t.lastN)
		vx := (b.X + b.W/2 - t.last.X - t.last.W/2) / dt
		vy := (b.Y + b.H/2 - t.last.Y - t.last.H/2) / dt
		t.velocity = [2]float64{(t.velocity[0] + vx) / 2, (t.velocity[1] + vy) / 2}
	}
	t.last, t.lastN = b, n
	k := tr.pad(b, tr.w, tr.h)
	k.Frame = n
	t.Boxes = append(t.Boxes, k)
	if b.Score > t.Score {
		t.Score = b.Score
		t.best = crop(frame, tr.w, tr.h, k)
	}
}

// Pad grows a detector's box (brows to chin, about square) to the head:
// half its height above for the forehead and hair, a fifth below for the
// chin, a quarter to each side for the ears; clipped to the frame.
func Pad(b detect.Box, w, h int) verify.Keyframe {
	return clampBox(b.X-0.25*b.W, b.Y-0.5*b.H, b.X+1.25*b.W, b.Y+1.2*b.H, w, h)
}

// clampBox is the box of whole pixels around x0,y0 to x1,y1, inside the
// w×h picture, at least 2 pixels a side.
func clampBox(x0, y0, x1, y1 float64, w, h int) verify.Keyframe {
	x0, y0, x1, y1 = math.Floor(x0), math.Floor(y0), math.Ceil(x1), math.Ceil(y1)
	x0, y0 = math.Max(x0, 0), math.Max(y0, 0)
	x1, y1 = math.Min(x1, float64(w)), math.Min(y1, float64(h))
	k := verify.Keyframe{X: int(x0), Y: int(y0), W: int(x1 - x0), H: int(y1 - y0)}
	k.W, k.H = max(k.W, 2), max(k.H, 2)
	k.X, k.Y = min(k.X, w-k.W), min(k.Y, h-k.H)
	return k
}

// crop copies the box out of a packed RGB frame.
func crop(frame []byte, w, h int, k verify.Keyframe) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, k.W, k.H))
	for y := range k.H {
		for x := range k.W {
			i := ((k.Y+y)*w + k.X + x) * 3
			img.SetRGBA(x, y, color.RGBA{frame[i], frame[i+1], frame[i+2], 255})
		}
	}
	return img
}

// thumb scales a sighting to 96 pixels high (nearest pixel) as a JPEG.
func thumb(img *image.RGBA) []byte {
	if img == nil {
		return nil
	}
	b := img.Bounds()
	th := 96
	tw := max(1, b.Dx()*th/max(b.Dy(), 1))
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for y := range th {
		for x := range tw {
			out.SetRGBA(x, y, img.RGBAAt(x*b.Dx()/tw, y*b.Dy()/th))
		}
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, out, &jpeg.Options{Quality: 80})
	return buf.Bytes()
}
