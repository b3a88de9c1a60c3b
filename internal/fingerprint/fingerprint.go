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
// needs many votes at one offset from several seconds of the clip.
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
	"os"

	"github.com/sightline/sightline/internal/align"
	"github.com/sightline/sightline/internal/media"
)

// PictureRate is how many frames a second are hashed: every frame of
// common video, so that a clip is placed within a frame.
const PictureRate = 30

// Fingerprint is what a recording is found by.
type Fingerprint struct {
	// Landmarks of its sound, in time order (none without sound).
	Landmarks []Landmark
	// Frames are the picture hashes of its frames at FPS (none without
	// pictures).
	Frames []uint64
	FPS    float64
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

// ReadPictures decodes in's frames at PictureRate and hashes them,
// stripped of the black borders found over its first frames.
func ReadPictures(ctx context.Context, tool *media.Tool, in media.Source, width, height int) ([]uint64, error) {
	w, h := PictureSize(width, height)
	var hashes []uint64
	var first [][]byte
	crop := Crop{0, 0, w, h}
	const look = PictureRate * 2 // frames looked at for borders
	err := tool.Pictures(ctx, in, w, h, PictureRate, func(n int, frame []byte) error {
		if n < look {
			first = append(first, append([]byte(nil), frame...))
			if n == look-1 {
				crop = Borders(first, w, h)
				for _, f := range first {
					hashes = append(hashes, PictureHash(f, w, crop))
				}
				first = nil
			}
			return nil
		}
		hashes = append(hashes, PictureHash(frame, w, crop))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if first != nil {
		crop = Borders(first, w, h)
		for _, f := range first {
			hashes = append(hashes, PictureHash(f, w, crop))
		}
	}
	return hashes, nil
}

// read decodes in's sound (nil without) and hashes its frames (nil
// without).
func read(ctx context.Context, tool *media.Tool, in Input, tmp string) (pcm []float32, frames []uint64, err error) {
	if in.Sound {
		if pcm, err = ReadSound(ctx, tool, in.Source, tmp); err != nil {
			return nil, nil, fmt.Errorf("fingerprint: the sound: %w", err)
		}
	}
	if in.Width > 0 && in.Height > 0 {
		if frames, err = ReadPictures(ctx, tool, in.Source, in.Width, in.Height); err != nil {
			return nil, nil, fmt.Errorf("fingerprint: the pictures: %w", err)
		}
	}
	return pcm, frames, nil
}

// Make fingerprints in, using tmp for work files.
func Make(ctx context.Context, tool *media.Tool, in Input, tmp string) (*Fingerprint, error) {
	pcm, frames, err := read(ctx, tool, in, tmp)
	if err != nil {
		return nil, err
	}
	return &Fingerprint{Landmarks: Landmarks(pcm), Frames: frames, FPS: PictureRate}, nil
}

// QueryFile prepares a clip file for Search.
func QueryFile(ctx context.Context, tool *media.Tool, in Input, tmp string) (*Query, error) {
	pcm, frames, err := read(ctx, tool, in, tmp)
	if err != nil {
		return nil, err
	}
	return NewQuery(pcm, frames, PictureRate), nil
}
