package redact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/sightline/sightline/internal/blob"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// Recipe names how Render works (the masks below and media.Encoding), as
// manifests record it: a change to either is a new recipe.
const Recipe = "sightline-render-1: masks on yuv420p, boxes padded to even pixels; " + media.Encoding

// Render makes the redacted video of plan (a manifest without results)
// from the original at src into out, and returns the manifest with its
// results: the raw streams' hashes and the output's SHA-256 and size.
// The same original and plan give the same bytes on any machine with the
// same ffmpeg build. tmp holds the stream-hash file.
func Render(ctx context.Context, tool *media.Tool, src media.Source, plan verify.Manifest, out, tmp string) (verify.Manifest, error) {
	return RenderSpan(ctx, tool, src, plan, 0, plan.Original.Frames, out, tmp)
}

// errSpanEnd stops decoding at the end of a span.
var errSpanEnd = errors.New("the span ends here")

// RenderSpan is Render of frames [from, to) of the original only, and
// the sound from from's time to to's: a span of a release. It is as
// deterministic as Render.
func RenderSpan(ctx context.Context, tool *media.Tool, src media.Source, plan verify.Manifest, from, to int, out, tmp string) (verify.Manifest, error) {
	m := plan.Plan()
	o := m.Original
	for i, c := range m.Changes {
		if err := c.Validate(o); err != nil {
			return m, fmt.Errorf("change %d: %w", i+1, err)
		}
	}
	if from < 0 || to > o.Frames || from >= to {
		return m, fmt.Errorf("frames %d to %d of a video of %d", from, to, o.Frames)
	}
	f := media.Frames{Width: o.Width, Height: o.Height, Count: to - from}
	boxes := boxChanges(m.Changes)
	// The decoder feeds the encoder: one turn of the tool for both.
	ctx, release, err := tool.Turn(ctx)
	if err != nil {
		return m, err
	}
	defer release()
	pr, pw := io.Pipe()
	decoded := make(chan error, 1)
	go func() {
		n := 0
		err := tool.Decode(ctx, src, f, "yuv420p", 1, func(i int, frame []byte) error {
			n = i + 1
			if i < from {
				return nil
			}
			if i >= to {
				return errSpanEnd
			}
			for _, c := range boxes {
				if k, ok := c.BoxAt(i); ok {
					apply(frame, o.Width, o.Height, c.Effect, k)
				}
			}
			_, err := pw.Write(frame)
			return err
		})
		switch {
		case errors.Is(err, errSpanEnd):
			err = nil
		case err == nil && n != o.Frames:
			err = fmt.Errorf("the original decodes to %d frames, the manifest says %d", n, o.Frames)
		}
		pw.CloseWithError(err)
		decoded <- err
	}()
	var sound *media.Source
	if o.Audio {
		sound = &src
	}
	hashFile := filepath.Join(tmp, filepath.Base(out)+".streamhash")
	defer os.Remove(hashFile)
	filter := audioFilter(m.Changes)
	if from > 0 || to < o.Frames {
		trim := fmt.Sprintf("atrim=start=%s:end=%s,asetpts=PTS-STARTPTS", seconds(float64(from)/o.FPS), seconds(float64(to)/o.FPS))
		filter = strings.TrimPrefix(filter+","+trim, ",")
	}
	hashes, encErr := tool.Encode(ctx, pr, f, o.FPS, sound, filter, out, hashFile)
	pr.CloseWithError(errors.New("the encoder stopped"))
	if err := errors.Join(<-decoded, encErr); err != nil {
		return m, fmt.Errorf("rendering: %w", err)
	}
	sum, size, err := blob.HashFile(out)
	if err != nil {
		return m, err
	}
	m.StreamHashes = hashes
	m.Output = &verify.ManifestFile{SHA256: sum.String(), Size: size, MediaType: "video/mp4"}
	return m, nil
}

func boxChanges(cs []verify.Change) []verify.Change {
	var out []verify.Change
	for _, c := range cs {
		if c.Kind == verify.ChangeBox {
			out = append(out, c)
		}
	}
	return out
}

