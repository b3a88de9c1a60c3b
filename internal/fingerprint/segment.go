package fingerprint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// A sealed segment on disk (Options.Dir, seg-NNNNNN.slix) is written once
// and never changed, so the index grows by adding files:
//
//	"SLIX", version 1
//	u32 recordings; each: u16 id length, id, u32 last landmark time,
//	    u32 picture samples, the samples (u64 each)
//	u32 parts; each: u32 recording (in this file), u32 time base
//	the table: u32 hashes with postings; each: uvarint hash step (from
//	    the last such hash, plus one), uvarint postings
//	u32 postings, the postings (u32), by hash
//	SHA-256 of all the above
//
// little-endian. A file that does not check is skipped: its recordings
// are added again from their fingerprints.
const (
	segMagic   = "SLIX"
	segVersion = 1
	segPattern = "seg-*.slix"
)

// ErrSegment says a segment file is damaged.
var ErrSegment = errors.New("fingerprint: damaged index segment")

// write writes sealed segments to Dir.
func (ix *Index) write(sealed []*segment) error {
	if err := os.MkdirAll(ix.opts.Dir, 0o700); err != nil {
		return err
	}
	for _, s := range sealed {
		names, _ := filepath.Glob(filepath.Join(ix.opts.Dir, segPattern))
		next := 1
		for _, n := range names {
			var k int
			if _, err := fmt.Sscanf(filepath.Base(n), "seg-%d.slix", &k); err == nil && k >= next {
				next = k + 1
			}
		}
		name := filepath.Join(ix.opts.Dir, fmt.Sprintf("seg-%06d.slix", next))
		if err := writeAtomically(name, func(w io.Writer) error { return ix.encode(w, s) }); err != nil {
			return fmt.Errorf("fingerprint: writing %s: %w", name, err)
		}
	}
	return nil
}

// encode writes s (with its recordings' picture samples).
func (ix *Index) encode(w io.Writer, s *segment) error {
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 1<<20)
	u32 := func(v uint32) { bw.Write(binary.LittleEndian.AppendUint32(nil, v)) }
	bw.WriteString(segMagic)
	bw.WriteByte(segVersion)
	var recs []uint32 // this file's recordings
	local := map[uint32]uint32{}
	for _, r := range s.recs {
		if _, ok := local[r]; !ok {
			local[r] = uint32(len(recs))
			recs = append(recs, r)
		}
	}
	u32(uint32(len(recs)))
	for _, r := range recs {
		id := ix.id(r)
		bw.Write(binary.LittleEndian.AppendUint16(nil, uint16(len(id))))
		bw.WriteString(id)
		u32(ix.audio.lastOf(r))
		samples := ix.pics.sampledOf(r)
		u32(uint32(len(samples)))
		for _, v := range samples {
			bw.Write(binary.LittleEndian.AppendUint64(nil, v))
		}
	}
	u32(uint32(len(s.recs)))
	for p, r := range s.recs {
		u32(local[r])
		u32(s.base[p])
	}
	nonEmpty := 0
	for h := range 1 << hashBits {
		if s.offs[h+1] > s.offs[h] {
			nonEmpty++
		}
	}
	u32(uint32(nonEmpty))
	prev := -1
	for h := range 1 << hashBits {
		if n := s.offs[h+1] - s.offs[h]; n > 0 {
			bw.Write(binary.AppendUvarint(nil, uint64(h-prev-1)))
			bw.Write(binary.AppendUvarint(nil, uint64(n)))
			prev = h
		}
	}
	u32(uint32(len(s.post)))
	for _, p := range s.post {
		u32(p)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(h.Sum(nil))
	return err
}

// writeAtomically writes a file through a temporary one, synced, renamed
// into place, and its folder synced.
func writeAtomically(name string, fill func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = fill(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(name))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open loads the segments in Options.Dir into an empty index, and
// returns the damaged ones it skipped (their recordings must be added
// again).
func (ix *Index) Open() (skipped []string, err error) {
	if ix.opts.Dir == "" {
		return nil, nil
	}
	names, err := filepath.Glob(filepath.Join(ix.opts.Dir, segPattern))
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return skipped, err
		}
		if err := ix.load(b); err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", filepath.Base(name), err))
		}
	}
	return skipped, nil
}

// segmentRec is a recording as a segment file holds it.
type segmentRec struct {
	id      string
	last    uint32
	samples []uint64
}

