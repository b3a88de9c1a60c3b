package fingerprint

import (
	"slices"
	"sync"
)

// hashBits is the width of a landmark's hash.
const hashBits = 21

// A posting names where a hash was heard: the recording's number in the
// index (high 32 bits) and the landmark's time (low 32).
type posting = uint64

func post(rec uint32, t uint32) posting { return uint64(rec)<<32 | uint64(t) }

// segment is a sealed, read-only table of postings by hash: the postings
// of hash h are post[offs[h]:offs[h+1]], in the order they were added.
type segment struct {
	offs []uint32 // 1<<hashBits + 1
	post []posting
}

// seal builds a segment from landmarks of several recordings (a counting
// sort by hash).
func seal(entries []entry) *segment {
	s := &segment{offs: make([]uint32, 1<<hashBits+1), post: make([]posting, len(entries))}
	for _, e := range entries {
		s.offs[e.hash+1]++
	}
	for h := 1; h < len(s.offs); h++ {
		s.offs[h] += s.offs[h-1]
	}
	next := slices.Clone(s.offs[:1<<hashBits])
	for _, e := range entries {
		s.post[next[e.hash]] = e.p
		next[e.hash]++
	}
	return s
}

func (s *segment) postings(h uint32) []posting { return s.post[s.offs[h]:s.offs[h+1]] }

// entry is a landmark of a recording not yet sealed into a segment.
type entry struct {
	hash uint32
	p    posting
}

// audioIndex holds the landmarks of every recording: sealed segments and
// a tail being filled, sealed when it holds tailMax entries.
type audioIndex struct {
	mu      sync.RWMutex
	segs    []*segment
	tail    []entry
	tailMap map[uint32][]posting
	tailMax int
}

func newAudioIndex(tailMax int) *audioIndex {
	return &audioIndex{tailMap: map[uint32][]posting{}, tailMax: tailMax}
}

// add indexes a recording's landmarks under its number.
func (x *audioIndex) add(rec uint32, lms []Landmark) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, l := range lms {
		p := post(rec, l.T)
		x.tail = append(x.tail, entry{l.Hash, p})
		x.tailMap[l.Hash] = append(x.tailMap[l.Hash], p)
	}
	if len(x.tail) >= x.tailMax {
		x.segs = append(x.segs, seal(x.tail))
		x.tail, x.tailMap = nil, map[uint32][]posting{}
	}
}

// addSegment adds a sealed segment (a padded index in the benchmark).
func (x *audioIndex) addSegment(s *segment) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.segs = append(x.segs, s)
}

// each calls fn with every list of postings of hash h.
func (x *audioIndex) each(h uint32, fn func([]posting)) {
	for _, s := range x.segs {
		if p := s.postings(h); len(p) > 0 {
			fn(p)
		}
	}
	if p := x.tailMap[h]; len(p) > 0 {
		fn(p)
	}
}

// size is how many postings the index holds.
func (x *audioIndex) size() int {
	n := len(x.tail)
	for _, s := range x.segs {
		n += len(s.post)
	}
	return n
}
