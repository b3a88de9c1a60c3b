package fingerprint

import (
	"cmp"
	"slices"
	"sync"
)

// hashBits is the width of a landmark's hash.
const hashBits = 21

// A sealed segment's posting is 32 bits: a part of a recording (partBits,
// the segment's own numbering) and a landmark's time from that part's
// start (timeBits, 4.6 hours of Hop units). A recording longer than a part
// has several.
const (
	timeBits = 20
	partBits = 32 - timeBits
	maxParts = 1 << partBits
)

// segment is a sealed, read-only table of postings by hash: the postings
// of hash h are post[offs[h]:offs[h+1]], each naming part p (recording
// recs[p], time base[p] + its low timeBits).
type segment struct {
	offs []uint32 // 1<<hashBits + 1
	post []uint32
	recs []uint32
	base []uint32
}

// scan calls fn with the recording and time of every posting of h.
func (s *segment) scan(h uint32, fn func(rec, t uint32)) {
	for _, p := range s.post[s.offs[h]:s.offs[h+1]] {
		part := p >> timeBits
		fn(s.recs[part], s.base[part]+p&(1<<timeBits-1))
	}
}

// entry is a landmark of a recording not yet sealed into a segment.
type entry struct {
	hash, rec, t uint32
}

// seal builds segments from landmarks of several recordings (a counting
// sort by hash), as many as their parts need.
func seal(entries []entry) []*segment {
	slices.SortStableFunc(entries, func(a, b entry) int { return cmp.Compare(a.rec, b.rec) })
	var out []*segment
	s := &segment{offs: make([]uint32, 1<<hashBits+1)}
	var local []uint32 // each entry's posting in s
	from := 0
	flush := func(to int) {
		for _, e := range entries[from:to] {
			s.offs[e.hash+1]++
		}
		for h := 1; h < len(s.offs); h++ {
			s.offs[h] += s.offs[h-1]
		}
		s.post = make([]uint32, to-from)
		next := slices.Clone(s.offs[:1<<hashBits])
		for i, e := range entries[from:to] {
			s.post[next[e.hash]] = local[i]
			next[e.hash]++
		}
		out = append(out, s)
		s, local, from = &segment{offs: make([]uint32, 1<<hashBits+1)}, nil, to
	}
	// A recording's parts stay in one segment: a new segment begins
	// before a recording whose parts would not fit.
	partOf := map[[2]uint32]uint32{}
	for i, e := range entries {
		if i == 0 || e.rec != entries[i-1].rec {
			parts := map[uint32]bool{}
			for _, f := range entries[i:] {
				if f.rec != e.rec {
					break
				}
				parts[f.t>>timeBits] = true
			}
			if len(s.recs) > 0 && len(s.recs)+len(parts) > maxParts {
				flush(i)
				clear(partOf)
			}
		}
		key := [2]uint32{e.rec, e.t >> timeBits}
		p, ok := partOf[key]
		if !ok {
			p = uint32(len(s.recs))
			partOf[key] = p
			s.recs = append(s.recs, e.rec)
			s.base = append(s.base, key[1]<<timeBits)
		}
		local = append(local, p<<timeBits|e.t&(1<<timeBits-1))
	}
	if from < len(entries) || len(out) == 0 {
		flush(len(entries))
	}
	return out
}

// audioIndex holds the landmarks of every recording: sealed segments and
// a tail being filled, sealed when it holds tailMax entries.
type audioIndex struct {
	mu      sync.RWMutex
	segs    []*segment
	tail    []entry
	tailMap map[uint32][]entry
	tailMax int
	// Cells: each recording's time, cut in cellFrames, numbered one
	// recording after another; cellBase[rec] is its first, and cellRecs
	// the recording of each first cell, ascending.
	cellBase  []uint32
	cellFirst []uint32
	cellRecs  []uint32
	cells     int
	last      map[uint32]uint32 // each recording's last landmark time
}

