package fingerprint

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// Pad adds hours of made-up recordings to the index, for measuring it at
// a size no test machine can fingerprint: landmarks whose hashes follow
// the statistics of like's (each part of a hash, first frequency,
// frequency step and time step, as often as in like), as many an hour as
// like has, at random times; and picture hashes twice a second, random
// with half their bits set (as every picture hash has). The recordings
// are an hour each, named "pad-N"; they have no frames to measure a
// picture match by, so they can take votes from a clip but never match.
func (ix *Index) Pad(hours int, like []*Fingerprint, seed uint64) error {
	var f1, df, dt [256]float64
	var n, secs float64
	for _, fp := range like {
		for _, l := range fp.Landmarks {
			f1[l.Hash>>13]++
			df[l.Hash>>6&127]++
			dt[l.Hash&63]++
			n++
		}
		if len(fp.Frames) > 0 {
			secs += float64(len(fp.Frames)) / fp.FPS
		}
	}
	if n == 0 || secs == 0 {
		return fmt.Errorf("fingerprint: padding needs fingerprints with sound and pictures")
	}
	perHour := n / secs * 3600
	r := rand.New(rand.NewPCG(seed, 1))
	// Each part of a hash is drawn from a table of 65,536 values laid
	// out in proportion to how often it occurs.
	draw := func(w *[256]float64) func() uint32 {
		var sum float64
		for _, v := range w {
			sum += v
		}
		table := make([]uint8, 1<<16)
		var acc float64
		k := 0
		for v, c := range w {
			acc += c
			for ; k < len(table) && float64(k) < acc/sum*float64(len(table)); k++ {
				table[k] = uint8(v)
			}
		}
		return func() uint32 { return uint32(table[r.Uint32()>>16]) }
	}
	drawF1, drawDF, drawDT := draw(&f1), draw(&df), draw(&dt)
	const hourFrames = 3600 * Rate / Hop
	const perSegment = 1000 // hours
	for done := 0; done < hours; done += perSegment {
		h := min(perSegment, hours-done)
		s := &segment{offs: make([]uint32, 1<<hashBits+1), recs: make([]uint32, h), base: make([]uint32, h)}
		ix.mu.Lock()
		for i := range h {
			s.recs[i] = uint32(len(ix.ids))
			id := fmt.Sprintf("pad-%d", done+i)
			ix.nums[id] = uint32(len(ix.ids))
			ix.ids = append(ix.ids, id)
		}
		ix.mu.Unlock()
		total := int(perHour * float64(h))
		hashes := make([]uint32, total)
		for i := range hashes {
			hashes[i] = drawF1()<<13 | drawDF()<<6 | drawDT()
			s.offs[hashes[i]+1]++
		}
		for k := 1; k < len(s.offs); k++ {
			s.offs[k] += s.offs[k-1]
		}
		s.post = make([]uint32, total)
		next := make([]uint32, 1<<hashBits)
		copy(next, s.offs)
		for _, hash := range hashes {
			s.post[next[hash]] = uint32(r.IntN(h))<<timeBits | uint32(r.IntN(hourFrames))
			next[hash]++
		}
		ix.audio.addSegment(s, func(uint32) uint32 { return hourFrames })
		for i := range h {
			frames := make([]uint64, 2*3600)
			for k := range frames {
				frames[k] = half(r)
			}
			ix.pics.addSampled(s.recs[i], frames)
		}
	}
	return nil
}

// half is a random 64-bit hash with 32 bits set.
func half(r *rand.Rand) uint64 {
	for {
		x := r.Uint64()
		for c := bits.OnesCount64(x); c != 32; c = bits.OnesCount64(x) {
			bit := uint64(1) << r.IntN(64)
			if (c > 32) == (x&bit != 0) {
				x ^= bit
			}
		}
		return x
	}
}
