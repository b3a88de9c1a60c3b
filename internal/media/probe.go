package media

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// probeEntries asks ffprobe for only what probeOutput reads: the tags a
// file may carry in any size (a 48 MiB comment) are never printed, so the
// report stays small whatever the file holds.
const probeEntries = "format=format_name,duration:format_tags=creation_time,location,com.apple.quicktime.location.ISO6709," +
	"com.apple.quicktime.make,com.android.manufacturer,make,com.apple.quicktime.model,com.android.model,model," +
	"com.apple.quicktime.software,com.android.version,firmware,software:" +
	"stream=codec_type,codec_name,width,height,avg_frame_rate,r_frame_rate,sample_rate,channels,duration:" +
	"stream_tags=creation_time:stream_disposition=attached_pic"

// probeOutput is the part of ffprobe's JSON report that Sightline reads
// (probeEntries).
type probeOutput struct {
	Streams []struct {
		CodecType    string            `json:"codec_type"`
		CodecName    string            `json:"codec_name"`
		Width        int               `json:"width"`
		Height       int               `json:"height"`
		AvgFrameRate string            `json:"avg_frame_rate"`
		RFrameRate   string            `json:"r_frame_rate"`
		SampleRate   string            `json:"sample_rate"`
		Channels     int               `json:"channels"`
		Duration     string            `json:"duration"`
		Disposition  map[string]int    `json:"disposition"`
		Tags         map[string]string `json:"tags"`
	} `json:"streams"`
	Format struct {
		FormatName string            `json:"format_name"`
		Duration   string            `json:"duration"`
		Tags       map[string]string `json:"tags"`
	} `json:"format"`
}

// streamFacts is what ffprobe's report says about a file.
type streamFacts struct {
	Video      *VideoInfo
	Audio      *AudioInfo
	Duration   float64 // seconds; 0 if unknown
	CapturedAt time.Time
	Location   *Location
	Camera     Camera
}

// parseProbe reads ffprobe's JSON report. ffprobe's output is derived from
// an untrusted file, so every value is checked before use.
func parseProbe(b []byte) (streamFacts, error) {
	var p probeOutput
	var f streamFacts
	if err := json.Unmarshal(b, &p); err != nil {
		return f, err
	}
	for _, s := range p.Streams {
		switch {
		case s.CodecType == "video" && f.Video == nil && s.Disposition["attached_pic"] == 0:
			fps := rate(s.AvgFrameRate)
			if fps == 0 {
				fps = rate(s.RFrameRate)
			}
			f.Video = &VideoInfo{Codec: text([]byte(s.CodecName)), Width: clampDim(s.Width), Height: clampDim(s.Height), FPS: fps}
		case s.CodecType == "audio" && f.Audio == nil:
			sr, _ := strconv.Atoi(s.SampleRate)
			f.Audio = &AudioInfo{Codec: text([]byte(s.CodecName)), SampleRate: max(0, min(sr, 10_000_000)), Channels: max(0, min(s.Channels, 1024))}
		}
		if d := seconds(s.Duration); d > f.Duration && p.Format.Duration == "" {
			f.Duration = d
		}
		if f.CapturedAt.IsZero() {
			f.CapturedAt = tagTime(s.Tags["creation_time"])
		}
	}
	if d := seconds(p.Format.Duration); d > 0 {
		f.Duration = d
	}
	tags := p.Format.Tags
	if t := tagTime(tags["creation_time"]); !t.IsZero() {
		f.CapturedAt = t
	}
	for _, k := range []string{"com.apple.quicktime.location.ISO6709", "location"} {
		if loc, err := ParseISO6709(tags[k]); err == nil {
			f.Location = &loc
			break
		}
	}
	pick := func(keys ...string) string {
		for _, k := range keys {
			if v := text([]byte(tags[k])); v != "" {
				return v
			}
		}
		return ""
	}
	f.Camera = Camera{
		Make:     pick("com.apple.quicktime.make", "com.android.manufacturer", "make"),
		Model:    pick("com.apple.quicktime.model", "com.android.model", "model"),
		Software: pick("com.apple.quicktime.software", "com.android.version", "firmware", "software"),
	}
	return f, nil
}

// rate parses ffprobe's "30000/1001" frame rates, rounded to the
// thousandth.
func rate(s string) float64 {
	num, den, ok := strings.Cut(s, "/")
	if !ok {
		return 0
	}
	n, err1 := strconv.ParseFloat(num, 64)
	d, err2 := strconv.ParseFloat(den, 64)
	if err1 != nil || err2 != nil || d <= 0 || n <= 0 || n/d > 10000 {
		return 0
	}
	return math.Round(n/d*1000) / 1000
}

func seconds(s string) float64 {
	d, err := strconv.ParseFloat(s, 64)
	if err != nil || d <= 0 || d > 1e8 || math.IsNaN(d) {
		return 0
	}
	return d
}

func clampDim(n int) int { return max(0, min(n, 1<<16)) }

// tagTime reads ffprobe's creation_time tag. The zero time and the MP4
// epoch mean "not set".
func tagTime(s string) time.Time {
	t, err := parseLooseTime(s)
	if err != nil || t.Year() <= 1904 {
		return time.Time{}
	}
	return t
}
