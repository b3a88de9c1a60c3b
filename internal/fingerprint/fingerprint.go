// Package fingerprint answers "where is this clip from?": it fingerprints
// recordings by their sound and their pictures, keeps the fingerprints in
// an index, and finds a clip in it even when the clip was re-encoded, cut,
// scaled, cropped, sped up or slowed by a few percent, overlaid with music
// or captions, or filmed off a screen.
//
// Sound comes first. Its fingerprint is a set of landmarks (Wang's
// method, as Shazam's): peaks of the spectrogram of 8 kHz mono sound
// (64 ms frames every 16 ms), each paired with the next few and hashed as
// (first frequency, frequency step, time step) in 21 bits. Peaks are
// local maxima, so neither level nor a codec's colouring moves them, and
// sound mixed on top only hides some. A query's peaks are found once and
// rescaled under each of 13 hypotheses of speed (none, ±1, 2, 3 %, with
// or without the pitch moving), so a clip sped up finds its original's
// hashes. Landmarks vote for (recording, hypothesis, offset); a match
// needs many votes at one offset from several seconds of the clip. A
// match at the recording's own speed is then placed to the sample by
// GCC-PHAT (package align) of the clip's sound against the recording's
// around that offset (Query.Refine).
//
// Pictures are for clips whose sound was replaced: each frame, decoded at
// 30 a second in grey and stripped of black borders, is hashed as pHash
// does (the signs of its lowest cosine frequencies against their median,
// 64 bits). Frames sampled twice a second are indexed by the four
// quarters of their hash; a clip's frames vote for (recording, offset)
// and the best offsets are measured frame by frame.
package fingerprint

import (
	"context"
	"fmt"
	"math"
	"os"

	"github.com/sightline/sightline/internal/align"
	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/verify"
)

// PictureRate is how many frames a second are hashed: every frame of
// common video, so that a clip is placed within a frame.
const PictureRate = 30

// Fingerprint is what a recording is found by, and what it committed to.
type Fingerprint struct {
	// Landmarks of its sound, in time order (none without sound).
	Landmarks []Landmark
	// Frames are the picture hashes of its frames at FPS (none without
	// pictures).
	Frames []uint64
	FPS    float64
	// Records are its seconds' records (verify.Record), whose Merkle root
	// its "derived" event names.
	Records []verify.Record
}

// Input is a file to fingerprint: where it is, and what it holds.
type Input struct {
	Source        media.Source
	Width, Height int // the displayed picture; 0 for sound only
	Sound         bool
}

// PictureSize is the size frames of a w×h picture are hashed at.
func PictureSize(w, h int) (int, int) {
	return PictureWidth, max(2, (PictureWidth*h/max(w, 1)+1)&^1)
}

// Decoded is what fingerprinting reads of a file: its sound, and each
// frame's picture hash and grid (verify.PictureGrid) at PictureRate.
type Decoded struct {
	PCM    []float32 // mono at Rate; nil without sound
	Hashes []uint64
	Grids  [][verify.GridSide * verify.GridSide]uint8
}

// ReadSound decodes in's sound as mono PCM at Rate with tool, through a
// work file in tmp.
func ReadSound(ctx context.Context, tool *media.Tool, in media.Source, tmp string) ([]float32, error) {
	f, err := os.CreateTemp(tmp, "sound-*.f32")
	if err != nil {
		return nil, err
	}
	f.Close()
	defer os.Remove(f.Name())
	if err := tool.Audio(ctx, in, f.Name(), Rate); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return nil, err
	}
	return align.FromF32LE(b), nil
}

// readPictures decodes in's frames at PictureRate into d: each one's hash
// (stripped of the black borders found over its first two seconds) and
// grid (of the whole frame, as a record sees it).
func readPictures(ctx context.Context, tool *media.Tool, in media.Source, width, height int, d *Decoded) error {
	w, h := PictureSize(width, height)
	var first [][]byte
	crop := Crop{0, 0, w, h}
	const look = PictureRate * 2 // frames looked at for borders
	hashFirst := func() {
		crop = Borders(first, w, h)
		for _, f := range first {
			d.Hashes = append(d.Hashes, PictureHash(f, w, crop))
		}
		first = nil
	}
	err := tool.Pictures(ctx, in, w, h, PictureRate, func(n int, frame []byte) error {
		d.Grids = append(d.Grids, verify.PictureGrid(frame, w, h))
		if n < look {
			first = append(first, append([]byte(nil), frame...))
			if n == look-1 {
				hashFirst()
			}
			return nil
		}
		d.Hashes = append(d.Hashes, PictureHash(frame, w, crop))
		return nil
	})
	if err != nil {
		return err
	}
	if first != nil {
		hashFirst()
	}
	return nil
}

// Decode reads in with tool, using tmp for work files.
func Decode(ctx context.Context, tool *media.Tool, in Input, tmp string) (*Decoded, error) {
	d := &Decoded{}
	if in.Sound {
		pcm, err := ReadSound(ctx, tool, in.Source, tmp)
		if err != nil {
			return nil, fmt.Errorf("fingerprint: the sound: %w", err)
		}
		d.PCM = pcm
	}
	if in.Width > 0 && in.Height > 0 {
		if err := readPictures(ctx, tool, in.Source, in.Width, in.Height, d); err != nil {
			return nil, fmt.Errorf("fingerprint: the pictures: %w", err)
		}
	}
	return d, nil
}

// Records are the records of the whole seconds of the recording that d
// holds from time from of it (0 for the recording itself; a released
// copy of a span starting at from holds the seconds wholly inside the
// span). Second i's sound is the second from i, its picture the frame
// at its middle.
func (d *Decoded) Records(from float64) []verify.Record {
	length := max(float64(len(d.PCM))/Rate, float64(len(d.Grids))/PictureRate)
	var out []verify.Record
	for i := int(math.Ceil(from - 1e-6)); float64(i+1) <= from+length+1e-6; i++ {
		r := verify.Record{Second: uint32(i)}
		t := float64(i) - from
		if s := int(math.Round(t * Rate)); s >= 0 && s+Rate <= len(d.PCM) {
			r.Sound, r.HasSound = verify.SoundLevels(d.PCM[s:s+Rate]), true
		}
		if f := int(math.Round((t + 0.5) * PictureRate)); f >= 0 && f < len(d.Grids) {
			r.Picture, r.HasPicture = d.Grids[f], true
		}
		out = append(out, r)
	}
	return out
}

// Make fingerprints in, using tmp for work files.
func Make(ctx context.Context, tool *media.Tool, in Input, tmp string) (*Fingerprint, error) {
	d, err := Decode(ctx, tool, in, tmp)
	if err != nil {
		return nil, err
	}
	return &Fingerprint{Landmarks: Landmarks(d.PCM), Frames: d.Hashes, FPS: PictureRate, Records: d.Records(0)}, nil
}

// QueryFile prepares a clip file for Search.
func QueryFile(ctx context.Context, tool *media.Tool, in Input, tmp string) (*Query, error) {
	d, err := Decode(ctx, tool, in, tmp)
	if err != nil {
		return nil, err
	}
	return NewQuery(d.PCM, d.Hashes, PictureRate), nil
}
