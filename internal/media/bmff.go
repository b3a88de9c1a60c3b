package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// fileTags is what a container's own metadata says about a recording, as
// opposed to what its streams say (which ffprobe reports).
type fileTags struct {
	CapturedAt time.Time
	Location   *Location
	Camera     Camera
	Width      int // still images whose pixels ffprobe cannot read (HEIF)
	Height     int
	Damage     string // a structural problem found while walking the file
}

// Limits on how much of an untrusted file the BMFF reader will look at.
const (
	bmffMaxBoxes   = 100000
	bmffMaxDepth   = 12
	bmffMaxPayload = 1 << 20 // metadata boxes are small; bigger ones are skipped
)

// The times in mvhd count seconds from this moment.
var epoch1904 = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)

// readBMFF walks an ISO base media file (MP4, MOV, 3GP, HEIF) and collects
// capture time, place and device from mvhd, udta (©xyz, loci, ©mak, ©mod,
// ©swr, GoPro FIRM), the QuickTime keys/ilst metadata (Apple's and Android's
// mdta keys) and HEIF's ispe. It never fails on a damaged file: it returns
// what it could read and notes the damage.
func readBMFF(r io.ReaderAt, size int64) fileTags {
	w := bmffWalker{r: r, size: size}
	w.walk(0, size, 0, "")
	w.finish()
	return w.tags
}

type bmffWalker struct {
	r     io.ReaderAt
	size  int64
	boxes int
	tags  fileTags

	keys        []string          // QuickTime mdta keys, in order (item i+1 is keys[i])
	items       map[uint32]string // ilst values by key index
	xyz         string
	loci        *Location
	mvhdCreated time.Time

	// HEIF: the item holding the EXIF block, and where items lie.
	exifItem  uint32
	hasExif   bool
	locations map[uint32][]extent
}

// extent is a byte range of a HEIF item.
type extent struct{ off, n int64 }

func (w *bmffWalker) damage(format string, args ...any) {
	if w.tags.Damage == "" {
		w.tags.Damage = fmt.Sprintf(format, args...)
	}
}

func (w *bmffWalker) walk(start, end int64, depth int, parent string) {
	if depth > bmffMaxDepth {
		return
	}
	for off := start; off+8 <= end; {
		w.boxes++
		if w.boxes > bmffMaxBoxes {
			return
		}
		var hdr [16]byte
		if _, err := w.r.ReadAt(hdr[:8], off); err != nil {
			w.damage("cannot read box header at offset %d", off)
			return
		}
		boxSize := int64(binary.BigEndian.Uint32(hdr[:4]))
		typ := string(hdr[4:8])
		hlen := int64(8)
		switch boxSize {
		case 0: // extends to the end of the enclosing box or file
			boxSize = end - off
		case 1:
			if _, err := w.r.ReadAt(hdr[8:16], off+8); err != nil {
				w.damage("cannot read box header at offset %d", off)
				return
			}
			large := binary.BigEndian.Uint64(hdr[8:16])
			if large > math.MaxInt64 {
				w.damage("box %q at offset %d has an impossible size", printable(typ), off)
				return
			}
			boxSize, hlen = int64(large), 16
		}
		if boxSize < hlen {
			w.damage("box %q at offset %d has an impossible size %d", printable(typ), off, boxSize)
			return
		}
		if off+boxSize > end {
			if end == w.size {
				w.damage("file is truncated: the %q box at offset %d needs %d bytes but the file ends after %d", printable(typ), off, boxSize, w.size-off)
			} else {
				w.damage("box %q at offset %d overruns its parent", printable(typ), off)
			}
			boxSize = end - off
		}
		w.box(typ, parent, off+hlen, off+boxSize, depth)
		off += boxSize
	}
}

// containers are the boxes whose children hold the metadata read here.
var containers = map[string]bool{"moov": true, "udta": true, "meta": true, "ilst": true, "iprp": true, "ipco": true}

