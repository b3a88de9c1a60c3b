package fingerprint

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
)

// Index finds where a clip comes from among the recordings added to it.
// It is safe for concurrent use.
type Index struct {
	opts Options
	// mu orders additions (and a seal's write); the parts have their own
	// locks for searches.
	add   sync.Mutex
	mu    sync.RWMutex
	ids   []string
	nums  map[string]uint32
	audio *audioIndex
	pics  *pictureIndex
}

// Options shape an index.
type Options struct {
	// Dir, if set, keeps the index's sealed segments (segment.go): each
	// written once, when the recordings added since the last fill it,
	// and read back by Open. Recordings not yet in a segment are added
	// again by the caller from their fingerprints.
	Dir string
	// SealAfter is how many landmarks make a segment (default 1<<22,
	// about 25 hours of sound).
	SealAfter int
	// Frames returns the picture hashes of every frame of a recording, to
	// measure a match by its pictures; nil keeps them in memory.
	Frames func(id string) ([]uint64, error)
}

// NewIndex returns an empty index.
func NewIndex(opts Options) *Index {
	if opts.SealAfter <= 0 {
		opts.SealAfter = 1 << 22
	}
	return &Index{opts: opts, nums: map[string]uint32{}, audio: newAudioIndex(opts.SealAfter), pics: newPictureIndex(opts.Frames == nil)}
}

// Add indexes recording id's fingerprint; adding an id again does
// nothing. When the landmarks added since the last segment fill one, it
// is sealed (and, with a Dir, written).
func (ix *Index) Add(id string, fp *Fingerprint) error {
	ix.add.Lock()
	defer ix.add.Unlock()
	ix.mu.Lock()
	if _, ok := ix.nums[id]; ok {
		ix.mu.Unlock()
		return nil
	}
	n := ix.number(id)
	ix.mu.Unlock()
	ix.pics.add(n, fp)
	sealed := ix.audio.add(n, fp.Landmarks)
	if sealed == nil || ix.opts.Dir == "" {
		return nil
	}
	return ix.write(sealed)
}

// number gives id the next recording number (mu held).
func (ix *Index) number(id string) uint32 {
	n := uint32(len(ix.ids))
	ix.ids = append(ix.ids, id)
	ix.nums[id] = n
	return n
}

// Has reports whether id is indexed.
func (ix *Index) Has(id string) bool {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	_, ok := ix.nums[id]
	return ok
}

// Len is how many recordings are indexed.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.ids)
}

func (ix *Index) id(n uint32) string {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.ids[n]
}

func (ix *Index) frames(rec uint32) ([]uint64, error) {
	if ix.opts.Frames == nil {
		return nil, fmt.Errorf("fingerprint: no frames of recording %d", rec)
	}
	return ix.opts.Frames(ix.id(rec))
}

// Match is where a clip was found.
type Match struct {
	// ID is the recording's id.
	ID string
	// Offset is the time in the recording, in seconds, of the clip's
	// first moment.
	Offset float64
	// Speed is how fast the clip runs against the recording (1.03: 3 %
	// faster); Pitch whether its pitch moved with it.
	Speed float64
	Pitch bool
	// Length is how much of the recording the clip covers, in seconds.
	Length float64
	// Score is how many landmarks (or frames) agreed.
	Score int
	// By is what found it: "sound" or "picture".
	By string
}

// Search thresholds for sound: a match needs minVotes landmarks agreeing
// on one offset, heard over at least minSeconds different seconds of the
// clip.
const (
	minVotes   = 12
	minSeconds = 3
	// binFrames is the width of an offset bin, in Hop units (64 ms): a
	// speed between two hypotheses smears the offset over a few frames.
	binFrames = 4
	// maxCandidates is how many offsets are looked at closely.
	maxCandidates = 8
)

// Filter says which recordings a search may return (the public searches
// released footage only); nil allows all.
type Filter func(id string) bool

