package detect

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Box is a face in a frame's pixels: its top-left corner, size and the
// detector's confidence (0 to 1).
type Box struct {
	X, Y, W, H float64
	Score      float64
}

// Detector runs the model on frames. Its methods may be called from one
// goroutine at a time.
type Detector struct {
	session *ort.DynamicAdvancedSession
	size    int
	anchors []anchor
	// Threshold is the least score kept (default 0.6).
	Threshold float64

	mu    sync.Mutex
	input []float32
}

// Load reads the model from dir (see scripts/models.sh), checks it
// against the pins, converts it to ONNX and opens it on ONNX Runtime with
// the given number of threads (at least 1).
func Load(dir string, threads int) (*Detector, error) {
	graph, err := readPinned(dir, GraphFile, graphSHA256)
	if err != nil {
		return nil, err
	}
	weights, err := readPinned(dir, WeightsFile, weightsSHA256)
	if err != nil {
		return nil, err
	}
	if _, err := readPinned(dir, RuntimeFile, runtimeSHA256); err != nil {
		return nil, err
	}
	model, err := convert(graph, weights)
	if err != nil {
		return nil, fmt.Errorf("converting %s: %w", GraphFile, err)
	}
	if err := initRuntime(filepath.Join(dir, RuntimeFile)); err != nil {
		return nil, err
	}
	session, err := openSession(model, []string{"input"}, []string{"Identity", "Identity_1", "Identity_2", "Identity_3"}, threads)
	if err != nil {
		return nil, fmt.Errorf("opening the face detector: %w", err)
	}
	return &Detector{session: session, size: 256, anchors: anchors(256), Threshold: 0.6}, nil
}

// Close frees the session.
func (d *Detector) Close() error { return d.session.Destroy() }

// region is a square of the frame (it may run past the frame's edges,
// which read as black) that the model sees scaled to its input.
type region struct{ x, y, side float64 }

// regions plans the searches of a w×h frame: the whole frame, then
// square tiles of half its shorter side, overlapping by at least 30%,
// so a face of 20 pixels is seen at about 14 of the model's.
func regions(w, h int) []region {
	rs := []region{{0, 0, float64(max(w, h))}}
	t := float64(min(w, h)) / 2
	if t < 64 {
		return rs
	}
	axis := func(n int) []float64 {
		span := float64(n) - t
		steps := int(math.Ceil(span / (0.7 * t)))
		var at []float64
		for i := 0; i <= steps; i++ {
			if steps == 0 {
				at = append(at, 0)
				break
			}
			at = append(at, math.Round(span*float64(i)/float64(steps)))
		}
		return at
	}
	for _, y := range axis(h) {
		for _, x := range axis(w) {
			rs = append(rs, region{x, y, t})
		}
	}
	return rs
}

