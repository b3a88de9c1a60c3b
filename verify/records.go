package verify

import (
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/mod/sumdb/tlog"
)

// A recording's seconds are committed to at intake: for each second, a
// record of what its sound and picture look like, coarse enough to
// survive re-encoding and fine enough to tell one moment from another.
// The records are the leaves of a Merkle tree (RFC 6962 hashing, as the
// log's), whose root the log's "derived" event of the recording's
// fingerprint names. A release discloses the records of the seconds it
// shows, each with its inclusion proof; anyone can compute the records of
// the released file again and compare (RecordsMatch), without the
// original.

// The records' sizes.
const (
	// SoundSlots is how many levels a second's sound has (1/32 s each).
	SoundSlots = 32
	// GridSide is the side of the grid of a picture's mean greys.
	GridSide = 8
	// RecordRate and RecordWidth: the sound is read as mono PCM at 8 kHz,
	// the picture as grey frames RecordWidth pixels wide (the height keeps
	// the aspect ratio), the frame of a second being the one at its middle.
	RecordRate  = 8000
	RecordWidth = 128
	// RecordSize is a record's length in bytes.
	RecordSize = 4 + 1 + SoundSlots + GridSide*GridSide
)

// Record is what one second of a recording looks like.
type Record struct {
	// Second is its number from the recording's start.
	Second uint32
	// Sound holds the level of each 1/32 s in half decibels above
	// -100 dBFS (0: silent); HasSound is false without sound.
	Sound    [SoundSlots]uint8
	HasSound bool
	// Picture holds the mean grey (0-255) of each cell of an 8×8 grid
	// over the frame, row by row; HasPicture is false without pictures.
	Picture    [GridSide * GridSide]uint8
	HasPicture bool
}

// Bytes is the record as a leaf: the second (big-endian), flags (1:
// sound, 2: picture), the levels, the grid.
func (r Record) Bytes() []byte {
	b := make([]byte, RecordSize)
	binary.BigEndian.PutUint32(b, r.Second)
	if r.HasSound {
		b[4] |= 1
	}
	if r.HasPicture {
		b[4] |= 2
	}
	copy(b[5:], r.Sound[:])
	copy(b[5+SoundSlots:], r.Picture[:])
	return b
}

// ParseRecord reads a record's bytes.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if len(b) != RecordSize || b[4]&^3 != 0 {
		return r, fmt.Errorf("%w: a second's record of %d bytes", ErrMalformed, len(b))
	}
	r.Second = binary.BigEndian.Uint32(b)
	r.HasSound, r.HasPicture = b[4]&1 != 0, b[4]&2 != 0
	copy(r.Sound[:], b[5:])
	copy(r.Picture[:], b[5+SoundSlots:])
	return r, nil
}

// SoundLevels measures one second of PCM at RecordRate (fewer samples
// than a second leave the rest silent).
func SoundLevels(pcm []float32) [SoundSlots]uint8 {
	var out [SoundSlots]uint8
	n := RecordRate / SoundSlots
	for i := range SoundSlots {
		if (i+1)*n > len(pcm) {
			break
		}
		var s float64
		for _, v := range pcm[i*n : (i+1)*n] {
			s += float64(v) * float64(v)
		}
		db := 10 * math.Log10(s/float64(n)+1e-12)
		out[i] = uint8(math.Round(math.Max(0, math.Min(255, 2*(db+100)))))
	}
	return out
}

// PictureGrid measures a grey frame w pixels wide and h high.
func PictureGrid(frame []byte, w, h int) [GridSide * GridSide]uint8 {
	var out [GridSide * GridSide]uint8
	for gy := range GridSide {
		y0, y1 := gy*h/GridSide, max((gy+1)*h/GridSide, gy*h/GridSide+1)
		for gx := range GridSide {
			x0, x1 := gx*w/GridSide, max((gx+1)*w/GridSide, gx*w/GridSide+1)
			var s int
			for y := y0; y < y1; y++ {
				for _, v := range frame[y*w+x0 : y*w+x1] {
					s += int(v)
				}
			}
			out[gy*GridSide+gx] = uint8((s + (y1-y0)*(x1-x0)/2) / ((y1 - y0) * (x1 - x0)))
		}
	}
	return out
}