// searchSound finds the clip's sound in two passes over the postings of
// its landmarks (under every hypothesis). The first counts votes in
// cells of a recording's time about a minute wide (a small array, so
// counting costs little however large the index); the second, only in the
// best cells, collects each agreeing landmark, and those vote for
// (recording, hypothesis, offset bin). The best bins are then measured.
func (ix *Index) searchSound(q *Query, allow Filter) []Match {
	if len(q.peaks) == 0 {
		return nil
	}
	x := ix.audio
	x.mu.RLock()
	defer x.mu.RUnlock()
	lms := make([][]Landmark, len(Hypotheses))
	n, _ := x.sizeLocked()
	common := commonFactor*n>>hashBits + 64
	counts := map[uint32]int{}
	for hi, h := range Hypotheses {
		for _, l := range queryLandmarks(q.peaks, h) {
			c, ok := counts[l.Hash]
			if !ok {
				c = x.countLocked(l.Hash)
				counts[l.Hash] = c
			}
			if c <= common {
				lms[hi] = append(lms[hi], l)
			}
		}
	}
	// Pass 1: votes per cell, the landmarks shared among the cores, each
	// counting into its own cells.
	type job struct {
		hyp int
		l   Landmark
	}
	var work []job
	for hi, hl := range lms {
		for _, l := range hl {
			work = append(work, job{hi, l})
		}
	}
	workers := max(1, min(runtime.GOMAXPROCS(0), len(work)/64))
	chunk := (len(work) + workers - 1) / max(workers, 1)
	parts := make([][]uint16, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			cells := make([]uint16, x.cells)
			for _, j := range work[min(w*chunk, len(work)):min((w+1)*chunk, len(work))] {
				x.scanLocked(j.l.Hash, func(rec, t uint32) {
					if c, ok := x.cell(rec, t, j.l.T); ok && cells[c] < math.MaxUint16 {
						cells[c]++
					}
				})
			}
			parts[w] = cells
		})
	}
	wg.Wait()
	cells := parts[0]
	for _, p := range parts[1:] {
		for i, v := range p {
			cells[i] = uint16(min(int(cells[i])+int(v), math.MaxUint16))
		}
	}
	type cellVotes struct {
		cell  uint32
		votes int
	}
	var top []cellVotes
	allowed := map[uint32]bool{}
	for c, v := range cells {
		total := int(v)
		if c+1 < len(cells) {
			total += int(cells[c+1]) // a cell's boundary may split a match
		}
		if total < minVotes {
			continue
		}
		rec := x.cellRec(uint32(c))
		ok, seen := allowed[rec]
		if !seen {
			ok = allow == nil || allow(ix.id(rec))
			allowed[rec] = ok
		}
		if ok {
			top = append(top, cellVotes{uint32(c), total})
		}
	}
	slices.SortFunc(top, func(a, b cellVotes) int { return cmp.Or(cmp.Compare(b.votes, a.votes), cmp.Compare(a.cell, b.cell)) })
	chosen := make([]uint64, (x.cells+64)/64) // a bit per cell
	for _, c := range top[:min(len(top), maxCells)] {
		for _, k := range []uint32{c.cell, c.cell + 1} {
			chosen[k/64] |= 1 << (k % 64)
		}
	}
	if len(top) == 0 {
		return nil
	}
	// Pass 2: the landmarks agreeing in the chosen cells.
	found := make([][]hit, workers)
	for w := range workers {
		wg.Go(func() {
			for _, j := range work[min(w*chunk, len(work)):min((w+1)*chunk, len(work))] {
				x.scanLocked(j.l.Hash, func(rec, t uint32) {
					if c, ok := x.cell(rec, t, j.l.T); ok && chosen[c/64]&(1<<(c%64)) != 0 {
						found[w] = append(found[w], hit{rec: rec, hyp: uint8(j.hyp), d: int64(t) - int64(j.l.T), t: j.l.T})
					}
				})
			}
		})
	}
	wg.Wait()
	hits := slices.Concat(found...)
	votes := newCounter(len(hits))
	key := func(h hit) uint64 {
		return uint64(h.rec)<<26 | uint64(h.hyp)<<22 | uint64((h.d+offsetBias)/binFrames)&(1<<22-1)
	}
	for _, h := range hits {
		votes.add(key(h))
	}
	type cand struct {
		key   uint64
		votes int
	}
	var cands []cand
	votes.each(func(key uint64, n uint32) {
		// The next bin's votes count too (a smeared offset).
		if total := int(n + votes.get(key+1)); total >= minVotes {
			cands = append(cands, cand{key, total})
		}
	})
	slices.SortFunc(cands, func(a, b cand) int { return cmp.Or(cmp.Compare(b.votes, a.votes), cmp.Compare(a.key, b.key)) })
	var out []Match
	for _, c := range cands[:min(len(cands), maxCandidates*4)] {
		rec, hi := uint32(c.key>>26), int(c.key>>22&15)
		m, ok := measure(hits, rec, uint8(hi), int64(c.key&(1<<22-1)))
		if !ok {
			continue
		}
		m.ID, m.Speed, m.Pitch = ix.id(rec), Hypotheses[hi].Speed, Hypotheses[hi].Pitch
		out = append(out, m)
	}
	return best(out)
}