// Frame finds the faces in one frame of packed RGB (3 bytes a pixel,
// w×h). Boxes are merged across tiles, the best first.
func (d *Detector) Frame(rgb []byte, w, h int) ([]Box, error) {
	if w <= 0 || h <= 0 || len(rgb) != 3*w*h {
		return nil, fmt.Errorf("a frame of %d bytes is not %dx%d RGB", len(rgb), w, h)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	rs := regions(w, h)
	s := d.size
	plane := s * s
	if need := len(rs) * 3 * plane; cap(d.input) < need {
		d.input = make([]float32, need)
	}
	in := d.input[:len(rs)*3*plane]
	for i, r := range rs {
		sample(rgb, w, h, r, s, in[i*3*plane:(i+1)*3*plane])
	}
	input, err := ort.NewTensor(ort.NewShape(int64(len(rs)), 3, int64(s), int64(s)), in)
	if err != nil {
		return nil, err
	}
	defer input.Destroy()
	outs := make([]ort.Value, 4)
	if err := d.session.Run([]ort.Value{input}, outs); err != nil {
		return nil, fmt.Errorf("running the face detector: %w", err)
	}
	defer func() {
		for _, o := range outs {
			if o != nil {
				o.Destroy()
			}
		}
	}()
	// Identity: scores of the 16x16 grid; Identity_1: of the 8x8 grid;
	// Identity_2 and _3: their boxes.
	var tensors [4][]float32
	for i, o := range outs {
		t, ok := o.(*ort.Tensor[float32])
		if !ok {
			return nil, fmt.Errorf("the face detector's output %d is %T", i, o)
		}
		tensors[i] = t.GetData()
	}
	n0 := len(tensors[0]) / len(rs)
	n1 := len(tensors[1]) / len(rs)
	if n0+n1 != len(d.anchors) || len(tensors[2]) != 16*n0*len(rs) || len(tensors[3]) != 16*n1*len(rs) {
		return nil, fmt.Errorf("the face detector's outputs do not match its %d anchors", len(d.anchors))
	}
	var found []Box
	for i, r := range rs {
		decode := func(scores, boxes []float32, first, n int) {
			for a := range n {
				score := sigmoid(scores[i*n+a])
				if score < d.Threshold {
					continue
				}
				anc := d.anchors[first+a]
				raw := boxes[(i*n+a)*16:]
				cx := float64(raw[0])/float64(s) + anc.x
				cy := float64(raw[1])/float64(s) + anc.y
				bw := float64(raw[2]) / float64(s)
				bh := float64(raw[3]) / float64(s)
				if bw <= 0 || bh <= 0 {
					continue
				}
				found = append(found, Box{
					X: r.x + (cx-bw/2)*r.side, Y: r.y + (cy-bh/2)*r.side,
					W: bw * r.side, H: bh * r.side, Score: score,
				})
			}
		}
		decode(tensors[0], tensors[2], 0, n0)
		decode(tensors[1], tensors[3], n0, n1)
	}
	return clip(merge(found), w, h), nil
}

func sigmoid(x float32) float64 {
	v := math.Max(-100, math.Min(100, float64(x)))
	return 1 / (1 + math.Exp(-v))
}

// sample scales a region of the frame to s×s, bilinear, into planes of
// R, G and B in [-1, 1], as the model was trained.
func sample(rgb []byte, w, h int, r region, s int, out []float32) {
	scale := r.side / float64(s)
	plane := s * s
	for oy := range s {
		fy := r.y + (float64(oy)+0.5)*scale - 0.5
		y0 := int(math.Floor(fy))
		wy := float32(fy - float64(y0))
		for ox := range s {
			fx := r.x + (float64(ox)+0.5)*scale - 0.5
			x0 := int(math.Floor(fx))
			wx := float32(fx - float64(x0))
			for c := range 3 {
				px := func(x, y int) float32 {
					if x < 0 || y < 0 || x >= w || y >= h {
						return 0
					}
					return float32(rgb[(y*w+x)*3+c])
				}
				top := px(x0, y0)*(1-wx) + px(x0+1, y0)*wx
				bot := px(x0, y0+1)*(1-wx) + px(x0+1, y0+1)*wx
				out[c*plane+oy*s+ox] = (top*(1-wy)+bot*wy)/127.5 - 1
			}
		}
	}
}

type anchor struct{ x, y float64 }

// anchors are the SSD anchors of MediaPipe's face_detection_back: strides
// 16, 32, 32, 32 with two anchors a layer, so 2 per cell of a 16x16 grid
// then 6 per cell of an 8x8 grid; a fixed size of 1, centred in each cell.
func anchors(size int) []anchor {
	var out []anchor
	for _, g := range []struct{ stride, per int }{{16, 2}, {32, 6}} {
		n := size / g.stride
		for y := range n {
			for x := range n {
				for range g.per {
					out = append(out, anchor{(float64(x) + 0.5) / float64(n), (float64(y) + 0.5) / float64(n)})
				}
			}
		}
	}
	return out
}

// merge joins boxes of one face (found in several tiles or by several
// anchors): boxes of about its size overlapping the best are averaged
// into it, weighted by score. A small face in front of a large one (or
// behind it) stays a face of its own.
func merge(boxes []Box) []Box {
	slices.SortFunc(boxes, func(a, b Box) int { return cmp.Compare(b.Score, a.Score) })
	used := make([]bool, len(boxes))
	var out []Box
	for i, b := range boxes {
		if used[i] {
			continue
		}
		var sx, sy, sx2, sy2, sw float64
		for j := i; j < len(boxes); j++ {
			if used[j] || !sameFace(b, boxes[j]) {
				continue
			}
			used[j] = true
			o := boxes[j]
			sx += o.X * o.Score
			sy += o.Y * o.Score
			sx2 += (o.X + o.W) * o.Score
			sy2 += (o.Y + o.H) * o.Score
			sw += o.Score
		}
		out = append(out, Box{X: sx / sw, Y: sy / sw, W: (sx2 - sx) / sw, H: (sy2 - sy) / sw, Score: b.Score})
	}
	return out
}

// sameFace says whether a and b are one face, for merging: they overlap by a third, or
// one lies mostly inside the other (a face cut by a tile's edge), and
// neither is twice the other's size.
func sameFace(a, b Box) bool {
	if a.W > 2*b.W || b.W > 2*a.W {
		return false
	}
	return IoU(a, b) >= 0.3 || contained(b, a) >= 0.8 || contained(a, b) >= 0.8
}

// IoU is the area two boxes share over the area they cover.
func IoU(a, b Box) float64 {
	i := intersection(a, b)
	u := a.W*a.H + b.W*b.H - i
	if u <= 0 {
		return 0
	}
	return i / u
}

// contained is the share of a's area inside b.
func contained(a, b Box) float64 {
	if a.W*a.H <= 0 {
		return 0
	}
	return intersection(a, b) / (a.W * a.H)
}

func intersection(a, b Box) float64 {
	w := math.Min(a.X+a.W, b.X+b.W) - math.Max(a.X, b.X)
	h := math.Min(a.Y+a.H, b.Y+b.H) - math.Max(a.Y, b.Y)
	if w <= 0 || h <= 0 {
		return 0
	}
	return w * h
}

func clip(boxes []Box, w, h int) []Box {
	out := boxes[:0]
	for _, b := range boxes {
		x0, y0 := math.Max(b.X, 0), math.Max(b.Y, 0)
		x1, y1 := math.Min(b.X+b.W, float64(w)), math.Min(b.Y+b.H, float64(h))
		if x1-x0 < 2 || y1-y0 < 2 {
			continue
		}
		out = append(out, Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0, Score: b.Score})
	}
	return out
}
