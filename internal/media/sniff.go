package media

import (
	"bytes"
	"encoding/binary"
)

// SniffLen is how many leading bytes Sniff needs to decide; it looks at no
// more. A shorter prefix is enough when the file itself is shorter.
const SniffLen = 4096

// Sniff decides from the first bytes of a file whether it is video, audio or
// a still image, and in which container. It reports false for anything else
// (documents, archives, programs, text), which Sightline refuses.
func Sniff(head []byte) (Format, bool) {
	if len(head) > SniffLen {
		head = head[:SniffLen]
	}
	if isPlaylist(head) {
		return Format{}, false
	}
	for _, s := range sniffers {
		if f, ok := s(head); ok {
			return f, true
		}
	}
	return Format{}, false
}

var sniffers = []func([]byte) (Format, bool){
	sniffBMFF,
	sniffQuickTime,
	sniffEBML,
	sniffRIFF,
	sniffMagic,
	sniffID3,
	sniffMPEGTS,
	sniffOgg,
	sniffBMP,
	sniffMPEGAudio,
}

type magic struct {
	prefix string
	format Format
}

var magics = []magic{
	{"\xff\xd8\xff", Format{Image, "jpeg", "image/jpeg"}},
	{"\x89PNG\r\n\x1a\n", Format{Image, "png", "image/png"}},
	{"GIF87a", Format{Image, "gif", "image/gif"}},
	{"GIF89a", Format{Image, "gif", "image/gif"}},
	{"II*\x00", Format{Image, "tiff", "image/tiff"}},
	{"MM\x00*", Format{Image, "tiff", "image/tiff"}},
	{"\x00\x00\x00\x0cJXL \r\n\x87\n", Format{Image, "jxl", "image/jxl"}},
	{"\xff\x0a", Format{Image, "jxl", "image/jxl"}},
	{"FLV\x01", Format{Video, "flv", "video/x-flv"}},
	{"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c", Format{Video, "asf", "video/x-ms-asf"}},
	{"\x06\x0e\x2b\x34\x02\x05\x01\x01\x0d\x01\x02\x01\x01\x02", Format{Video, "mxf", "application/mxf"}},
	{"\x00\x00\x01\xba", Format{Video, "mpeg", "video/mpeg"}},
	{"fLaC", Format{Audio, "flac", "audio/flac"}},
	{"#!AMR", Format{Audio, "amr", "audio/amr"}},
	{"caff", Format{Audio, "caf", "audio/x-caf"}},
}

// playlistMarks are the texts that make ffmpeg read a file as a list of
// other files (HLS playlists, concat scripts). Found anywhere in the
// first bytes, behind whatever header, the file is refused: footage does
// not hold them, and a tool that read the list would open files on the
// server. (Every tool run also pins its demuxer; this refuses them at the
// door as well.)
var playlistMarks = [][]byte{[]byte("#EXTM3U"), []byte("#EXT-X-"), []byte("#EXTINF"), []byte("ffconcat version")}

func isPlaylist(head []byte) bool {
	for _, m := range playlistMarks {
		if bytes.Contains(head, m) {
			return true
		}
	}
	return false
}

// sniffID3 recognises MP3 (and ADTS AAC) behind an ID3v2 tag. Where the
// tag ends within the prefix, an audio frame must follow it (after any
// padding): a tag in front of anything else is not audio.
func sniffID3(b []byte) (Format, bool) {
	if len(b) < 10 || string(b[:3]) != "ID3" || b[3] == 0xff || b[4] == 0xff || b[6]|b[7]|b[8]|b[9] >= 0x80 {
		return Format{}, false
	}
	size := 10 + (int(b[6])<<21 | int(b[7])<<14 | int(b[8])<<7 | int(b[9]))
	if b[5]&0x10 != 0 { // a footer follows the tag
		size += 10
	}
	if size >= len(b) {
		return Format{Audio, "mp3", "audio/mpeg"}, true
	}
	rest := bytes.TrimLeft(b[size:], "\x00")
	if len(rest) == 0 {
		return Format{Audio, "mp3", "audio/mpeg"}, true
	}
	if bytes.HasPrefix(rest, []byte("ID3")) {
		return sniffID3(rest)
	}
	if _, f, ok := mpegAudioFrame(rest); ok {
		return f, true
	}
	return Format{}, false
}