// load adds one segment file's contents, all or nothing.
func (ix *Index) load(b []byte) error {
	if len(b) < sha256.Size {
		return fmt.Errorf("%w: cut short", ErrSegment)
	}
	body, sum := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return fmt.Errorf("%w: its SHA-256 does not check", ErrSegment)
	}
	recs, s, local, err := decodeSegment(body)
	if err != nil {
		return err
	}
	ix.add.Lock()
	defer ix.add.Unlock()
	ix.mu.Lock()
	for _, rc := range recs {
		if _, ok := ix.nums[rc.id]; ok {
			ix.mu.Unlock()
			return fmt.Errorf("%w: recording %s is in another segment", ErrSegment, rc.id)
		}
	}
	nums := make([]uint32, len(recs))
	for i, rc := range recs {
		nums[i] = ix.number(rc.id)
	}
	ix.mu.Unlock()
	for p := range s.recs {
		s.recs[p] = nums[local[p]]
	}
	for i, rc := range recs {
		ix.pics.addSampled(nums[i], rc.samples)
	}
	ix.audio.addSegment(s, func(rec uint32) uint32 { return recs[slices.Index(nums, rec)].last })
	return nil
}

// decodeSegment reads a segment file's body (without its SHA-256): its
// recordings, its table, and the recording (in recs) of each part.
func decodeSegment(body []byte) ([]segmentRec, *segment, []uint32, error) {
	if len(body) < len(segMagic)+1 || string(body[:4]) != segMagic || body[4] != segVersion {
		return nil, nil, nil, fmt.Errorf("%w: not a version %d segment", ErrSegment, segVersion)
	}
	r := &segReader{b: body[5:]}
	recs := make([]segmentRec, r.count(10))
	seen := map[string]bool{}
	for i := range recs {
		n := int(r.u16())
		recs[i].id = string(r.bytes(n))
		recs[i].last = r.u32()
		recs[i].samples = make([]uint64, r.count(8))
		for k := range recs[i].samples {
			recs[i].samples[k] = r.u64()
		}
		if seen[recs[i].id] && r.err == nil {
			r.err = fmt.Errorf("%w: recording %q twice", ErrSegment, recs[i].id)
		}
		seen[recs[i].id] = true
	}
	s := &segment{}
	parts := r.count(8)
	if parts > maxParts && r.err == nil {
		r.err = fmt.Errorf("%w: %d parts", ErrSegment, parts)
	}
	s.recs, s.base = make([]uint32, parts), make([]uint32, parts)
	local := make([]uint32, parts)
	for p := range parts {
		local[p], s.base[p] = r.u32(), r.u32()
		if int(local[p]) >= len(recs) && r.err == nil {
			r.err = fmt.Errorf("%w: part %d names recording %d of %d", ErrSegment, p, local[p], len(recs))
		}
	}
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	s.offs = make([]uint32, 1<<hashBits+1)
	h := -1
	var total uint64
	for range r.count(2) {
		step, count := r.uvarint(), r.uvarint()
		if r.err != nil || step >= 1<<hashBits || h+int(step)+1 >= 1<<hashBits || count == 0 || count > 1<<32 {
			if r.err == nil {
				r.err = fmt.Errorf("%w: its table does not add up", ErrSegment)
			}
			return nil, nil, nil, r.err
		}
		h += int(step) + 1
		total += count
		s.offs[h+1] = uint32(count)
	}
	for k := 1; k < len(s.offs); k++ {
		s.offs[k] += s.offs[k-1]
	}
	s.post = make([]uint32, r.count(4))
	if uint64(len(s.post)) != total && r.err == nil {
		r.err = fmt.Errorf("%w: %d postings, the table counts %d", ErrSegment, len(s.post), total)
	}
	for i := range s.post {
		s.post[i] = r.u32()
		if int(s.post[i]>>timeBits) >= parts && r.err == nil {
			r.err = fmt.Errorf("%w: a posting names part %d of %d", ErrSegment, s.post[i]>>timeBits, parts)
		}
	}
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d bytes past its postings", ErrSegment, len(r.b))
	}
	if r.err != nil {
		return nil, nil, nil, r.err
	}
	return recs, s, local, nil
}

// segReader reads a segment's fields, remembering the first error.
type segReader struct {
	b   []byte
	err error
}

// bytes reads n bytes; past the end (or after an error) it returns
// zeros, at most 8 of them (the fields read one by one).
func (r *segReader) bytes(n int) []byte {
	if r.err != nil || n > len(r.b) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: cut short", ErrSegment)
		}
		return make([]byte, min(n, 8))
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *segReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = fmt.Errorf("%w: a bad number", ErrSegment)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *segReader) u16() uint16 { return binary.LittleEndian.Uint16(r.bytes(2)) }
func (r *segReader) u32() uint32 { return binary.LittleEndian.Uint32(r.bytes(4)) }
func (r *segReader) u64() uint64 { return binary.LittleEndian.Uint64(r.bytes(8)) }

// count reads a count of entries of at least size bytes each, no more
// than the bytes left could hold.
func (r *segReader) count(size int) int {
	n := int(r.u32())
	if r.err == nil && n > len(r.b)/size {
		r.err = fmt.Errorf("%w: %d entries in %d bytes", ErrSegment, n, len(r.b))
	}
	if r.err != nil {
		return 0
	}
	return n
}