// hit is a landmark of a query found in a recording: at offset d (the
// recording's time minus the query's, in Hop units) under hypothesis hyp,
// heard at time t of the query.
type hit struct {
	rec uint32
	hyp uint8
	d   int64
	t   uint32
}

// maxCells is how many cells the second pass looks in.
const maxCells = 64

// best orders matches by score and keeps the best of those that name one
// place (the same offset under neighbouring hypotheses), at most
// maxCandidates.
func best(ms []Match) []Match {
	slices.SortStableFunc(ms, func(a, b Match) int { return cmp.Compare(b.Score, a.Score) })
	var out []Match
	for _, m := range ms {
		if len(out) == maxCandidates {
			break
		}
		if !slices.ContainsFunc(out, func(o Match) bool { return o.ID == m.ID && math.Abs(o.Offset-m.Offset) < 1 }) {
			out = append(out, m)
		}
	}
	return out
}

// commonFactor: a hash with more than commonFactor times the mean
// number of postings is too common to vote (like a stop word); the rarer
// ones carry the match.
var commonFactor = 2

// offsetBias lets a clip start a little before a recording's first
// landmark (its T is where the first peak pair was heard).
const offsetBias = 4 * binFrames

// measure takes the hits of one candidate (recording, hypothesis, offset
// bin) and finds the offset most of them agree on within a frame: under
// the right hypothesis they agree closely over the whole clip, under a
// neighbouring one they drift apart. The score is how many agree, and
// they must come from minSeconds of the clip.
func measure(hits []hit, rec uint32, hyp uint8, bin int64) (Match, bool) {
	lo, hi := (bin-1)*binFrames-offsetBias, (bin+2)*binFrames-offsetBias
	var ps []hit
	for _, h := range hits {
		if h.rec == rec && h.hyp == hyp && h.d >= lo && h.d < hi {
			ps = append(ps, h)
		}
	}
	if len(ps) < minVotes {
		return Match{}, false
	}
	count := map[int64]int{}
	for _, p := range ps {
		count[p.d]++
	}
	var mode int64
	top := -1
	for d := lo; d < hi; d++ {
		if n := count[d-1] + count[d] + count[d+1]; n > top {
			mode, top = d, n
		}
	}
	seconds := map[int64]bool{}
	var sum int64
	for _, p := range ps {
		if p.d >= mode-1 && p.d <= mode+1 {
			seconds[int64(float64(p.t)/FramesPerSecond)] = true
			sum += p.d
		}
	}
	if top < minVotes || len(seconds) < minSeconds {
		return Match{}, false
	}
	return Match{Offset: float64(sum) / float64(top) / FramesPerSecond, Score: top, By: "sound"}, true
}