// cellShift: a cell is 4,096 Hop units (65.5 s) of a recording.
const cellShift = 12

// newCells numbers the cells of recording rec, whose last landmark is at
// last.
func (x *audioIndex) newCells(rec, last uint32) {
	x.last[rec] = last
	for len(x.cellBase) <= int(rec) {
		x.cellBase = append(x.cellBase, 0)
	}
	x.cellBase[rec] = uint32(x.cells)
	x.cellFirst = append(x.cellFirst, uint32(x.cells))
	x.cellRecs = append(x.cellRecs, rec)
	x.cells += int((int64(last)+offsetBias)>>cellShift) + 2
}

// cell is the cell a landmark at t of rec, heard at tq of a query, votes
// for.
func (x *audioIndex) cell(rec, t, tq uint32) (uint32, bool) {
	d := int64(t) - int64(tq) + offsetBias
	if d < 0 {
		return 0, false
	}
	return x.cellBase[rec] + uint32(d>>cellShift), true
}

// cellRec is the recording of cell c.
func (x *audioIndex) cellRec(c uint32) uint32 {
	i, found := slices.BinarySearch(x.cellFirst, c)
	if !found {
		i--
	}
	return x.cellRecs[i]
}

func newAudioIndex(tailMax int) *audioIndex {
	return &audioIndex{tailMap: map[uint32][]entry{}, tailMax: tailMax, last: map[uint32]uint32{}}
}

// add indexes a recording's landmarks under its number, and returns the
// segments sealed if the tail filled.
func (x *audioIndex) add(rec uint32, lms []Landmark) []*segment {
	x.mu.Lock()
	defer x.mu.Unlock()
	var last uint32
	for _, l := range lms {
		last = max(last, l.T)
	}
	x.newCells(rec, last)
	for _, l := range lms {
		e := entry{l.Hash, rec, l.T}
		x.tail = append(x.tail, e)
		x.tailMap[l.Hash] = append(x.tailMap[l.Hash], e)
	}
	if len(x.tail) < x.tailMax {
		return nil
	}
	sealed := seal(x.tail)
	x.segs = append(x.segs, sealed...)
	x.tail, x.tailMap = nil, map[uint32][]entry{}
	return sealed
}

// addSegment adds a sealed segment of recordings new to the index (read
// back from disk, or made up by Pad), each lasting up to last(rec).
func (x *audioIndex) addSegment(s *segment, last func(rec uint32) uint32) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, rec := range s.recs {
		if _, ok := x.last[rec]; !ok {
			x.newCells(rec, last(rec))
		}
	}
	x.segs = append(x.segs, s)
}

// lastOf is recording rec's last landmark time.
func (x *audioIndex) lastOf(rec uint32) uint32 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.last[rec]
}

// each calls fn with the recording and time of every posting of hash h.
func (x *audioIndex) each(h uint32, fn func(rec, t uint32)) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	x.scanLocked(h, fn)
}

func (x *audioIndex) scanLocked(h uint32, fn func(rec, t uint32)) {
	for _, s := range x.segs {
		s.scan(h, fn)
	}
	for _, e := range x.tailMap[h] {
		fn(e.rec, e.t)
	}
}

// size is how many postings the index holds, and their bytes.
func (x *audioIndex) size() (n int, bytes int64) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.sizeLocked()
}

func (x *audioIndex) sizeLocked() (n int, bytes int64) {
	for _, s := range x.segs {
		n += len(s.post)
		bytes += int64(4*len(s.post) + 4*len(s.offs) + 8*len(s.recs))
	}
	return n + len(x.tail), bytes + int64(12*len(x.tail))
}

// count is how many postings hash h has.
func (x *audioIndex) countLocked(h uint32) int {
	n := len(x.tailMap[h])
	for _, s := range x.segs {
		n += int(s.offs[h+1] - s.offs[h])
	}
	return n
}
