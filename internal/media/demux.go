package media

import "fmt"

// demuxers maps each container Sniff accepts to the one ffmpeg demuxer
// that reads it. Every ffprobe and ffmpeg run on an upload names it (-f),
// so a file is read as what it was accepted as and as nothing else: never
// as an HLS playlist, a concat list or an image-sequence pattern, each of
// which would make the tool open files other than the one it was given.
// Images use the pipe demuxers, which read one stream and expand no
// pattern.
var demuxers = map[string]string{
	"mp4": "mov", "mov": "mov", "m4a": "mov", "3gp": "mov", "heif": "mov", "avif": "mov",
	"webm": "matroska", "matroska": "matroska",
	"avi": "avi", "wav": "wav", "aiff": "aiff", "caf": "caf", "amr": "amr", "flac": "flac",
	"mp3": "mp3", "aac": "aac", "ogg": "ogg", "flv": "flv", "asf": "asf", "mxf": "mxf",
	"mpeg": "mpeg", "mpegts": "mpegts",
	"jpeg": "jpeg_pipe", "png": "png_pipe", "gif": "gif", "tiff": "tiff_pipe", "jxl": "jpegxl_pipe",
	"webp": "webp_pipe", "bmp": "bmp_pipe",
}

// Source is a file for ffmpeg to read and the container Sniff found it
// to be.
type Source struct {
	Path      string
	Container string
}

// input is the arguments that make ffmpeg or ffprobe read src: its
// demuxer pinned, only the file protocol allowed, the path as a file: URL
// (so that a name is never taken for another protocol).
func (src Source) input() ([]string, error) {
	d, ok := demuxers[src.Container]
	if !ok {
		return nil, fmt.Errorf("media: no demuxer for container %q", src.Container)
	}
	return []string{"-protocol_whitelist", "file", "-f", d, "-i", "file:" + src.Path}, nil
}
