package media

import (
	"context"
	"fmt"
	"slices"
	"strconv"
)

// The derivations below each write one new file (out) from an original
// (in); the original is only read. Each runs ffmpeg under the Tool's time
// and memory limits, reading nothing but the local file, with its
// demuxer pinned to the container it was accepted as.

// ffmpegTo runs ffmpeg on in with args writing out.
func (t *Tool) ffmpegTo(ctx context.Context, in Source, out string, args ...string) error {
	input, err := in.input()
	if err != nil {
		return err
	}
	argv := append(append([]string{"-nostdin", "-v", "error"}, input...), args...)
	argv = append(argv, "-y", out)
	_, _, err = t.run(ctx, t.ffmpeg(), argv...)
	return err
}

// Poster writes a JPEG of one frame, taken a second in (or from the start
// of a shorter clip), at most 1280 pixels wide.
func (t *Tool) Poster(ctx context.Context, in Source, out string, durationS float64) error {
	at := min(1, durationS/2)
	return t.ffmpegTo(ctx, in, out, "-ss", strconv.FormatFloat(max(at, 0), 'f', 3, 64),
		"-map", "0:v:0", "-frames:v", "1", "-vf", "scale='min(1280,iw)':-2", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg")
}

// Thumbnails writes one JPEG strip of n frames spread evenly over the
// clip, each 160 pixels wide, side by side.
func (t *Tool) Thumbnails(ctx context.Context, in Source, out string, durationS float64, n int) error {
	if durationS <= 0 || n <= 0 {
		return fmt.Errorf("media: thumbnails need a duration")
	}
	rate := float64(n) / durationS
	return t.ffmpegTo(ctx, in, out, "-map", "0:v:0",
		"-vf", fmt.Sprintf("fps=%.6f,scale=160:-2,tile=%dx1", rate, n), "-frames:v", "1", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg")
}

// Audio writes the first audio stream as mono 32-bit float PCM at rate Hz
// (raw, little-endian), the form sound alignment reads, on the container's
// clock: sample i is at i/rate seconds of the file's own timeline, the one
// players show, so a track that starts late (or whose codec priming made
// the muxer shift the timeline by a few milliseconds, as Opus in WebM and
// AAC in Matroska do) is padded with silence at the start.
func (t *Tool) Audio(ctx context.Context, in Source, out string, rate int) error {
	return t.ffmpegTo(ctx, in, out, "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", strconv.Itoa(rate),
		"-af", "aresample=async=1:first_pts=0", "-c:a", "pcm_f32le", "-f", "f32le")
}

// ReviewCopy writes an H.264/AAC MP4 that every browser plays, at most
// 1280 pixels wide, with the original's timing (frames are neither dropped
// nor duplicated, so a moment has the same time in both).
func (t *Tool) ReviewCopy(ctx context.Context, in Source, out string) error {
	return t.ffmpegTo(ctx, in, out, "-map", "0:v:0", "-map", "0:a:0?", "-fps_mode", "passthrough",
		"-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p", "-vf", "scale='min(1280,iw)':-2",
		"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-f", "mp4")
}

// The codecs and containers browsers play (Chromium, Firefox and Safari
// all do, for these). Matroska is not among them: Chromium plays WebM, a
// subset, but not every .mkv a camera writes.
var (
	browserContainers = []string{"mp4", "mov", "m4a", "webm", "ogg", "mp3", "wav", "aac", "flac"}
	browserVideo      = []string{"h264", "vp8", "vp9", "av1"}
	browserAudio      = []string{"aac", "mp3", "opus", "vorbis", "flac", "pcm_s16le", "pcm_f32le"}
)

// BrowserPlays reports whether a browser plays the file as it is; if not,
// reviewers need a review copy.
func BrowserPlays(info Info) bool {
	if !slices.Contains(browserContainers, info.Container) {
		return false
	}
	if info.Video != nil && !slices.Contains(browserVideo, info.Video.Codec) {
		return false
	}
	return info.Audio == nil || slices.Contains(browserAudio, info.Audio.Codec)
}
