package fingerprint

import (
	"cmp"
	"math"
	"math/bits"
	"slices"
	"sync"
)

// PictureWidth is the width frames are decoded at for hashing (their
// height keeps the aspect ratio): enough to find black borders.
const PictureWidth = 128

// hashSide is the side of the square a frame is shrunk to before its
// cosine transform; the hash is the signs of its 64 lowest frequencies
// (but the mean) against their median, as pHash does.
const hashSide = 32

var dctTable = func() [8 + 1][hashSide]float64 {
	var t [9][hashSide]float64
	for u := range t {
		for x := range hashSide {
			t[u][x] = math.Cos(math.Pi * float64(u) * (2*float64(x) + 1) / (2 * hashSide))
		}
	}
	return t
}()

// Crop is the part of a frame that holds the picture (borders cut off).
type Crop struct{ X, Y, W, H int }

// Borders finds the black bars (letterbox, pillarbox, a screen's frame)
// around w×h grey frames: rows and columns at the edges that are dark in
// every frame given. The picture is what remains.
func Borders(frames [][]byte, w, h int) Crop {
	dark := func(at func(f []byte, i int) byte, n int, f []byte) bool {
		var s int
		for i := range n {
			v := at(f, i)
			if v > 40 {
				return false
			}
			s += int(v)
		}
		return s/max(n, 1) < 28
	}
	darkRow := func(y int) bool {
		for _, f := range frames {
			if !dark(func(f []byte, i int) byte { return f[y*w+i] }, w, f) {
				return false
			}
		}
		return len(frames) > 0
	}
	darkCol := func(x int) bool {
		for _, f := range frames {
			if !dark(func(f []byte, i int) byte { return f[i*w+x] }, h, f) {
				return false
			}
		}
		return len(frames) > 0
	}
	c := Crop{0, 0, w, h}
	for c.H > h/2 && darkRow(c.Y) {
		c.Y++
		c.H--
	}
	for c.H > h/2 && darkRow(c.Y+c.H-1) {
		c.H--
	}
	for c.W > w/2 && darkCol(c.X) {
		c.X++
		c.W--
	}
	for c.W > w/2 && darkCol(c.X+c.W-1) {
		c.W--
	}
	return c
}

// PictureHash hashes the part c of a w-wide grey frame: shrunk to 32×32
// by averaging, its 2-D cosine transform's 8×8 lowest frequencies
// (the mean replaced by the ninth horizontal one), each bit whether a
// coefficient is above their median. Near frames differ in a few bits;
// unrelated ones in about half.
func PictureHash(frame []byte, w int, c Crop) uint64 {
	var small [hashSide][hashSide]float64
	for y := range hashSide {
		y0, y1 := c.Y+y*c.H/hashSide, c.Y+(y+1)*c.H/hashSide
		y1 = max(y1, y0+1)
		for x := range hashSide {
			x0, x1 := c.X+x*c.W/hashSide, c.X+(x+1)*c.W/hashSide
			x1 = max(x1, x0+1)
			var s int
			for yy := y0; yy < y1; yy++ {
				for _, v := range frame[yy*w+x0 : yy*w+x1] {
					s += int(v)
				}
			}
			small[y][x] = float64(s) / float64((y1-y0)*(x1-x0))
		}
	}
	// Rows first: rowT[y][u] = Σx small[y][x]·cos(u, x).
	var rowT [hashSide][9]float64
	for y := range hashSide {
		for u := range 9 {
			var s float64
			for x := range hashSide {
				s += small[y][x] * dctTable[u][x]
			}
			rowT[y][u] = s
		}
	}
	var coef [64]float64
	for v := range 8 {
		for u := range 8 {
			uu := u
			if u == 0 && v == 0 {
				uu = 8
			}
			var s float64
			for y := range hashSide {
				s += rowT[y][uu] * dctTable[v][y]
			}
			coef[v*8+u] = s
		}
	}
	sorted := coef
	slices.Sort(sorted[:])
	med := (sorted[31] + sorted[32]) / 2
	var hash uint64
	for i, v := range coef {
		if v > med {
			hash |= 1 << i
		}
	}
	return hash
}

// Distance is the number of bits two picture hashes differ in.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// The picture index: every recording's frames sampled picturesPerSecond
// times a second, found by any of the four 16-bit quarters of their hash
// (a frame within pictureNear bits of a query's has at least one quarter
// unchanged often enough, over a clip's many frames).
const (
	picturesPerSecond = 2
	// pictureNear is the most bits a frame of a clip may differ from its
	// original's and still vote.
	pictureNear = 14
	// pictureMatch is the most a clip's frames may differ on average from
	// the recording's at the offset found.
	pictureMatch = 9
	// minFrameVotes is the least number of clip frames that must vote
	// for one offset.
	minFrameVotes = 6
)

// pictureIndex holds every recording's picture hashes sampled
// picturesPerSecond times a second, one after another in samples (the
// recording of sample g is the last whose start is at most g), and each
// sample's number under each quarter of its hash. The hashes of all the
// frames of each recording (what a match is measured by) are kept too.
type pictureIndex struct {
	mu      sync.RWMutex
	samples []uint64
	starts  []uint32 // first sample of each recording in recs, ascending
	recs    []uint32
	pos     map[uint32]int // where each recording is in recs
	tables  [4]map[uint16][]uint32
	// full holds every frame's hash of each recording (at PictureRate),
	// when the index keeps them (no Options.Frames).
	full map[uint32][]uint64
}

func newPictureIndex(keep bool) *pictureIndex {
	x := &pictureIndex{pos: map[uint32]int{}}
	if keep {
		x.full = map[uint32][]uint64{}
	}
	for i := range x.tables {
		x.tables[i] = map[uint16][]uint32{}
	}
	return x
}

