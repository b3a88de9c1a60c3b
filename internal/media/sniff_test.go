package media_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/media"
)

func TestSniff(t *testing.T) {
	ts := bytes.Repeat(append([]byte{0x47}, make([]byte, 187)...), 4)
	m2ts := bytes.Repeat(append([]byte{0, 0, 0, 0, 0x47}, make([]byte, 187)...), 4)
	mp3 := bytes.Repeat(append([]byte{0xff, 0xfb, 0x90, 0x64}, make([]byte, 413)...), 3) // 128 kb/s, 44.1 kHz: 417 bytes
	lone := append([]byte{0xff, 0xfb, 0x90, 0x64}, bytes.Repeat([]byte{1}, 500)...)      // no second frame where the first ends
	adts := bytes.Repeat(append([]byte{0xff, 0xf1, 0x50, 0x80, 0x02, 0x1f, 0xfc}, make([]byte, 9)...), 3)
	tests := []struct {
		name      string
		head      []byte
		container string // "" means refused
	}{
		{"mp4 isom", ftyp("isom", "isom", "iso2", "avc1", "mp41"), "mp4"},
		{"quicktime ftyp", ftyp("qt  ", "qt  "), "mov"},
		{"quicktime without ftyp", append([]byte{0, 0, 0, 8}, "wide\x00\x00\x01\x00mdat"...), "mov"},
		{"3gp", ftyp("3gp4", "isom", "3gp4"), "3gp"},
		{"m4a", ftyp("M4A ", "M4A ", "mp42"), "m4a"},
		{"heic", ftyp("mif1", "mif1", "heic"), "heif"},
		{"avif", ftyp("avif", "avif", "mif1"), "avif"},
		{"webm", []byte("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\xf2\x81\x04\x42\xf3\x81\x08\x42\x82\x84webm"), "webm"},
		{"matroska", []byte("\x1a\x45\xdf\xa3\xa3\x42\x86\x81\x01\x42\x82\x88matroska"), "matroska"},
		{"avi", []byte("RIFF\x00\x00\x00\x00AVI LIST"), "avi"},
		{"wav", []byte("RIFF\x24\x00\x00\x00WAVEfmt "), "wav"},
		{"webp", []byte("RIFF\x24\x00\x00\x00WEBPVP8 "), "webp"},
		{"mpeg-ts", ts, "mpegts"},
		{"m2ts", m2ts, "mpegts"},
		{"mpeg-ps", []byte("\x00\x00\x01\xba\x44\x00\x04\x00"), "mpeg"},
		{"flv", []byte("FLV\x01\x05"), "flv"},
		{"mp3 with id3", []byte("ID3\x04\x00\x00\x00\x00\x00\x00"), "mp3"},
		{"mp3 frames", mp3, "mp3"},
		{"adts aac", adts, "aac"},
		{"flac", []byte("fLaC\x00\x00\x00\x22"), "flac"},
		{"ogg opus", []byte("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x13OpusHead"), "ogg"},
		{"jpeg", []byte("\xff\xd8\xff\xe0\x00\x10JFIF"), "jpeg"},
		{"png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "png"},
		{"gif", []byte("GIF89a"), "gif"},
		{"tiff", []byte("II*\x00\x08\x00\x00\x00"), "tiff"},
		{"bmp", append([]byte("BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00"), 40, 0, 0, 0), "bmp"},

		{"empty", nil, ""},
		{"text", []byte("hello, this is not a video"), ""},
		{"html", []byte("<!DOCTYPE html><html>"), ""},
		{"pdf", []byte("%PDF-1.7\n"), ""},
		{"zip", []byte("PK\x03\x04\x14\x00"), ""},
		{"elf", []byte("\x7fELF\x02\x01\x01"), ""},
		{"shell script", []byte("#!/bin/sh\nrm -rf /\n"), ""},
		{"windows program", []byte("MZ\x90\x00\x03\x00"), ""},
		{"lone frame sync", lone, ""},
		{"one ts sync byte", append([]byte{0x47}, make([]byte, 200)...), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, ok := media.Sniff(tc.head)
			if tc.container == "" {
				if ok {
					t.Fatalf("Sniff accepted %q as %+v", trunc(tc.head), f)
				}
				return
			}
			if !ok || f.Container != tc.container {
				t.Fatalf("Sniff = %+v, %v; want container %s", f, ok, tc.container)
			}
		})
	}
}

func ftyp(major string, compat ...string) []byte {
	b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
	b = append(b, "ftyp"+major+"\x00\x00\x02\x00"...)
	return append(b, strings.Join(compat, "")...)
}

func trunc(b []byte) []byte { return b[:min(len(b), 16)] }

func TestParseISO6709(t *testing.T) {
	tests := []struct {
		in       string
		lat, lon float64
		alt      float64
		hasAlt   bool
		bad      bool
	}{
		{in: "+40.7128-074.0060/", lat: 40.7128, lon: -74.0060},
		{in: "+34.0522-118.2437+089.000/", lat: 34.0522, lon: -118.2437, alt: 89, hasAlt: true},
		{in: "-33.8688+151.2093", lat: -33.8688, lon: 151.2093},
		{in: "+4042.768-07400.360/", lat: 40.7128, lon: -74.0060},
		{in: "+404246.08-0740021.6/", lat: 40.712800, lon: -74.006},
		{in: "+40.7128-074.0060CRSWGS_84/", lat: 40.7128, lon: -74.0060},
		{in: "", bad: true},
		{in: "40.7128-074.0060/", bad: true},
		{in: "+91.0000+000.0000/", bad: true},
		{in: "+40.7128-181.0000/", bad: true},
		{in: "+40.7128/", bad: true},
		{in: "+4.7128-074.0060/", bad: true},
		{in: "+4060.000-07400.000/", bad: true},
		{in: "+40.71a8-074.0060/", bad: true},
		{in: "+40.7128-074.0060+1-2/", bad: true},
	}
	for _, tc := range tests {
		loc, err := media.ParseISO6709(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseISO6709(%q) = %+v, want an error", tc.in, loc)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseISO6709(%q): %v", tc.in, err)
			continue
		}
		if d := abs(loc.Lat-tc.lat) + abs(loc.Lon-tc.lon); d > 1e-4 {
			t.Errorf("ParseISO6709(%q) = %v,%v; want %v,%v", tc.in, loc.Lat, loc.Lon, tc.lat, tc.lon)
		}
		if (loc.Alt != nil) != tc.hasAlt || tc.hasAlt && *loc.Alt != tc.alt {
			t.Errorf("ParseISO6709(%q) altitude = %v, want %v (present: %v)", tc.in, loc.Alt, tc.alt, tc.hasAlt)
		}
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
