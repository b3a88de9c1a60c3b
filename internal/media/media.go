// Package media recognises and describes footage: what kind of file an upload
// is (decided by its content, never its name), and what the file itself says
// about how, when and where it was recorded.
//
// Everything here reads untrusted bytes. The parsers written in Go (Sniff,
// ParseISO6709, the ISO BMFF and EXIF readers) bound every length they read
// and are fuzzed; decoding is left to ffprobe and ffmpeg, which run as
// separate processes with time and memory limits (see Tool).
package media

import "time"

// Kind is the broad kind of a media file.
type Kind string

// The kinds of file Sightline accepts as evidence.
const (
	Video Kind = "video"
	Audio Kind = "audio"
	Image Kind = "image"
)

// Format is what the first bytes of a file say it is.
type Format struct {
	Kind      Kind
	Container string // short name: mp4, mov, webm, matroska, jpeg, …
	MIME      string
}

// Info describes one media file as read from the file itself. The JSON field
// names are those of the evidence API.
type Info struct {
	MediaType  Kind       `json:"media_type"`
	MIME       string     `json:"mime_type"`
	Container  string     `json:"container"`
	DurationS  *float64   `json:"duration_s"`
	Video      *VideoInfo `json:"video"`
	Audio      *AudioInfo `json:"audio"`
	CapturedAt *time.Time `json:"captured_at"`
	Location   *Location  `json:"location"`
	Camera     *Camera    `json:"camera"`
	// Unindexed says the container states no duration and no index, as a
	// recording streamed from a browser (MediaRecorder WebM): the duration
	// is where its last packet ends, and players cannot seek in it, so
	// reviewers get a review copy.
	Unindexed bool `json:"unindexed,omitempty"`
	// Error says what could not be read: a truncated recording, a damaged
	// header, a codec this server cannot decode. Empty when all was read.
	Error string `json:"media_error"`
}

// VideoInfo describes the first video stream.
type VideoInfo struct {
	Codec  string  `json:"codec"`
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
}

// AudioInfo describes the first audio stream.
type AudioInfo struct {
	Codec      string `json:"codec"`
	SampleRate int    `json:"sample_rate"`
	Channels   int    `json:"channels"`
}

// Location is a point on the WGS 84 ellipsoid, in decimal degrees, as the
// recording device wrote it.
type Location struct {
	Lat float64  `json:"lat"`
	Lon float64  `json:"lon"`
	Alt *float64 `json:"alt,omitempty"` // metres, when the file gives it
}

// Camera is the recording device as the file names it.
type Camera struct {
	Make     string `json:"make,omitempty"`
	Model    string `json:"model,omitempty"`
	Software string `json:"software,omitempty"` // firmware or app version
}
