package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// The runs below serve redaction (package redact): they decode an
// original to raw frames for Go to read or change, and encode changed
// frames again. Frames are numbered from 0 in the order ffmpeg decodes
// them, and are the displayed picture (rotation applied), so the numbers
// and pixels are those a player shows.

// Frames describes the first video stream for decoding: the displayed
// size and how many frames the container holds.
type Frames struct {
	Width, Height int
	Count         int // packets of the video stream: its frames
}

// CountFrames reads the first video stream's displayed size and counts
// its packets (the whole file is read, nothing decoded).
func (t *Tool) CountFrames(ctx context.Context, in Source) (Frames, error) {
	input, err := in.input()
	if err != nil {
		return Frames{}, err
	}
	// ffprobe takes its input's format with -f and the file as -i.
	argv := append([]string{"-v", "error"}, input...)
	argv = append(argv, "-select_streams", "v:0", "-count_packets", "-show_entries",
		"stream=width,height,nb_read_packets:stream_side_data=rotation", "-of", "json")
	out, _, err := t.run(ctx, t.ffprobe(), argv...)
	if err != nil {
		return Frames{}, err
	}
	var r struct {
		Streams []struct {
			Width    int    `json:"width"`
			Height   int    `json:"height"`
			Packets  string `json:"nb_read_packets"`
			SideData []struct {
				Rotation float64 `json:"rotation"`
			} `json:"side_data_list"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(out, &r); err != nil || len(r.Streams) != 1 {
		return Frames{}, fmt.Errorf("media: no video stream to count")
	}
	s := r.Streams[0]
	n, _ := strconv.Atoi(s.Packets)
	f := Frames{Width: clampDim(s.Width), Height: clampDim(s.Height), Count: n}
	for _, sd := range s.SideData {
		if math.Mod(math.Abs(sd.Rotation), 180) == 90 {
			f.Width, f.Height = f.Height, f.Width
		}
	}
	if f.Width == 0 || f.Height == 0 || n <= 0 {
		return Frames{}, fmt.Errorf("media: the video stream has no frames")
	}
	return f, nil
}

// Decode decodes the first video stream to packed frames of pixfmt
// ("rgb24" or "yuv420p") of size f, every nth frame from frame 0, and
// calls fn with each frame's number and bytes (reused after fn returns).
// An error from fn stops the decoding.
func (t *Tool) Decode(ctx context.Context, in Source, f Frames, pixfmt string, every int, fn func(n int, frame []byte) error) error {
	size, err := frameSize(pixfmt, f)
	if err != nil {
		return err
	}
	every = max(every, 1)
	input, err := in.input()
	if err != nil {
		return err
	}
	argv := append([]string{"-nostdin", "-v", "error", "-threads", "1"}, input...)
	argv = append(argv, "-map", "0:v:0", "-an", "-sn", "-dn", "-fps_mode", "passthrough")
	if every > 1 {
		argv = append(argv, "-vf", fmt.Sprintf("select='not(mod(n\\,%d))'", every))
	}
	argv = append(argv, "-pix_fmt", pixfmt, "-s", fmt.Sprintf("%dx%d", f.Width, f.Height), "-f", "rawvideo", "pipe:1")
	w := &frameWriter{buf: make([]byte, 0, size), size: size, every: every, fn: fn}
	_, err = t.runTo(ctx, w, t.ffmpeg(), argv...)
	if w.err != nil {
		return w.err
	}
	if err == nil && len(w.buf) > 0 {
		err = fmt.Errorf("media: the decoder stopped within a frame")
	}
	return err
}

func frameSize(pixfmt string, f Frames) (int, error) {
	switch pixfmt {
	case "rgb24":
		return 3 * f.Width * f.Height, nil
	case "yuv420p":
		if f.Width%2 != 0 || f.Height%2 != 0 {
			return 0, fmt.Errorf("media: a %dx%d picture has no 4:2:0 form", f.Width, f.Height)
		}
		return f.Width * f.Height * 3 / 2, nil
	}
	return 0, fmt.Errorf("media: pixel format %q", pixfmt)
}

// frameWriter cuts ffmpeg's raw output into frames.
type frameWriter struct {
	buf   []byte
	size  int
	every int
	n     int
	fn    func(int, []byte) error
	err   error
}

func (w *frameWriter) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := min(len(p), w.size-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.size {
			if err := w.fn(w.n*w.every, w.buf); err != nil {
				w.err = err
				return 0, err
			}
			w.n++
			w.buf = w.buf[:0]
		}
	}
	return total, nil
}

// Encoding is how Encode writes its output; every setting that changes
// the bytes is here, pinned, so the same frames and sound give the same
// file on any x86-64 machine with the same ffmpeg build: one thread
// everywhere, x264's instruction set held to SSE2 (asm=15: MMX, MMX2, SSE,
// SSE2, which every x86-64 has), bit-exact flags, no metadata.
const Encoding = "h264 libx264 veryfast crf 20 threads 1 asm=15, aac 128k, mp4 faststart, bitexact"

var encodeArgs = []string{"-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-threads", "1", "-x264-params", "asm=15",
	"-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-map_metadata", "-1", "-map_chapters", "-1",
	"-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart", "-f", "mp4"}

// Encode writes an MP4 from raw yuv420p frames of size f read from
// frames, at fps, with the first audio stream of sound (nil: none)
// through audioFilter (an ffmpeg filter chain, "" for none). It also
// writes to hashOut ffmpeg's streamhash of the raw streams it encoded
// (SHA-256 of the frames and of the filtered PCM), which does not depend
// on the encoder. It returns those hashes.
func (t *Tool) Encode(ctx context.Context, frames io.Reader, f Frames, fps float64, sound *Source, audioFilter, out, hashOut string) ([]string, error) {
	argv := []string{"-nostdin", "-v", "error", "-threads", "1", "-filter_complex_threads", "1",
		"-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", f.Width, f.Height),
		"-r", strconv.FormatFloat(fps, 'f', -1, 64), "-i", "pipe:0"}
	var graph string
	if sound != nil {
		input, err := sound.input()
		if err != nil {
			return nil, err
		}
		argv = append(argv, input...)
		chain := "anull"
		if audioFilter != "" {
			chain = audioFilter
		}
		graph = "[1:a:0]" + chain + ",asplit=2[a][h]"
		argv = append(argv, "-filter_complex", graph)
	}
	argv = append(argv, "-map", "0:v")
	if sound != nil {
		argv = append(argv, "-map", "[a]")
	}
	argv = append(argv, encodeArgs...)
	argv = append(argv, "-y", out, "-map", "0:v")
	if sound != nil {
		argv = append(argv, "-map", "[h]", "-c:a", "pcm_s16le")
	}
	argv = append(argv, "-c:v", "rawvideo", "-fflags", "+bitexact", "-f", "streamhash", "-hash", "sha256", "-y", hashOut)
	_, err := t.runIO(ctx, frames, io.Discard, t.ffmpeg(), argv...)
	if err != nil {
		return nil, err
	}
	return readStreamHash(hashOut)
}

var streamHashLine = regexp.MustCompile(`^\d+,[va],SHA256=[0-9a-f]{64}$`)

func readStreamHash(path string) ([]string, error) {
	b, err := readSmall(path, 4096)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !streamHashLine.MatchString(l) {
			return nil, fmt.Errorf("media: streamhash wrote %q", l)
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("media: streamhash wrote nothing")
	}
	return out, nil
}

// readSmall reads a file the tool wrote, refusing one over max bytes.
func readSmall(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(b)) > max {
		err = fmt.Errorf("media: %s is over %d bytes", path, max)
	}
	return b, err
}

var x264Version = regexp.MustCompile(`x264 - core \d+( r\d+ [0-9a-f]+)?`)

// Versions names the ffmpeg build and the x264 it links, as a redaction
// manifest records them: "5.1.9-0+deb12u1" and "x264 - core 164 r3095 baee400".
func (t *Tool) Versions(ctx context.Context) (ffmpeg, x264 string, err error) {
	out, _, err := t.run(ctx, t.ffmpeg(), "-hide_banner", "-version")
	if err != nil {
		return "", "", err
	}
	first, _, _ := strings.Cut(string(out), "\n")
	fields := strings.Fields(first) // ffmpeg version 5.1.9-0+deb12u1 Copyright ...
	if len(fields) < 3 || fields[0] != "ffmpeg" {
		return "", "", fmt.Errorf("media: ffmpeg -version said %q", first)
	}
	// One black 16x16 frame through x264 without the bit-exact flag: its
	// SEI names the library.
	frame := strings.NewReader(strings.Repeat("\x10", 256) + strings.Repeat("\x80", 128))
	var enc cappedBuffer
	enc.max = 1 << 20
	if _, err := t.runIO(ctx, frame, &enc, t.ffmpeg(), "-nostdin", "-v", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p",
		"-s", "16x16", "-i", "pipe:0", "-frames:v", "1", "-c:v", "libx264", "-f", "h264", "pipe:1"); err != nil {
		return "", "", err
	}
	return fields[2], x264Version.FindString(enc.String()), nil
}

// Pictures decodes the first video stream to grey frames w×h at a steady
// rate per second (frames repeated or dropped to keep it, from the
// stream's start), the form picture hashes are made of, and calls fn with
// each frame's number and bytes (reused after fn returns).
func (t *Tool) Pictures(ctx context.Context, in Source, w, h int, rate float64, fn func(n int, frame []byte) error) error {
	if w <= 0 || h <= 0 || w > 4096 || h > 4096 || rate <= 0 {
		return fmt.Errorf("media: pictures of %dx%d at %g a second", w, h, rate)
	}
	input, err := in.input()
	if err != nil {
		return err
	}
	argv := append([]string{"-nostdin", "-v", "error", "-threads", "1"}, input...)
	argv = append(argv, "-map", "0:v:0", "-an", "-sn", "-dn",
		"-vf", fmt.Sprintf("fps=%g:start_time=0,scale=%d:%d:flags=area,format=gray", rate, w, h), "-f", "rawvideo", "pipe:1")
	fw := &frameWriter{buf: make([]byte, 0, w*h), size: w * h, every: 1, fn: fn}
	_, err = t.runTo(ctx, fw, t.ffmpeg(), argv...)
	if fw.err != nil {
		return fw.err
	}
	return err
}
