package incident

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/sightline/sightline/internal/align"
	"github.com/sightline/sightline/internal/evidence"
)

// system is the actor of what Sightline does on its own.
var system = Actor{ID: "sightline"}

// Align places every clip of an incident that a reviewer has not placed:
// by its sound against the anchor clip (or, failing that, against another
// clip placed by sound), else by its capture time, marked as such. Clips
// whose sound is still being extracted stay pending; the job runs again
// when it is. It is the incident's alignment job, and idempotent: a clip
// whose place does not change is not logged again, and a clip placed by
// sound is not aligned again.
func (s *Service) Align(ctx context.Context, id string) error {
	inc, err := s.cfg.Store.Get(ctx, id)
	if err != nil {
		return err
	}
	clips, err := s.cfg.Store.Clips(ctx, id)
	if err != nil || len(clips) == 0 {
		return err
	}
	a := aligner{s: s, ctx: ctx, items: map[string]evidence.Item{}, sounds: map[string]Sound{}}
	for _, c := range clips {
		it, err := s.cfg.Evidence.Get(ctx, c.Evidence)
		if err != nil {
			return err
		}
		a.items[c.Evidence] = it
	}
	anchor := -1
	for i, c := range clips {
		if c.Evidence == inc.Anchor {
			anchor = i
		}
	}
	if anchor < 0 {
		if anchor, err = a.chooseAnchor(clips); err != nil || anchor < 0 {
			return err // waiting for sound
		}
		if err := s.cfg.Store.SetAnchor(ctx, id, clips[anchor].Evidence); err != nil {
			return err
		}
	}
	placed := make([]bool, len(clips))
	if c := &clips[anchor]; !c.Placed() { // a placed clip keeps its place when it becomes the anchor
		snd, err := a.sound(c.Evidence)
		if err != nil {
			return err
		}
		next := *c
		if snd.State == SoundReady {
			next.Method, next.Status, next.Confidence, next.Detail = ByAudio, Aligned, 1, "reference clip: the incident clock is its clock"
		} else {
			next.Method, next.Status, next.Confidence, next.Detail = ByMetadata, statusOf(snd), 0, "reference clip; "+snd.Detail
		}
		next.Offset = 0
		if err := s.place(ctx, id, a.items[c.Evidence], *c, next); err != nil {
			return err
		}
		*c = next
	}
	placed[anchor] = true
	for i := range clips {
		// A reviewer's place, and a place found by sound, stand: each is
		// on the incident clock, which outlives any one clip. Only clips
		// not placed yet, or placed by metadata (a new clip may share
		// their sound), are looked at again.
		if i == anchor || clips[i].Status == Confirmed || clips[i].Status == Aligned {
			placed[i] = clips[i].Placed()
			continue
		}
		next, ok, err := a.placeOne(clips, anchor, placed, i)
		if err != nil {
			return err
		}
		if !ok {
			continue // sound pending
		}
		if err := s.place(ctx, id, a.items[clips[i].Evidence], clips[i], next); err != nil {
			return err
		}
		clips[i], placed[i] = next, true
	}
	return nil
}

type aligner struct {
	s      *Service
	ctx    context.Context
	items  map[string]evidence.Item
	sounds map[string]Sound
}

func (a *aligner) sound(id string) (Sound, error) {
	if snd, ok := a.sounds[id]; ok {
		return snd, nil
	}
	snd, err := a.s.cfg.Sound(a.ctx, id)
	if err == nil {
		a.sounds[id] = snd
	}
	return snd, err
}

// chooseAnchor picks the clip whose clock becomes the incident's: a clip
// a reviewer placed, else the longest with sound, else (no clip has
// sound, none is pending) the first. -1 means wait for sound.
func (a *aligner) chooseAnchor(clips []Clip) (int, error) {
	best, bestLen, pending := -1, -1.0, false
	for i, c := range clips {
		if c.Status == Confirmed {
			return i, nil
		}
		snd, err := a.sound(c.Evidence)
		if err != nil {
			return -1, err
		}
		switch snd.State {
		case SoundPending:
			pending = true
		case SoundReady:
			if n := float64(len(snd.Samples)); n > bestLen {
				best, bestLen = i, n
			}
		}
	}
	if best < 0 && !pending {
		best = 0
	}
	return best, nil
}