func (w *bmffWalker) box(typ, parent string, start, end int64, depth int) {
	if containers[typ] {
		if typ == "meta" && w.isFullBox(start, end) {
			start += 4
		}
		if typ == "ilst" && w.items == nil {
			w.items = map[uint32]string{}
		}
		w.walk(start, end, depth+1, typ)
		return
	}
	if parent == "ilst" {
		w.ilstItem(typ, start, end)
		return
	}
	if end-start > bmffMaxPayload {
		return
	}
	switch {
	case typ == "mvhd" && parent == "moov":
		w.mvhd(w.payload(start, end))
	case typ == "keys" && parent == "meta":
		w.keysBox(w.payload(start, end))
	case typ == "iinf" && parent == "meta":
		w.iinf(w.payload(start, end))
	case typ == "iloc" && parent == "meta":
		w.iloc(w.payload(start, end))
	case typ == "ispe" && parent == "ipco":
		p := w.payload(start, end)
		if len(p) >= 12 {
			wd, ht := int(binary.BigEndian.Uint32(p[4:])), int(binary.BigEndian.Uint32(p[8:]))
			if wd*ht > w.tags.Width*w.tags.Height && wd <= 1<<16 && ht <= 1<<16 {
				w.tags.Width, w.tags.Height = wd, ht
			}
		}
	case parent == "udta":
		w.udtaItem(typ, w.payload(start, end))
	}
}

// isFullBox tells the ISO meta box (version and flags, then children) from
// QuickTime's (children at once).
func (w *bmffWalker) isFullBox(start, end int64) bool {
	if end-start < 12 {
		return false
	}
	var b [8]byte
	if _, err := w.r.ReadAt(b[:], start); err != nil {
		return false
	}
	return string(b[4:8]) != "hdlr" && string(b[4:8]) != "keys"
}

func (w *bmffWalker) payload(start, end int64) []byte {
	b := make([]byte, end-start)
	n, _ := w.r.ReadAt(b, start)
	return b[:n]
}

func (w *bmffWalker) mvhd(p []byte) {
	var secs uint64
	switch {
	case len(p) >= 12 && p[0] == 1:
		secs = binary.BigEndian.Uint64(p[4:])
	case len(p) >= 8 && p[0] == 0:
		secs = uint64(binary.BigEndian.Uint32(p[4:]))
	default:
		return
	}
	// Zero means "not set"; values past year 2200 are garbage.
	if secs == 0 || secs > 9_300_000_000 {
		return
	}
	w.mvhdCreated = epoch1904.Add(time.Duration(secs) * time.Second)
}

func (w *bmffWalker) keysBox(p []byte) {
	if len(p) < 8 {
		return
	}
	n := binary.BigEndian.Uint32(p[4:])
	p = p[8:]
	w.keys = w.keys[:0]
	for i := uint32(0); i < n && len(p) >= 8; i++ {
		sz := int(binary.BigEndian.Uint32(p))
		if sz < 8 || sz > len(p) {
			return
		}
		w.keys = append(w.keys, string(p[8:sz]))
		p = p[sz:]
	}
}

// ilstItem reads one QuickTime metadata item: its box type is the 1-based
// index of its key, and it holds a 'data' box.
func (w *bmffWalker) ilstItem(typ string, start, end int64) {
	if end-start > bmffMaxPayload || end-start < 16 {
		return
	}
	p := w.payload(start, end)
	if len(p) < 16 || string(p[4:8]) != "data" {
		return
	}
	sz := int(binary.BigEndian.Uint32(p))
	if sz < 16 || sz > len(p) {
		return
	}
	dataType := binary.BigEndian.Uint32(p[8:]) & 0xffffff
	if dataType != 1 { // UTF-8 text
		return
	}
	w.items[binary.BigEndian.Uint32([]byte(typ))] = text(p[16:sz])
}

func (w *bmffWalker) udtaItem(typ string, p []byte) {
	switch typ {
	case "\xa9xyz":
		w.xyz = qtText(p)
	case "\xa9mak":
		w.tags.Camera.Make = qtText(p)
	case "\xa9mod":
		w.tags.Camera.Model = qtText(p)
	case "\xa9swr":
		w.tags.Camera.Software = qtText(p)
	case "loci":
		w.loci = parseLoci(p)
	case "FIRM": // GoPro: firmware version, e.g. "H19.03.01.30.00"
		if fw := text(p); fw != "" {
			w.tags.Camera.Make = "GoPro"
			w.tags.Camera.Software = fw
		}
	}
}