// Query is a clip prepared for searching: its sound's peaks (found once,
// then rescaled per hypothesis) and its frames' picture hashes.
type Query struct {
	peaks []peak
	// sound is the clip's first refineSeconds of sound, for Refine.
	sound  []float32
	frames []uint64
	fps    float64
	length float64 // seconds
}

// NewQuery prepares a clip: its sound as mono PCM at Rate (nil if none)
// and the picture hashes of its frames at fps (nil if none).
func NewQuery(pcm []float32, frames []uint64, fps float64) *Query {
	q := &Query{peaks: peaks(pcm, queryPeaks), frames: frames, fps: fps, length: float64(len(pcm)) / Rate,
		sound: slices.Clone(pcm[:min(len(pcm), refineSeconds*Rate)])}
	if fps > 0 {
		q.length = max(q.length, float64(len(frames))/fps)
	}
	return q
}

// Search returns where the clip comes from, best first: by its sound,
// else by its pictures. None is a clip found nowhere.
func (ix *Index) Search(q *Query, allow Filter) []Match {
	m := ix.searchSound(q, allow)
	if len(m) == 0 {
		m = ix.searchPictures(q, allow)
	}
	for i := range m {
		m[i].Length = q.length * m[i].Speed
	}
	return m
}

// counter counts votes by key (open addressing, linear probing; a key is
// stored plus one, so zero is empty).
type counter struct {
	keys   []uint64
	counts []uint32
	n      int
	shift  uint
}

func newCounter(size int) *counter {
	c := &counter{}
	c.init(size)
	return c
}

func (c *counter) init(size int) {
	bitsN := uint(16)
	for 1<<bitsN < size {
		bitsN++
	}
	c.keys, c.counts, c.n, c.shift = make([]uint64, 1<<bitsN), make([]uint32, 1<<bitsN), 0, 64-bitsN
}

func (c *counter) slot(key uint64) int {
	mask := len(c.keys) - 1
	i := int((key * 0x9E3779B97F4A7C15) >> c.shift)
	for c.keys[i] != 0 && c.keys[i] != key+1 {
		i = (i + 1) & mask
	}
	return i
}

func (c *counter) add(key uint64) {
	i := c.slot(key)
	if c.keys[i] == 0 {
		if 2*(c.n+1) > len(c.keys) {
			keys, counts := c.keys, c.counts
			c.init(2 * len(keys))
			for j, k := range keys {
				if k != 0 {
					at := c.slot(k - 1)
					c.keys[at], c.counts[at] = k, counts[j]
					c.n++
				}
			}
			i = c.slot(key)
		}
		c.keys[i] = key + 1
		c.n++
	}
	c.counts[i]++
}

func (c *counter) get(key uint64) uint32 {
	if i := c.slot(key); c.keys[i] != 0 {
		return c.counts[i]
	}
	return 0
}

func (c *counter) each(fn func(key uint64, n uint32)) {
	for i, k := range c.keys {
		if k != 0 {
			fn(k-1, c.counts[i])
		}
	}
}

// Stats are the index's size.
type Stats struct {
	Recordings int
	Landmarks  int
	SoundBytes int64
	Samples    int // picture hashes sampled
	// PictureBytes counts the samples, their places in the tables, and
	// every frame's hash kept for measuring.
	PictureBytes int64
}

// Stats measures the index.
func (ix *Index) Stats() Stats {
	st := Stats{Recordings: ix.Len()}
	st.Landmarks, st.SoundBytes = ix.audio.size()
	x := ix.pics
	x.mu.RLock()
	defer x.mu.RUnlock()
	st.Samples = len(x.samples)
	st.PictureBytes = int64(8*len(x.samples) + 8*len(x.starts))
	for _, t := range x.tables {
		for _, p := range t {
			st.PictureBytes += int64(4 * len(p))
		}
	}
	for _, r := range x.full {
		st.PictureBytes += int64(8 * len(r))
	}
	return st
}
