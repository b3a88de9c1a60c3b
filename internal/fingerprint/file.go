package fingerprint

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/sightline/sightline/verify"
)

// The fingerprint file (a derived blob of each recording) holds a
// Fingerprint: "SLFP", a version byte, then little-endian counts and
// arrays: landmarks (hash, time; 8 bytes each), the picture rate in
// thousandths and the frames' hashes (8 bytes each), the seconds'
// records (verify.RecordSize each).
const (
	fileMagic   = "SLFP"
	fileVersion = 1
)

// ErrFile says a fingerprint file is damaged.
var ErrFile = errors.New("fingerprint: damaged fingerprint file")

// Marshal writes fp as a fingerprint file.
func (fp *Fingerprint) Marshal() []byte {
	b := make([]byte, 0, 5+4+8*len(fp.Landmarks)+8+8*len(fp.Frames)+4+verify.RecordSize*len(fp.Records))
	b = append(b, fileMagic...)
	b = append(b, fileVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fp.Landmarks)))
	for _, l := range fp.Landmarks {
		b = binary.LittleEndian.AppendUint32(b, l.Hash)
		b = binary.LittleEndian.AppendUint32(b, l.T)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(math.Round(fp.FPS*1000)))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fp.Frames)))
	for _, f := range fp.Frames {
		b = binary.LittleEndian.AppendUint64(b, f)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fp.Records)))
	for _, r := range fp.Records {
		b = append(b, r.Bytes()...)
	}
	return b
}

// Unmarshal reads a fingerprint file, checking every count against the
// bytes there are before it allocates.
func Unmarshal(b []byte) (*Fingerprint, error) {
	if len(b) < 5 || string(b[:4]) != fileMagic || b[4] != fileVersion {
		return nil, fmt.Errorf("%w: not a version %d fingerprint file", ErrFile, fileVersion)
	}
	b = b[5:]
	count := func(size int) (int, error) {
		if len(b) < 4 {
			return 0, fmt.Errorf("%w: cut short", ErrFile)
		}
		n := int(binary.LittleEndian.Uint32(b))
		b = b[4:]
		if n > len(b)/size {
			return 0, fmt.Errorf("%w: %d entries of %d bytes in %d bytes", ErrFile, n, size, len(b))
		}
		return n, nil
	}
	fp := &Fingerprint{}
	n, err := count(8)
	if err != nil {
		return nil, err
	}
	fp.Landmarks = make([]Landmark, n)
	for i := range fp.Landmarks {
		fp.Landmarks[i] = Landmark{Hash: binary.LittleEndian.Uint32(b), T: binary.LittleEndian.Uint32(b[4:])}
		if fp.Landmarks[i].Hash >= 1<<hashBits {
			return nil, fmt.Errorf("%w: a landmark's hash has more than %d bits", ErrFile, hashBits)
		}
		b = b[8:]
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: cut short", ErrFile)
	}
	fp.FPS = float64(binary.LittleEndian.Uint32(b)) / 1000
	b = b[4:]
	if n, err = count(8); err != nil {
		return nil, err
	}
	fp.Frames = make([]uint64, n)
	for i := range fp.Frames {
		fp.Frames[i] = binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	if n, err = count(verify.RecordSize); err != nil {
		return nil, err
	}
	fp.Records = make([]verify.Record, n)
	for i := range fp.Records {
		r, err := verify.ParseRecord(b[:verify.RecordSize])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrFile, err)
		}
		if r.Second != uint32(i) {
			return nil, fmt.Errorf("%w: record %d is of second %d", ErrFile, i, r.Second)
		}
		fp.Records[i] = r
		b = b[verify.RecordSize:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d bytes after the records", ErrFile, len(b))
	}
	return fp, nil
}