// placeOne finds clip i's place; ok is false while its sound is pending.
func (a *aligner) placeOne(clips []Clip, anchor int, placed []bool, i int) (Clip, bool, error) {
	c := clips[i]
	snd, err := a.sound(c.Evidence)
	if err != nil || snd.State == SoundPending {
		return c, false, err
	}
	next := c
	if snd.State != SoundReady {
		a.byMetadata(clips, anchor, placed, &next, statusOf(snd), snd.Detail)
		return next, true, nil
	}
	if align.Silent(snd.Samples) {
		a.byMetadata(clips, anchor, placed, &next, NoSound, "too quiet to align by sound")
		return next, true, nil
	}
	// Against the anchor first, then any clip placed by its sound.
	order := []int{anchor}
	for j := range clips {
		if j != anchor && j != i && placed[j] && clips[j].Method != ByMetadata {
			order = append(order, j)
		}
	}
	status, detail := NoMatch, "no sound in common with the other clips was found"
	for _, j := range order {
		ref, err := a.sound(clips[j].Evidence)
		if err != nil {
			return c, false, err
		}
		if ref.State != SoundReady {
			continue
		}
		r, err := align.Pair(ref.Samples, snd.Samples)
		if err != nil { // the reference is silent, or nothing in common
			continue
		}
		next.Offset = clips[j].Offset + r.Offset
		next.Drift = r.Drift
		next.Method, next.Status, next.Confidence = ByAudio, Aligned, r.Confidence
		if j != anchor {
			next.Confidence = min(r.Confidence, clips[j].Confidence)
		}
		next.Detail = fmt.Sprintf("matched by sound against %s (peak %.1f× the background, %d of its windows agree)", clips[j].Evidence, r.PSR, r.Windows)
		return next, true, nil
	}
	a.byMetadata(clips, anchor, placed, &next, status, detail)
	return next, true, nil
}

// byMetadata places c by its capture time relative to a placed clip that
// has one; without capture times, at the anchor's start, with zero
// confidence, for a reviewer to nudge.
func (a *aligner) byMetadata(clips []Clip, anchor int, placed []bool, c *Clip, status Status, why string) {
	c.Method, c.Status, c.Confidence, c.Drift = ByMetadata, status, 0, 0
	it := a.items[c.Evidence]
	order := []int{anchor}
	for j := range clips {
		if j != anchor && placed[j] {
			order = append(order, j)
		}
	}
	for _, j := range order {
		ref := a.items[clips[j].Evidence]
		if it.CapturedAt != nil && ref.CapturedAt != nil && clips[j].Evidence != c.Evidence {
			c.Offset = clips[j].Offset + it.CapturedAt.Sub(*ref.CapturedAt).Seconds()
			c.Detail = why + "; placed by the capture times in the files' metadata"
			return
		}
	}
	c.Offset = clips[anchor].Offset
	c.Detail = why + "; no capture time to place it by: put at the reference clip's start, for a reviewer to place"
}

func statusOf(snd Sound) Status {
	switch snd.State {
	case SoundFailed:
		return NoMedia
	case SoundReady:
		return Aligned
	}
	return NoSound
}

// place stores a clip's new place and logs it if it changed.
func (s *Service) place(ctx context.Context, inc string, it evidence.Item, before, after Clip) error {
	if before.Status == after.Status && before.Method == after.Method && before.Detail == after.Detail &&
		math.Abs(before.Offset-after.Offset) < 1e-4 && math.Abs(before.Drift-after.Drift) < 0.05 {
		return nil
	}
	if err := s.cfg.Store.SetPlace(ctx, after); err != nil {
		return err
	}
	return s.record(ctx, inc, &it, system, map[string]string{"action": "aligned", "offset_s": seconds(after.Offset),
		"drift_ppm": strconv.FormatFloat(after.Drift, 'f', 1, 64), "method": string(after.Method),
		"confidence": strconv.FormatFloat(after.Confidence, 'f', 3, 64), "status": string(after.Status)})
}
