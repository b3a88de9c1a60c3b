package media

import (
	"encoding/binary"
	"io"
	"math"
	"strings"
	"time"
)

// Limits on how much of an untrusted file the EXIF reader will look at.
const (
	exifMaxEntries = 512
	tiffReadLimit  = 1 << 20
)

// readJPEG finds the EXIF block of a JPEG file and reads it.
func readJPEG(r io.ReaderAt, size int64) fileTags {
	off := int64(2) // after SOI
	for seg := 0; seg < 64 && off+4 <= size; seg++ {
		var h [4]byte
		if _, err := r.ReadAt(h[:], off); err != nil || h[0] != 0xff {
			break
		}
		marker, n := h[1], int64(binary.BigEndian.Uint16(h[2:]))
		if marker == 0xda || marker == 0xd9 || n < 2 { // start of scan, end of image
			break
		}
		if marker == 0xe1 && n >= 8 {
			b := make([]byte, n-2)
			if k, _ := r.ReadAt(b, off+4); k == len(b) && strings.HasPrefix(string(b), "Exif\x00\x00") {
				return readTIFF(b[6:])
			}
		}
		off += 2 + n
	}
	return fileTags{}
}

// readTIFFFile reads EXIF from a TIFF file (and the raw formats built on
// TIFF), whose first bytes are the TIFF header itself.
func readTIFFFile(r io.ReaderAt, size int64) fileTags {
	b := make([]byte, min(size, tiffReadLimit))
	n, _ := r.ReadAt(b, 0)
	return readTIFF(b[:n])
}

// readTIFF reads camera, capture time and GPS position from a TIFF/EXIF
// structure: IFD0, its EXIF sub-IFD and its GPS sub-IFD.
func readTIFF(b []byte) fileTags {
	var t fileTags
	if len(b) < 8 {
		return t
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return t
	}
	x := tiff{b: b, bo: bo}
	ifd0 := x.ifd(bo.Uint32(b[4:]))
	t.Camera = Camera{Make: x.ascii(ifd0[0x010f]), Model: x.ascii(ifd0[0x0110]), Software: x.ascii(ifd0[0x0131])}

	if e, ok := ifd0[0x8769]; ok {
		exif := x.ifd(x.long(e))
		if ts, err := time.Parse("2006:01:02 15:04:05", x.ascii(exif[0x9003])); err == nil {
			// Without OffsetTimeOriginal the clock's zone is unknown and the
			// time is read as UTC.
			if tz, err := time.Parse("-07:00", x.ascii(exif[0x9011])); err == nil {
				ts = time.Date(ts.Year(), ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, tz.Location())
			}
			t.CapturedAt = ts.UTC()
		}
	}
	if g, ok := ifd0[0x8825]; ok {
		gps := x.ifd(x.long(g))
		lat, ok1 := x.degrees(gps[2])
		lon, ok2 := x.degrees(gps[4])
		if ok1 && ok2 && lat <= 90 && lon <= 180 {
			if strings.HasPrefix(x.ascii(gps[1]), "S") {
				lat = -lat
			}
			if strings.HasPrefix(x.ascii(gps[3]), "W") {
				lon = -lon
			}
			loc := &Location{Lat: lat, Lon: lon}
			if alt, ok := x.rationals(gps[6], 1); ok {
				if ref := gps[5]; ref.count == 1 && ref.value[0] == 1 { // below sea level
					alt[0] = -alt[0]
				}
				loc.Alt = &alt[0]
			}
			t.Location = loc
		}
	}
	return t
}

type tiffEntry struct {
	typ   uint16
	count uint32
	value [4]byte // the value itself, or the offset of it
}

type tiff struct {
	b  []byte
	bo binary.ByteOrder
}

func (x tiff) ifd(off uint32) map[uint16]tiffEntry {
	m := map[uint16]tiffEntry{}
	if int64(off)+2 > int64(len(x.b)) {
		return m
	}
	n := int(x.bo.Uint16(x.b[off:]))
	p := x.b[off+2:]
	for i := 0; i < n && i < exifMaxEntries && len(p) >= 12; i++ {
		var e tiffEntry
		tag := x.bo.Uint16(p)
		e.typ, e.count = x.bo.Uint16(p[2:]), x.bo.Uint32(p[4:])
		copy(e.value[:], p[8:12])
		m[tag] = e
		p = p[12:]
	}
	return m
}

// data returns the bytes of an entry whose values take size bytes each.
func (x tiff) data(e tiffEntry, size int) []byte {
	total := uint64(e.count) * uint64(size)
	if total <= 4 {
		return e.value[:total]
	}
	off := uint64(x.bo.Uint32(e.value[:]))
	if off+total > uint64(len(x.b)) {
		return nil
	}
	return x.b[off : off+total]
}

func (x tiff) long(e tiffEntry) uint32 {
	if e.typ != 4 && e.typ != 13 || e.count != 1 {
		return math.MaxUint32
	}
	return x.bo.Uint32(e.value[:])
}

func (x tiff) ascii(e tiffEntry) string {
	if e.typ != 2 || e.count > 4096 {
		return ""
	}
	return text(x.data(e, 1))
}

// rationals reads n unsigned rationals.
func (x tiff) rationals(e tiffEntry, n int) ([]float64, bool) {
	if e.typ != 5 || int(e.count) < n {
		return nil, false
	}
	b := x.data(e, 8)
	if len(b) < 8*n {
		return nil, false
	}
	v := make([]float64, n)
	for i := range v {
		num, den := x.bo.Uint32(b[8*i:]), x.bo.Uint32(b[8*i+4:])
		if den == 0 {
			return nil, false
		}
		v[i] = float64(num) / float64(den)
	}
	return v, true
}

// degrees reads a GPS angle stored as degrees, minutes and seconds.
func (x tiff) degrees(e tiffEntry) (float64, bool) {
	v, ok := x.rationals(e, 3)
	if !ok || v[1] >= 60 || v[2] >= 60 {
		return 0, false
	}
	return v[0] + v[1]/60 + v[2]/3600, true
}