func sniffMagic(b []byte) (Format, bool) {
	for _, m := range magics {
		if bytes.HasPrefix(b, []byte(m.prefix)) {
			return m.format, true
		}
	}
	if len(b) >= 12 && string(b[:4]) == "FORM" && (string(b[8:12]) == "AIFF" || string(b[8:12]) == "AIFC") {
		return Format{Audio, "aiff", "audio/aiff"}, true
	}
	return Format{}, false
}

// sniffBMFF recognises ISO base media files (MP4, 3GP, HEIF, AVIF, modern
// QuickTime) by their ftyp box and its brands.
func sniffBMFF(b []byte) (Format, bool) {
	if len(b) < 12 || string(b[4:8]) != "ftyp" {
		return Format{}, false
	}
	size := int(binary.BigEndian.Uint32(b))
	if size < 12 || size > 4096 {
		return Format{}, false
	}
	brands := []string{string(b[8:12])}
	for i := 16; i+4 <= size && i+4 <= len(b); i += 4 {
		brands = append(brands, string(b[i:i+4]))
	}
	has := func(want ...string) bool {
		for _, w := range want {
			for _, br := range brands {
				if br == w {
					return true
				}
			}
		}
		return false
	}
	major := brands[0]
	switch {
	case major == "qt  ":
		return Format{Video, "mov", "video/quicktime"}, true
	case major == "M4A " || major == "M4B " || major == "M4P ":
		return Format{Audio, "m4a", "audio/mp4"}, true
	case major == "avif" || major == "avis":
		return Format{Image, "avif", "image/avif"}, true
	case has("heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1") && !has("isom", "mp41", "mp42", "qt  "):
		return Format{Image, "heif", "image/heif"}, true
	case major[:3] == "3gp" || major[:3] == "3ge" || major[:3] == "3gs":
		return Format{Video, "3gp", "video/3gpp"}, true
	case major[:3] == "3g2":
		return Format{Video, "3gp", "video/3gpp2"}, true
	case has("qt  ") && !has("isom", "mp41", "mp42"):
		return Format{Video, "mov", "video/quicktime"}, true
	}
	return Format{Video, "mp4", "video/mp4"}, true
}

// sniffQuickTime recognises classic QuickTime movies, which start with an
// atom rather than an ftyp box.
func sniffQuickTime(b []byte) (Format, bool) {
	atom := func(at int) (string, int, bool) {
		if at+8 > len(b) {
			return "", 0, false
		}
		size := int(binary.BigEndian.Uint32(b[at:]))
		typ := string(b[at+4 : at+8])
		return typ, size, size == 1 || size >= 8 // 1: a 64-bit size follows
	}
	typ, size, ok := atom(0)
	if !ok {
		return Format{}, false
	}
	switch typ {
	case "moov", "mdat", "wide", "pnot":
		return Format{Video, "mov", "video/quicktime"}, true
	case "free", "skip":
		if next, _, ok := atom(size); ok && size > 1 && (next == "moov" || next == "mdat" || next == "wide") {
			return Format{Video, "mov", "video/quicktime"}, true
		}
	}
	return Format{}, false
}

// sniffEBML recognises Matroska and WebM by the EBML header's DocType.
func sniffEBML(b []byte) (Format, bool) {
	if !bytes.HasPrefix(b, []byte("\x1a\x45\xdf\xa3")) {
		return Format{}, false
	}
	// The DocType element (ID 0x4282) lies within the first few dozen bytes.
	head := b[:min(len(b), 64)]
	if i := bytes.Index(head, []byte("\x42\x82")); i >= 0 && bytes.Contains(head[i:], []byte("webm")) {
		return Format{Video, "webm", "video/webm"}, true
	}
	return Format{Video, "matroska", "video/x-matroska"}, true
}

func sniffRIFF(b []byte) (Format, bool) {
	if len(b) < 12 || (string(b[:4]) != "RIFF" && string(b[:4]) != "RF64") {
		return Format{}, false
	}
	switch string(b[8:12]) {
	case "AVI ":
		return Format{Video, "avi", "video/x-msvideo"}, true
	case "WAVE":
		return Format{Audio, "wav", "audio/wav"}, true
	case "WEBP":
		return Format{Image, "webp", "image/webp"}, true
	}
	return Format{}, false
}

