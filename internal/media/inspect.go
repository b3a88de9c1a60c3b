package media

import (
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"time"
)

// Inspect reads what the file at path says about itself. f is what Sniff
// made of its first bytes. Problems with the file (damage, truncation, a
// codec this server cannot decode) are reported in Info.Error; the error
// result is for problems of the server, such as ffprobe missing or ctx
// ending.
func (t *Tool) Inspect(ctx context.Context, path string, f Format) (Info, error) {
	info := Info{MediaType: f.Kind, MIME: f.MIME, Container: f.Container}
	file, err := os.Open(path)
	if err != nil {
		return info, err
	}
	fi, err := file.Stat()
	if err != nil {
		file.Close()
		return info, err
	}
	var tags fileTags
	switch f.Container {
	case "mp4", "mov", "3gp", "m4a", "heif", "avif":
		tags = readBMFF(file, fi.Size())
	case "jpeg":
		tags = readJPEG(file, fi.Size())
	case "tiff":
		tags = readTIFFFile(file, fi.Size())
	}
	file.Close()

	var problems []string
	if tags.Damage != "" {
		problems = append(problems, tags.Damage)
	}
	out, _, err := t.run(ctx, t.ffprobe(), "-hide_banner", "-v", "error", "-show_format", "-show_streams", "-of", "json", "-protocol_whitelist", "file", "file:"+path)
	var facts streamFacts
	if err == nil {
		if facts, err = parseProbe(out); err != nil {
			err = &runError{tool: t.ffprobe(), msg: "unreadable report: " + err.Error()}
		}
	}
	if err != nil {
		if !isInputProblem(err) {
			return info, err
		}
		problems = append(problems, "cannot read media: "+strings.TrimPrefix(err.Error(), t.ffprobe()+": "))
	} else if msg, err := t.decodeCheck(ctx, path, f.Kind, facts.Duration); err != nil {
		return info, err
	} else if msg != "" {
		problems = append(problems, msg)
	}

	// What the stream says about itself, then what the container says.
	info.Video, info.Audio = facts.Video, facts.Audio
	if info.Video == nil && tags.Width > 0 {
		info.Video = &VideoInfo{Width: tags.Width, Height: tags.Height}
	}
	switch {
	case f.Kind == Video && info.Video == nil && info.Audio != nil:
		info.MediaType = Audio
	case f.Kind == Audio && info.Video != nil && facts.Duration > 0:
		info.MediaType = Video
	}
	if info.MediaType != Image && facts.Duration > 0 {
		d := math.Round(facts.Duration*1000) / 1000
		info.DurationS = &d
	}
	info.CapturedAt = firstTime(tags.CapturedAt, facts.CapturedAt)
	info.Location = tags.Location
	if info.Location == nil {
		info.Location = facts.Location
	}
	cam := Camera{
		Make:     or(tags.Camera.Make, facts.Camera.Make),
		Model:    or(tags.Camera.Model, facts.Camera.Model),
		Software: or(tags.Camera.Software, facts.Camera.Software),
	}
	if cam != (Camera{}) {
		info.Camera = &cam
	}
	info.Error = strings.Join(problems, "; ")
	return info, nil
}

// decodeCheck decodes the first and the last seconds of a recording (all of
// a still image) and reports what ffmpeg could not decode. Truncated
// recordings fail at the end; files with broken headers fail at once. The
// cost does not grow with the length of the recording.
func (t *Tool) decodeCheck(ctx context.Context, path string, k Kind, duration float64) (string, error) {
	runs := [][]string{{"-t", "2"}}
	if k == Image {
		runs = [][]string{{"-frames:v", "1"}}
	} else if duration > 4 {
		runs = append(runs, []string{"-sseof", "-2"})
	}
	for _, r := range runs {
		args := []string{"-nostdin", "-hide_banner", "-v", "error"}
		if r[0] == "-sseof" {
			args = append(args, r...)
			r = nil
		}
		args = append(args, "-protocol_whitelist", "file", "-i", "file:"+path)
		args = append(args, r...)
		args = append(args, "-f", "null", "-")
		_, stderr, err := t.run(ctx, t.ffmpeg(), args...)
		if err != nil && !isInputProblem(err) {
			return "", err
		}
		msg := summarize(stderr, "")
		if err != nil && msg == "" {
			msg = err.Error()
		}
		if msg != "" {
			where := "at the start"
			if r == nil {
				where = "at the end"
			}
			return "cannot decode " + where + ": " + msg, nil
		}
	}
	return "", nil
}

// isInputProblem tells a failure caused by the file (the tool rejected it,
// timed out on it, or reported something unreadable) from one of the server.
func isInputProblem(err error) bool {
	var re *runError
	return errors.As(err, &re) || errors.Is(err, ErrTimeout)
}

func firstTime(ts ...time.Time) *time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			t = t.UTC()
			return &t
		}
	}
	return nil
}