// audioFilter silences every muted span and puts a 1 kHz tone over every
// bleeped one, per sample, by time on the original's clock. (A filter's
// timeline "enable" acts on whole frames of about 1,000 samples, which
// would leave a word's edge audible.) The tone is made by the expression
// itself: no other input is read.
func audioFilter(cs []verify.Change) string {
	var silent, bleep []string
	for _, c := range cs {
		span := fmt.Sprintf("between(t\\,%s\\,%s)", seconds(c.FromS), seconds(c.ToS))
		switch c.Kind {
		case verify.ChangeMute:
			silent = append(silent, span)
		case verify.ChangeBleep:
			silent = append(silent, span)
			bleep = append(bleep, span)
		}
	}
	if len(silent) == 0 {
		return ""
	}
	expr := "val(ch)*not(" + strings.Join(silent, "+") + ")"
	if len(bleep) > 0 {
		expr += "+0.25*sin(2*PI*1000*t)*gt(" + strings.Join(bleep, "+") + "\\,0)"
	}
	return "aeval='" + expr + "':c=same"
}

func seconds(s float64) string {
	return strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.6f", s), "0"), ".")
}

// apply changes the box k of a yuv420p frame w×h with effect. The box is
// widened to even pixels, so that the chroma samples it shares with its
// neighbours (4:2:0) are changed too.
func apply(frame []byte, w, h int, effect string, k verify.Keyframe) {
	x0, y0 := max(k.X&^1, 0), max(k.Y&^1, 0)
	x1, y1 := min((k.X+k.W+1)&^1, w), min((k.Y+k.H+1)&^1, h)
	if x1 <= x0 || y1 <= y0 {
		return
	}
	yp := frame[:w*h]
	up := frame[w*h : w*h+w*h/4]
	vp := frame[w*h+w*h/4:]
	planes := []struct {
		p              []byte
		stride         int
		x0, y0, x1, y1 int
		fill           byte
	}{
		{yp, w, x0, y0, x1, y1, 16},
		{up, w / 2, x0 / 2, y0 / 2, x1 / 2, y1 / 2, 128},
		{vp, w / 2, x0 / 2, y0 / 2, x1 / 2, y1 / 2, 128},
	}
	for i, pl := range planes {
		switch effect {
		case verify.EffectPixelate:
			block := 16
			if i > 0 {
				block = 8
			}
			pixelate(pl.p, pl.stride, pl.x0, pl.y0, pl.x1, pl.y1, block)
		case verify.EffectBlur:
			r := max(4, min(pl.x1-pl.x0, pl.y1-pl.y0)/4)
			for range 3 {
				blur(pl.p, pl.stride, pl.x0, pl.y0, pl.x1, pl.y1, r)
			}
		default:
			for y := pl.y0; y < pl.y1; y++ {
				row := pl.p[y*pl.stride:]
				for x := pl.x0; x < pl.x1; x++ {
					row[x] = pl.fill
				}
			}
		}
	}
}

// pixelate replaces each block of the region with its mean.
func pixelate(p []byte, stride, x0, y0, x1, y1, block int) {
	for by := y0; by < y1; by += block {
		for bx := x0; bx < x1; bx += block {
			ey, ex := min(by+block, y1), min(bx+block, x1)
			sum, n := 0, 0
			for y := by; y < ey; y++ {
				for x := bx; x < ex; x++ {
					sum += int(p[y*stride+x])
					n++
				}
			}
			v := byte((sum + n/2) / n)
			for y := by; y < ey; y++ {
				for x := bx; x < ex; x++ {
					p[y*stride+x] = v
				}
			}
		}
	}
}

// blur is a box blur of radius r within the region (it reads nothing
// outside it), rows then columns.
func blur(p []byte, stride, x0, y0, x1, y1, r int) {
	w, h := x1-x0, y1-y0
	line := make([]int, max(w, h))
	for y := y0; y < y1; y++ {
		for x := range w {
			line[x] = int(p[y*stride+x0+x])
		}
		boxLine(line[:w], r, func(i, v int) { p[y*stride+x0+i] = byte(v) })
	}
	for x := x0; x < x1; x++ {
		for y := range h {
			line[y] = int(p[(y0+y)*stride+x])
		}
		boxLine(line[:h], r, func(i, v int) { p[(y0+i)*stride+x] = byte(v) })
	}
}

func boxLine(v []int, r int, set func(i, v int)) {
	prefix := make([]int, len(v)+1)
	for i, x := range v {
		prefix[i+1] = prefix[i] + x
	}
	for i := range v {
		a, b := max(0, i-r), min(len(v), i+r+1)
		set(i, (prefix[b]-prefix[a]+(b-a)/2)/(b-a))
	}
}