// iinf finds the item whose type is Exif among a HEIF file's item infos.
func (w *bmffWalker) iinf(p []byte) {
	if len(p) < 6 {
		return
	}
	version := p[0]
	p = p[4:]
	if version == 0 {
		p = p[2:] // a 16-bit entry count
	} else if len(p) >= 4 {
		p = p[4:] // a 32-bit entry count
	}
	for len(p) >= 8 {
		size := int(binary.BigEndian.Uint32(p))
		if size < 8 || size > len(p) {
			return
		}
		if string(p[4:8]) == "infe" && size >= 12 {
			e := p[8:size]
			version := e[0]
			switch {
			case version == 2 && len(e) >= 12 && string(e[8:12]) == "Exif":
				w.exifItem, w.hasExif = uint32(binary.BigEndian.Uint16(e[4:])), true
			case version == 3 && len(e) >= 14 && string(e[10:14]) == "Exif":
				w.exifItem, w.hasExif = binary.BigEndian.Uint32(e[4:]), true
			}
		}
		p = p[size:]
	}
}

// iloc reads where each HEIF item's bytes lie in the file. Only items
// stored in the file itself (construction method 0) are kept.
func (w *bmffWalker) iloc(p []byte) {
	if len(p) < 8 {
		return
	}
	version := p[0]
	offSize, lenSize := int(p[4]>>4), int(p[4]&15)
	baseSize, indexSize := int(p[5]>>4), 0
	if version == 1 || version == 2 {
		indexSize = int(p[5] & 15)
	}
	p = p[6:]
	r := byteReader{p: p}
	var count uint64
	if version < 2 {
		count = r.uint(2)
	} else {
		count = r.uint(4)
	}
	w.locations = map[uint32][]extent{}
	for i := uint64(0); i < count && !r.short && i < 10000; i++ {
		var id uint64
		if version < 2 {
			id = r.uint(2)
		} else {
			id = r.uint(4)
		}
		method := uint64(0)
		if version == 1 || version == 2 {
			method = r.uint(2) & 15
		}
		r.uint(2) // data reference index
		base := r.uint(baseSize)
		n := r.uint(2)
		var exts []extent
		for j := uint64(0); j < n && !r.short && j < 1000; j++ {
			r.uint(indexSize)
			off, length := r.uint(offSize), r.uint(lenSize)
			if base+off <= math.MaxInt64/2 && length <= math.MaxInt64/2 {
				exts = append(exts, extent{int64(base + off), int64(length)})
			}
		}
		if method == 0 && !r.short {
			w.locations[uint32(id)] = exts
		}
	}
}

// exif reads a HEIF file's EXIF item: a 32-bit offset, then a TIFF block.
func (w *bmffWalker) exif() fileTags {
	if !w.hasExif {
		return fileTags{}
	}
	var b []byte
	for _, e := range w.locations[w.exifItem] {
		if e.n <= 0 || e.n > bmffMaxPayload || int64(len(b))+e.n > bmffMaxPayload || e.off+e.n > w.size {
			return fileTags{}
		}
		chunk := make([]byte, e.n)
		if _, err := w.r.ReadAt(chunk, e.off); err != nil {
			return fileTags{}
		}
		b = append(b, chunk...)
	}
	if len(b) < 4 {
		return fileTags{}
	}
	skip := int64(binary.BigEndian.Uint32(b))
	if skip > int64(len(b))-4 {
		return fileTags{}
	}
	return readTIFF(b[4+skip:])
}

// byteReader reads big-endian integers of 0, 2, 4 or 8 bytes, noting when
// the data runs out.
type byteReader struct {
	p     []byte
	short bool
}

func (r *byteReader) uint(n int) uint64 {
	if n == 0 {
		return 0
	}
	if len(r.p) < n || (n != 2 && n != 4 && n != 8) {
		r.short = true
		r.p = nil
		return 0
	}
	var v uint64
	for _, c := range r.p[:n] {
		v = v<<8 | uint64(c)
	}
	r.p = r.p[n:]
	return v
}

