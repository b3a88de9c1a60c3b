package media_test

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// want is what a test expects Inspect to read; zero fields are not checked
// unless the test says so.
type want struct {
	kind       media.Kind
	container  string
	duration   float64 // seconds, to 0.1
	video      string  // codec
	width      int
	height     int
	fps        float64
	audio      string // codec
	sampleRate int
	channels   int
	captured   string // RFC 3339, to the second
	lat, lon   float64
	noLocation bool
	make       string
	model      string
	software   string
	damaged    string // a substring of media_error; "" means it must be empty
	unindexed  bool   // no duration in the container: read from the packets
	// durationAbout is a duration known only roughly (a file cut at a
	// byte count), to within 1.5 s.
	durationAbout float64
}

func TestInspect(t *testing.T) {
	tool := &media.Tool{}
	clip := func(name string, opts ...string) func(t *testing.T) string {
		return func(t *testing.T) string { return mediatest.Clip(t, name, "3", opts...) }
	}
	file := func(p string) func(*testing.T) string { return func(*testing.T) string { return p } }
	tests := []struct {
		name string
		make func(t *testing.T) string
		want want
	}{
		{"mp4 with loci location", clip("clip.mp4", "-metadata", "creation_time=2024-05-01T12:34:56Z", "-metadata", "location=+40.7128-074.0060/"),
			want{kind: media.Video, container: "mp4", duration: 3, video: "h264", width: 320, height: 240, fps: 30, audio: "aac", sampleRate: 48000, channels: 1,
				captured: "2024-05-01T12:34:56Z", lat: 40.7128, lon: -74.0060}},
		{"mov with ©xyz like Android", clip("clip.mov", "-metadata", "creation_time=2024-06-02T15:09:10Z", "-metadata", "location=+51.5072-000.1276/", "-metadata", "make=Google", "-metadata", "model=Pixel 8"),
			want{kind: media.Video, container: "mov", duration: 3, video: "h264", captured: "2024-06-02T15:09:10Z", lat: 51.5072, lon: -0.1276, make: "Google", model: "Pixel 8"}},
		{"mov with Apple keys like iPhone", clip("iphone.mov", "-movflags", "use_metadata_tags",
			"-metadata", "com.apple.quicktime.location.ISO6709=+34.0522-118.2437+089.000/",
			"-metadata", "com.apple.quicktime.creationdate=2024-06-02T08:09:10-0700",
			"-metadata", "com.apple.quicktime.make=Apple", "-metadata", "com.apple.quicktime.model=iPhone 15 Pro",
			"-metadata", "com.apple.quicktime.software=17.5"),
			want{kind: media.Video, container: "mov", captured: "2024-06-02T15:09:10Z", lat: 34.0522, lon: -118.2437, make: "Apple", model: "iPhone 15 Pro", software: "17.5"}},
		{"webm vp9 opus", clip("clip.webm", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-c:a", "libopus"),
			want{kind: media.Video, container: "webm", duration: 3, video: "vp9", width: 320, height: 240, audio: "opus", sampleRate: 48000, noLocation: true}},
		{"matroska", clip("clip.mkv", "-metadata", "creation_time=2023-01-02T03:04:05Z"),
			want{kind: media.Video, container: "matroska", video: "h264", captured: "2023-01-02T03:04:05Z"}},
		{"mpeg-ts like a dashcam", clip("clip.ts"), want{kind: media.Video, container: "mpegts", video: "h264", audio: "aac"}},
		{"avi", clip("clip.avi", "-c:v", "mjpeg", "-c:a", "pcm_s16le"), want{kind: media.Video, container: "avi", video: "mjpeg", audio: "pcm_s16le"}},
		{"audio only in mp4", func(t *testing.T) string {
			return mediatest.FFmpeg(t, "voice.mp4", "-f", "lavfi", "-i", "sine=sample_rate=44100", "-t", "2", "-c:a", "aac")
		}, want{kind: media.Audio, container: "mp4", duration: 2, audio: "aac", sampleRate: 44100}},
		{"wav", func(t *testing.T) string {
			return mediatest.FFmpeg(t, "a.wav", "-f", "lavfi", "-i", "sine=sample_rate=8000", "-t", "2")
		}, want{kind: media.Audio, container: "wav", duration: 2, audio: "pcm_s16le", sampleRate: 8000, channels: 1}},
		{"mp3", func(t *testing.T) string {
			return mediatest.FFmpeg(t, "a.mp3", "-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "libmp3lame")
		}, want{kind: media.Audio, container: "mp3", audio: "mp3"}},
		{"m4a", func(t *testing.T) string {
			return mediatest.FFmpeg(t, "a.m4a", "-f", "lavfi", "-i", "sine", "-t", "2", "-c:a", "aac")
		}, want{kind: media.Audio, container: "m4a", audio: "aac"}},
		{"png", func(t *testing.T) string {
			return mediatest.FFmpeg(t, "a.png", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1")
		}, want{kind: media.Image, container: "png", video: "png", width: 64, height: 48}},
		{"mp4 cut short after its moov", func(t *testing.T) string {
			p := mediatest.Clip(t, "fast.mp4", "6", "-movflags", "+faststart")
			fi, _ := os.Stat(p)
			return mediatest.Truncate(t, p, fi.Size()/2)
		}, want{kind: media.Video, container: "mp4", video: "h264", damaged: "file is truncated"}},
		{"mp4 cut short before its moov", func(t *testing.T) string {
			p := mediatest.Clip(t, "slow.mp4", "6")
			fi, _ := os.Stat(p)
			return mediatest.Truncate(t, p, fi.Size()/2)
		}, want{kind: media.Video, container: "mp4", damaged: "moov atom not found"}},

		// What a browser's MediaRecorder writes: WebM with no duration and no
		// cues (ffmpeg's live mode writes the same); whole, and cut off
		// mid-cluster as when a phone is taken while it streams.
		{"webm streamed without duration", clip("live.webm", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1"),
			want{kind: media.Video, container: "webm", duration: 3, video: "vp8", audio: "opus", unindexed: true}},
		{"webm streamed without duration, cut off", func(t *testing.T) string {
			p := mediatest.Clip(t, "live.webm", "6", "-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1")
			fi, _ := os.Stat(p)
			return mediatest.Truncate(t, p, fi.Size()/2+333)
		}, want{kind: media.Video, container: "webm", durationAbout: 3, video: "vp8", unindexed: true, damaged: "ended prematurely"}},

		// Files from real cameras; see testdata/real-world/README.md.
		{"GoPro MAX", file("testdata/real-world/gopro-max-heromode.mp4"),
			want{kind: media.Video, container: "mp4", duration: 10.5, video: "h264", width: 848, height: 480, fps: 29.97, audio: "aac", sampleRate: 48000, channels: 2,
				captured: "2019-11-18T15:45:32Z", lat: 33.1268, lon: -117.3273, make: "GoPro", software: "H19.03.01.30.00"}},
		{"Pentax movie without media data", file("testdata/real-world/pentax-stripped.mov"),
			want{kind: media.Video, container: "mov", duration: 5.0, video: "mjpeg", width: 320, height: 240, captured: "2005-08-11T14:03:54Z", damaged: "cannot decode"}},
		{"iPhone HEIC header", file("testdata/real-world/iphone-stripped.heic"),
			want{kind: media.Image, container: "heif", width: 1596, height: 1064, damaged: "cannot read media"}},
		{"HEIC photo with EXIF, by libheif's encoder", func(t *testing.T) string {
			out := filepath.Join(t.TempDir(), "photo.heic")
			if b, err := exec.Command("heif-enc", "-q", "50", "-o", out, "testdata/real-world/gps.jpg").CombinedOutput(); err != nil {
				t.Fatalf("heif-enc (make test installs libheif-examples): %v\n%s", err, b)
			}
			return out
		}, want{kind: media.Image, container: "heif", width: 120, height: 80, captured: "2002-07-13T15:58:28Z", lat: 54.9897, lon: -1.9142,
			make: "FUJIFILM", model: "FinePixS1Pro", damaged: "cannot read media"}},
		{"JPEG with EXIF GPS", file("testdata/real-world/gps.jpg"),
			want{kind: media.Image, container: "jpeg", video: "mjpeg", width: 120, height: 80, captured: "2002-07-13T15:58:28Z", lat: 54.9897, lon: -1.9142, make: "FUJIFILM", model: "FinePixS1Pro"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := tc.make(t)
			head := make([]byte, media.SniffLen)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			n, _ := f.Read(head)
			f.Close()
			format, ok := media.Sniff(head[:n])
			if !ok {
				t.Fatalf("Sniff refused %s", path)
			}
			info, err := tool.Inspect(t.Context(), path, format)
			if err != nil {
				t.Fatal(err)
			}
			check(t, info, tc.want)
		})
	}
}

func check(t *testing.T, info media.Info, w want) {
	t.Helper()
	if info.MediaType != w.kind || info.Container != w.container {
		t.Errorf("kind, container = %s, %s; want %s, %s", info.MediaType, info.Container, w.kind, w.container)
	}
	if w.duration > 0 && (info.DurationS == nil || math.Abs(*info.DurationS-w.duration) > 0.1) {
		t.Errorf("duration = %v, want %v", ptr(info.DurationS), w.duration)
	}
	if w.durationAbout > 0 && (info.DurationS == nil || math.Abs(*info.DurationS-w.durationAbout) > 1.5) {
		t.Errorf("duration = %v, want about %v", ptr(info.DurationS), w.durationAbout)
	}
	if info.Unindexed != w.unindexed {
		t.Errorf("unindexed = %v, want %v", info.Unindexed, w.unindexed)
	}
	if w.kind == media.Image && info.DurationS != nil {
		t.Errorf("a still image has duration %v", *info.DurationS)
	}
	if w.video != "" || w.width != 0 {
		v := info.Video
		switch {
		case v == nil:
			t.Errorf("no video info, want %s %dx%d", w.video, w.width, w.height)
		case w.video != "" && v.Codec != w.video:
			t.Errorf("video codec = %q, want %q", v.Codec, w.video)
		case w.width != 0 && (v.Width != w.width || v.Height != w.height):
			t.Errorf("video size = %dx%d, want %dx%d", v.Width, v.Height, w.width, w.height)
		case w.fps != 0 && math.Abs(v.FPS-w.fps) > 0.01:
			t.Errorf("fps = %v, want %v", v.FPS, w.fps)
		}
	}
	if w.audio != "" {
		a := info.Audio
		switch {
		case a == nil:
			t.Errorf("no audio info, want %s", w.audio)
		case a.Codec != w.audio:
			t.Errorf("audio codec = %q, want %q", a.Codec, w.audio)
		case w.sampleRate != 0 && a.SampleRate != w.sampleRate:
			t.Errorf("sample rate = %d, want %d", a.SampleRate, w.sampleRate)
		case w.channels != 0 && a.Channels != w.channels:
			t.Errorf("channels = %d, want %d", a.Channels, w.channels)
		}
	}
	if w.captured != "" {
		want, _ := time.Parse(time.RFC3339, w.captured)
		if info.CapturedAt == nil || !info.CapturedAt.Truncate(time.Second).Equal(want) {
			t.Errorf("captured_at = %v, want %s", ptr(info.CapturedAt), w.captured)
		} else if info.CapturedAt.Location() != time.UTC {
			t.Errorf("captured_at is in %v, want UTC", info.CapturedAt.Location())
		}
	}
	if w.lat != 0 || w.lon != 0 {
		l := info.Location
		if l == nil || math.Abs(l.Lat-w.lat) >= 0.00005 || math.Abs(l.Lon-w.lon) >= 0.00005 {
			t.Errorf("location = %+v, want %.4f,%.4f (to 4 decimals)", ptr(l), w.lat, w.lon)
		}
	}
	if w.noLocation && info.Location != nil {
		t.Errorf("location = %+v, want none", *info.Location)
	}
	if w.make != "" || w.model != "" || w.software != "" {
		c := ptr(info.Camera)
		if c.Make != w.make || w.model != "" && c.Model != w.model || w.software != "" && c.Software != w.software {
			t.Errorf("camera = %+v, want make %q model %q software %q", c, w.make, w.model, w.software)
		}
	}
	if w.damaged == "" && info.Error != "" {
		t.Errorf("media_error = %q, want none", info.Error)
	}
	if w.damaged != "" && !strings.Contains(info.Error, w.damaged) {
		t.Errorf("media_error = %q, want it to mention %q", info.Error, w.damaged)
	}
}

func ptr[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