// recordTree holds the stored hashes of a tree of records (tlog's
// layout), for its root and proofs.
type recordTree []tlog.Hash

func (t recordTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for k, j := range idx {
		if j < 0 || j >= int64(len(t)) {
			return nil, fmt.Errorf("%w: no stored hash %d", ErrProof, j)
		}
		out[k] = t[j]
	}
	return out, nil
}

func buildTree(records []Record) (recordTree, error) {
	var t recordTree
	for i, r := range records {
		hs, err := tlog.StoredHashes(int64(i), r.Bytes(), t)
		if err != nil {
			return nil, err
		}
		t = append(t, hs...)
	}
	return t, nil
}

// RecordsRoot is the Merkle tree hash of records' bytes (RFC 6962).
func RecordsRoot(records []Record) (tlog.Hash, error) {
	t, err := buildTree(records)
	if err != nil {
		return tlog.Hash{}, err
	}
	return tlog.TreeHash(int64(len(records)), t)
}

// ProveRecords returns the inclusion proof of each of records[from:to] in
// the tree of all of them.
func ProveRecords(records []Record, from, to int) ([]tlog.RecordProof, error) {
	t, err := buildTree(records)
	if err != nil {
		return nil, err
	}
	var out []tlog.RecordProof
	for i := from; i < to; i++ {
		p, err := tlog.ProveRecord(int64(len(records)), int64(i), t)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// CheckRecord checks that r is record number r.Second of a tree of n
// records with root.
func CheckRecord(r Record, proof tlog.RecordProof, n int64, root tlog.Hash) error {
	if int64(r.Second) >= n {
		return fmt.Errorf("%w: second %d of a recording of %d", ErrProof, r.Second, n)
	}
	if err := tlog.CheckRecord(proof, n, root, int64(r.Second), tlog.RecordHash(r.Bytes())); err != nil {
		return fmt.Errorf("%w: second %d: %v", ErrProof, r.Second, err)
	}
	return nil
}

// Tolerances of RecordsMatch: how far a released second may be from its
// record, on average, and still match. Encoding a span again at the
// release's quality moved a level by 0.1 dB and a cell by 0.1 grey level
// on average; another moment of the same scene moved them by 3.7-10.6 dB
// and 27-45 levels (fingerprint's TestRecordsOfARelease).
const (
	SoundTolerance   = 4 // half decibels, mean over the slots heard
	PictureTolerance = 6 // grey levels, mean over the cells compared
	// heard: a slot counts if either side is above -70 dBFS.
	heard = 60
)

// RecordsMatch compares a record with the one computed again from a
// released copy of its second. mask lists the grid cells a redaction
// covered (not compared), and mute says the sound was muted or bleeped in
// this second (not compared). It returns why they differ, or "" when
// they match.
func RecordsMatch(logged, again Record, mask [GridSide * GridSide]bool, mute bool) string {
	if logged.Second != again.Second {
		return fmt.Sprintf("second %d compared with second %d", logged.Second, again.Second)
	}
	if logged.HasSound && !mute {
		if !again.HasSound {
			return "the release has no sound where the recording had"
		}
		var sum, n int
		for i := range SoundSlots {
			a, b := int(logged.Sound[i]), int(again.Sound[i])
			if a < heard && b < heard {
				continue
			}
			sum += abs(a - b)
			n++
		}
		if n > 0 && sum > SoundTolerance*n {
			return fmt.Sprintf("the sound differs by %.1f dB on average", float64(sum)/float64(n)/2)
		}
	}
	if logged.HasPicture {
		if !again.HasPicture {
			return "the release has no picture where the recording had"
		}
		var sum, n int
		for i := range logged.Picture {
			if mask[i] {
				continue
			}
			sum += abs(int(logged.Picture[i]) - int(again.Picture[i]))
			n++
		}
		if n > 0 && sum > PictureTolerance*n {
			return fmt.Sprintf("the picture differs by %.1f grey levels on average outside redactions", float64(sum)/float64(n))
		}
	}
	return ""
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