func (x *pictureIndex) add(rec uint32, fp *Fingerprint) {
	if len(fp.Frames) == 0 || fp.FPS != PictureRate {
		return
	}
	if x.full != nil {
		x.mu.Lock()
		x.full[rec] = fp.Frames
		x.mu.Unlock()
	}
	x.addSampled(rec, sample(fp.Frames))
}

// sample picks picturesPerSecond of frames at PictureRate.
func sample(frames []uint64) []uint64 {
	var out []uint64
	for i := 0; i < len(frames); i += PictureRate / picturesPerSecond {
		out = append(out, frames[i])
	}
	return out
}

// sampledOf returns the picture samples of recording rec.
func (x *pictureIndex) sampledOf(rec uint32) []uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	i, ok := x.pos[rec]
	if !ok {
		return nil
	}
	end := len(x.samples)
	if i+1 < len(x.starts) {
		end = int(x.starts[i+1])
	}
	return x.samples[x.starts[i]:end]
}

// addSampled indexes a recording's hashes sampled picturesPerSecond.
func (x *pictureIndex) addSampled(rec uint32, sampled []uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	g := uint32(len(x.samples))
	x.starts = append(x.starts, g)
	x.pos[rec] = len(x.recs)
	x.recs = append(x.recs, rec)
	x.samples = append(x.samples, sampled...)
	for i, h := range sampled {
		for q := range x.tables {
			key := uint16(h >> (16 * q))
			x.tables[q][key] = append(x.tables[q][key], g+uint32(i))
		}
	}
}

// at returns the recording of sample g and the sample's number in it.
func (x *pictureIndex) at(g uint32) (rec uint32, k int) {
	i, found := slices.BinarySearch(x.starts, g)
	if !found {
		i--
	}
	return x.recs[i], int(g - x.starts[i])
}

// searchPictures finds the clip's frames: each votes for (recording,
// offset in quarter seconds) through the samples near it; the best
// offsets are then measured frame by frame.
func (ix *Index) searchPictures(q *Query, allow Filter) []Match {
	x := ix.pics
	if len(q.frames) == 0 || q.fps <= 0 {
		return nil
	}
	x.mu.RLock()
	defer x.mu.RUnlock()
	type vote struct {
		rec uint32
		bin int64
	}
	votes := map[vote]map[int]bool{}
	seen := map[uint32]bool{}
	for qi, h := range q.frames {
		clear(seen)
		tq := float64(qi) / q.fps
		for t := range x.tables {
			for _, g := range x.tables[t][uint16(h>>(16*t))] {
				if seen[g] || Distance(h, x.samples[g]) > pictureNear {
					continue
				}
				seen[g] = true
				rec, k := x.at(g)
				v := vote{rec, int64(math.Floor((float64(k)/picturesPerSecond - tq) * 4))}
				if votes[v] == nil {
					votes[v] = map[int]bool{}
				}
				votes[v][qi] = true
			}
		}
	}
	type cand struct {
		v     vote
		count int
	}
	var cands []cand
	for v, qs := range votes {
		n := len(qs) + len(votes[vote{v.rec, v.bin + 1}])
		if n >= minFrameVotes {
			cands = append(cands, cand{v, n})
		}
	}
	slices.SortFunc(cands, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.v.rec, b.v.rec), cmp.Compare(a.v.bin, b.v.bin))
	})
	var out []Match
	for _, c := range cands[:min(len(cands), maxCandidates*4)] {
		id := ix.id(c.v.rec)
		if allow != nil && !allow(id) {
			continue
		}
		frames, ok := x.full[c.v.rec]
		if x.full == nil {
			f, err := ix.frames(c.v.rec)
			frames, ok = f, err == nil
		}
		if !ok {
			continue
		}
		off, speed, dist, ok := alignFrames(q, frames, float64(c.v.bin)/4)
		if !ok || dist > pictureMatch {
			continue
		}
		out = append(out, Match{ID: id, Offset: off, Speed: speed, Score: c.count, By: "picture"})
	}
	return best(out)
}

// alignFrames finds the offset, in whole frames of the recording (its
// frames at PictureRate) within a second of near, and the speed (none or
// 1 to 3 % either way), at which the clip's frames differ least from its;
// it returns that offset in seconds, the speed and the mean distance.
func alignFrames(q *Query, frames []uint64, near float64) (float64, float64, float64, bool) {
	const fps = PictureRate
	// at is the best offset at one speed, and its mean distance.
	at := func(speed float64) (int, float64) {
		best, bestOff := math.Inf(1), 0
		for off := int(math.Floor((near - 1) * fps)); off <= int(math.Ceil((near+1.25)*fps)); off++ {
			var sum, n int
			for qi, h := range q.frames {
				ri := off + int(math.Round(float64(qi)*speed*fps/q.fps))
				if ri < 0 || ri >= len(frames) {
					continue
				}
				sum += Distance(h, frames[ri])
				n++
			}
			if n < len(q.frames)/2 || n < minFrameVotes {
				continue
			}
			if d := float64(sum) / float64(n); d < best {
				best, bestOff = d, off
			}
		}
		return bestOff, best
	}
	// Another speed than none must do clearly better to be taken: over a
	// still stretch every speed fits alike.
	off, best := at(1)
	speed := 1.0
	otherOff, other, otherSpeed := 0, math.Inf(1), 1.0
	for _, s := range []float64{0.99, 1.01, 0.98, 1.02, 0.97, 1.03} {
		if o, d := at(s); d < other {
			otherOff, other, otherSpeed = o, d, s
		}
	}
	if other < best-0.25 {
		off, best, speed = otherOff, other, otherSpeed
	}
	if math.IsInf(best, 1) {
		return 0, 0, 0, false
	}
	return float64(off) / fps, speed, best, true
}