func (w *bmffWalker) finish() {
	item := func(key string) string {
		for i, k := range w.keys {
			if k == key {
				return w.items[uint32(i+1)]
			}
		}
		return ""
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&w.tags.Camera.Make, item("com.apple.quicktime.make"))
	set(&w.tags.Camera.Model, item("com.apple.quicktime.model"))
	set(&w.tags.Camera.Software, item("com.apple.quicktime.software"))
	set(&w.tags.Camera.Make, item("com.android.manufacturer"))
	set(&w.tags.Camera.Model, item("com.android.model"))
	set(&w.tags.Camera.Software, item("com.android.version"))

	// A HEIF photo says where and when in its EXIF block.
	ex := w.exif()
	set(&w.tags.Camera.Make, ex.Camera.Make)
	set(&w.tags.Camera.Model, ex.Camera.Model)
	set(&w.tags.Camera.Software, ex.Camera.Software)

	w.tags.CapturedAt = w.mvhdCreated
	if !ex.CapturedAt.IsZero() {
		w.tags.CapturedAt = ex.CapturedAt
	}
	// Apple's creation date carries the zone, so it is exact where mvhd may
	// have been written from a camera's local clock.
	if t, err := parseLooseTime(item("com.apple.quicktime.creationdate")); err == nil {
		w.tags.CapturedAt = t
	}

	for _, s := range []string{item("com.apple.quicktime.location.ISO6709"), w.xyz} {
		if s == "" {
			continue
		}
		if loc, err := ParseISO6709(s); err == nil {
			w.tags.Location = &loc
			return
		}
	}
	w.tags.Location = w.loci
	if ex.Location != nil {
		w.tags.Location = ex.Location
	}
}

// qtText decodes a QuickTime user-data text item: a 16-bit length, a 16-bit
// language code, then the text.
func qtText(p []byte) string {
	if len(p) < 4 {
		return ""
	}
	n := int(binary.BigEndian.Uint16(p))
	p = p[4:]
	if n > len(p) {
		n = len(p)
	}
	return text(p[:n])
}

// parseLoci decodes a 3GPP location box (3GPP TS 26.244): version and
// flags, language, a NUL-terminated name, a role byte, then longitude,
// latitude and altitude as signed 16.16 fixed point.
func parseLoci(p []byte) *Location {
	if len(p) < 6 {
		return nil
	}
	p = p[6:]
	var name int
	if len(p) >= 2 && (p[0] == 0xfe && p[1] == 0xff || p[0] == 0xff && p[1] == 0xfe) {
		// UTF-16 with a BOM, terminated by two NULs.
		name = -1
		for i := 2; i+1 < len(p); i += 2 {
			if p[i] == 0 && p[i+1] == 0 {
				name = i + 2
				break
			}
		}
	} else {
		name = bytes.IndexByte(p, 0) + 1
	}
	if name <= 0 || len(p) < name+13 {
		return nil
	}
	p = p[name+1:] // skip role
	// 16.16 fixed point resolves 1/65536 degree (under 2 m); rounding to
	// five decimals drops the conversion noise without losing a metre.
	fixed := func(b []byte) float64 {
		return math.Round(float64(int32(binary.BigEndian.Uint32(b)))/65536*1e5) / 1e5
	}
	lon, lat, alt := fixed(p[0:]), fixed(p[4:]), fixed(p[8:])
	if math.Abs(lat) > 90 || math.Abs(lon) > 180 {
		return nil
	}
	loc := &Location{Lat: lat, Lon: lon}
	if alt != 0 { // writers without an altitude put zero
		loc.Alt = &alt
	}
	return loc
}

// text turns metadata bytes into a display string: UTF-8 or UTF-16 with a
// BOM, with NULs and other control characters dropped and surrounding space
// trimmed.
func text(b []byte) string {
	var s string
	if len(b) >= 2 && (b[0] == 0xfe && b[1] == 0xff || b[0] == 0xff && b[1] == 0xfe) {
		order := binary.ByteOrder(binary.BigEndian)
		if b[0] == 0xff {
			order = binary.LittleEndian
		}
		u := make([]uint16, 0, len(b)/2)
		for i := 2; i+1 < len(b); i += 2 {
			u = append(u, order.Uint16(b[i:]))
		}
		s = string(utf16.Decode(u))
	} else {
		s = strings.ToValidUTF8(string(b), "\uFFFD")
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

func printable(s string) string { return text([]byte(s)) }

// parseLooseTime reads the date forms found in metadata: RFC 3339 and the
// ISO 8601 variant without a colon in the zone ("2024-06-02T08:09:10-0700").
func parseLooseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.999999999-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("unrecognised time")
}
