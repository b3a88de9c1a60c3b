package media_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sightline/sightline/internal/media"
	"github.com/sightline/sightline/internal/media/mediatest"
)

// id3 is an ID3v2.4 tag header announcing size bytes of tag after it.
func id3(size int) []byte {
	return []byte{'I', 'D', '3', 4, 0, 0, byte(size >> 21 & 0x7f), byte(size >> 14 & 0x7f), byte(size >> 7 & 0x7f), byte(size & 0x7f)}
}

// hlsPlaylist lists files on the server as the segments of a stream.
func hlsPlaylist(segments ...string) []byte {
	var b bytes.Buffer
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n")
	for _, s := range segments {
		fmt.Fprintf(&b, "#EXTINF:2.0,\nfile:%s\n", s)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return b.Bytes()
}

// A playlist or a concat list is refused at the door, whatever header is
// put in front of it.
func TestPlaylistsAreNotMedia(t *testing.T) {
	list := hlsPlaylist("/srv/other/secret.ts")
	concat := []byte("ffconcat version 1.0\nfile '/srv/other/secret.mp4'\n")
	for name, b := range map[string][]byte{
		"bare playlist":                 list,
		"playlist behind an ID3 tag":    append(id3(0), list...),
		"playlist behind a padded tag":  append(append(id3(200), make([]byte, 200)...), list...),
		"concat list behind an ID3 tag": append(id3(0), concat...),
		"playlist behind a RIFF header": append([]byte("RIFF\x00\x00\x00\x00AVI LIST"), list...),
		"text behind an ID3 tag":        append(id3(0), []byte("hello, this is not audio")...),
	} {
		if f, ok := media.Sniff(b); ok {
			t.Errorf("%s: accepted as %+v", name, f)
		}
	}
}

// No ffprobe or ffmpeg run opens any file but the one it is given (and
// the one it writes), even for an upload built to make it read others: a
// large ID3 tag that hides a playlist of files on the server from the
// door's first bytes. Every run is traced with strace(1).
func TestToolsOpenOnlyTheirInput(t *testing.T) {
	if _, err := exec.LookPath("strace"); err != nil {
		t.Fatal("strace is missing: `make test` installs it (scripts/deps.sh test)")
	}
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.ts")
	if err := os.Rename(mediatest.Clip(t, "secret.ts", "4"), secret); err != nil {
		t.Fatal(err)
	}
	// A tag larger than the sniffed prefix, so that the door sees only
	// the tag; then the playlist.
	pad := 8000
	attack := append(append(id3(pad), make([]byte, pad)...), hlsPlaylist(secret, secret)...)
	dir := t.TempDir()
	in := filepath.Join(dir, "upload.bin")
	if err := os.WriteFile(in, attack, 0o600); err != nil {
		t.Fatal(err)
	}
	format, ok := media.Sniff(attack[:media.SniffLen])
	if !ok || format.Container != "mp3" {
		t.Fatalf("the door saw %+v, %v; want an ID3 tag, taken as mp3", format, ok)
	}

	traces := t.TempDir()
	tool := &media.Tool{FFprobe: traced(t, traces, "ffprobe"), FFmpeg: traced(t, traces, "ffmpeg")}
	info, err := tool.Inspect(t.Context(), in, format)
	if err != nil {
		t.Fatal(err)
	}
	if info.Video != nil || info.DurationS != nil && *info.DurationS > 1 {
		t.Errorf("the upload was read as %+v: the playlist's segments were played", info)
	}
	src := media.Source{Path: in, Container: format.Container}
	for name, derive := range map[string]func(out string) error{
		"poster":      func(out string) error { return tool.Poster(t.Context(), src, out, 4) },
		"thumbnails":  func(out string) error { return tool.Thumbnails(t.Context(), src, out, 4, 4) },
		"audio":       func(out string) error { return tool.Audio(t.Context(), src, out, 8000) },
		"review copy": func(out string) error { return tool.ReviewCopy(t.Context(), src, out) },
	} {
		out := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := derive(out); err == nil {
			if fi, err := os.Stat(out); err == nil && fi.Size() > 1000 {
				t.Errorf("%s: made %d bytes from a playlist", name, fi.Size())
			}
		}
	}

	// Every file any run opened, outside the system's own.
	logs, _ := filepath.Glob(filepath.Join(traces, "*.trace"))
	if len(logs) < 6 {
		t.Fatalf("%d traced runs, want at least 6", len(logs))
	}
	opened := regexp.MustCompile(`open(?:at)?\((?:AT_FDCWD, )?"([^"]+)"`)
	system := regexp.MustCompile(`^/(usr|lib|lib64|etc|proc|sys|dev|run)/`)
	for _, log := range logs {
		b, err := os.ReadFile(log)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range opened.FindAllStringSubmatch(string(b), -1) {
			p := m[1]
			if system.MatchString(p) || p == in || strings.HasPrefix(p, dir+"/") {
				continue
			}
			t.Errorf("%s opened %s", filepath.Base(log), p)
		}
		if strings.Contains(string(b), secretDir) {
			t.Errorf("%s names the folder of the listed file", filepath.Base(log))
		}
	}
}

// traced writes a script that runs tool under strace, each run's trace
// in its own file in dir, and returns its path.
func traced(t *testing.T, dir, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(t.TempDir(), tool)
	body := fmt.Sprintf("#!/bin/sh\nexec strace -f -qq -e trace=open,openat,openat2 -o %q/%s.$$.trace %q \"$@\"\n", dir, tool, path)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// ffprobe prints only the tags Sightline reads: a file with a huge
// comment makes a small report, and the file is still read.
func TestHugeTagsStayOutOfTheReport(t *testing.T) {
	comment := strings.Repeat("x", 8<<20)
	// ffmpeg takes metadata from a file, not a 8 MiB argument.
	meta := filepath.Join(t.TempDir(), "meta.txt")
	if err := os.WriteFile(meta, []byte(";FFMETADATA1\ncomment="+comment+"\ntitle="+comment+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clip := mediatest.FFmpeg(t, "tagged.mp4", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-f", "ffmetadata", "-i", meta,
		"-map_metadata", "1", "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
	out, err := exec.Command("ffprobe", "-v", "error", "-show_format", "-of", "json", clip).Output()
	if err != nil || len(out) < 8<<20 {
		t.Fatalf("the test file does not carry its comment: %d bytes of report, %v", len(out), err)
	}
	info, err := (&media.Tool{}).Inspect(t.Context(), clip, media.Format{Kind: media.Video, Container: "mp4", MIME: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if info.Video == nil || info.Video.Codec != "h264" || info.Error != "" {
		b, _ := json.Marshal(info)
		t.Errorf("a clip with an 8 MiB comment read as %s", b)
	}
}

// A tool that prints without end is stopped once its report passes the
// bound, not read into memory until its time runs out.
func TestToolOutputIsBounded(t *testing.T) {
	clip := mediatest.Clip(t, "a.mp4", "1")
	endless := filepath.Join(t.TempDir(), "endless")
	if err := os.WriteFile(endless, []byte("#!/bin/sh\nexec yes '{\"streams\": ['\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tool := &media.Tool{FFprobe: endless, FFmpeg: "true", Timeout: 5 * time.Minute}
	info, err := tool.Inspect(t.Context(), clip, media.Format{Kind: media.Video, Container: "mp4", MIME: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(info.Error, "output too large") {
		t.Errorf("a report without end gave %q", info.Error)
	}
}