// sniffMPEGTS recognises MPEG transport streams (most dashcams and many
// CCTV exports) by the sync byte every 188 bytes, or every 192 bytes with a
// 4-byte timestamp in front (M2TS, AVCHD).
func sniffMPEGTS(b []byte) (Format, bool) {
	for _, p := range []struct{ first, stride int }{{0, 188}, {4, 192}} {
		n := 0
		for at := p.first; at < len(b) && n < 8; at += p.stride {
			if b[at] != 0x47 {
				n = -1
				break
			}
			n++
		}
		if n >= 3 {
			return Format{Video, "mpegts", "video/mp2t"}, true
		}
	}
	return Format{}, false
}

func sniffOgg(b []byte) (Format, bool) {
	if !bytes.HasPrefix(b, []byte("OggS")) {
		return Format{}, false
	}
	head := b[:min(len(b), 128)]
	if bytes.Contains(head, []byte("theora")) {
		return Format{Video, "ogg", "video/ogg"}, true
	}
	if bytes.Contains(head, []byte("OpusHead")) {
		return Format{Audio, "ogg", "audio/ogg"}, true
	}
	return Format{Audio, "ogg", "audio/ogg"}, true
}

func sniffBMP(b []byte) (Format, bool) {
	if len(b) < 18 || string(b[:2]) != "BM" || binary.LittleEndian.Uint32(b[6:]) != 0 {
		return Format{}, false
	}
	switch binary.LittleEndian.Uint32(b[14:]) {
	case 12, 40, 52, 56, 64, 108, 124:
		return Format{Image, "bmp", "image/bmp"}, true
	}
	return Format{}, false
}

// sniffMPEGAudio recognises MP3 and ADTS AAC streams without an ID3 tag. A
// frame sync alone is two bytes of evidence, so a second frame must follow
// where the first one says it ends, when the prefix reaches that far.
func sniffMPEGAudio(b []byte) (Format, bool) {
	n, f, ok := mpegAudioFrame(b)
	if !ok {
		return Format{}, false
	}
	if n < len(b) {
		if _, g, ok := mpegAudioFrame(b[n:]); !ok || g != f {
			return Format{}, false
		}
	}
	return f, true
}

// mpegAudioFrame parses one MPEG audio or ADTS frame header and returns the
// frame's length.
func mpegAudioFrame(b []byte) (int, Format, bool) {
	if len(b) < 7 || b[0] != 0xff || b[1]&0xe0 != 0xe0 {
		return 0, Format{}, false
	}
	version := (b[1] >> 3) & 3 // 0: MPEG 2.5, 1: reserved, 2: MPEG 2, 3: MPEG 1
	layer := (b[1] >> 1) & 3   // 0: reserved (ADTS), 1: III, 2: II, 3: I
	if layer == 0 {
		if b[1]&0xf6 != 0xf0 { // ADTS: 12-bit sync, layer 00
			return 0, Format{}, false
		}
		if (b[2]>>2)&0xf > 12 { // sampling frequency index
			return 0, Format{}, false
		}
		n := int(b[3]&3)<<11 | int(b[4])<<3 | int(b[5])>>5
		if n < 7 {
			return 0, Format{}, false
		}
		return n, Format{Audio, "aac", "audio/aac"}, true
	}
	if version == 1 {
		return 0, Format{}, false
	}
	bi, si, pad := int(b[2]>>4), int(b[2]>>2)&3, int(b[2]>>1)&1
	if bi == 0 || bi == 15 || si == 3 {
		return 0, Format{}, false
	}
	rates := [4][3]int{{11025, 12000, 8000}, {}, {22050, 24000, 16000}, {44100, 48000, 32000}}
	rate := rates[version][si]
	var kbps int
	switch {
	case version == 3 && layer == 3:
		kbps = []int{0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448}[bi]
	case version == 3 && layer == 2:
		kbps = []int{0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384}[bi]
	case version == 3:
		kbps = []int{0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320}[bi]
	case layer == 3:
		kbps = []int{0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256}[bi]
	default:
		kbps = []int{0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160}[bi]
	}
	var n int
	switch {
	case layer == 3:
		n = (12*kbps*1000/rate + pad) * 4
	case layer == 1 && version != 3:
		n = 72*kbps*1000/rate + pad
	default:
		n = 144*kbps*1000/rate + pad
	}
	return n, Format{Audio, "mp3", "audio/mpeg"}, true
}
