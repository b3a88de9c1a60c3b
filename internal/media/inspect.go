package media

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"strings"
	"sync"
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

	src := Source{path, f.Container}
	in, err := src.input()
	if err != nil {
		return info, err
	}
	var problems []string
	if tags.Damage != "" {
		problems = append(problems, tags.Damage)
	}
	// ffprobe and the decode checks are independent: run them side by side.
	var (
		wg                 sync.WaitGroup
		out                []byte
		probeErr, checkErr error
		checkMsg           string
	)
	wg.Go(func() {
		out, _, probeErr = t.run(ctx, t.ffprobe(), append([]string{"-hide_banner", "-v", "error", "-show_entries", probeEntries, "-of", "json"}, in...)...)
	})
	wg.Go(func() { checkMsg, checkErr = t.decodeCheck(ctx, in, f.Kind) })
	wg.Wait()
	var facts streamFacts
	err = probeErr
	if err == nil {
		if facts, err = parseProbe(out); err != nil {
			err = &runError{tool: t.ffprobe(), msg: "unreadable report: " + err.Error()}
		}
	}
	switch {
	case err != nil && !isInputProblem(err):
		return info, err
	case checkErr != nil:
		return info, checkErr
	case err != nil:
		problems = append(problems, "cannot read media: "+strings.TrimPrefix(err.Error(), t.ffprobe()+": "))
	case checkMsg != "":
		problems = append(problems, checkMsg)
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
	// A recording made in a browser (MediaRecorder WebM), or one cut off,
	// states no duration: it is where its last packet ends.
	if info.MediaType != Image && facts.Duration == 0 && err == nil {
		if d, lerr := t.lastPacketEnd(ctx, in); lerr != nil {
			return info, lerr
		} else if d > 0 {
			facts.Duration, info.Unindexed = d, true
		}
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

// decodeCheck decodes the first and the last seconds of a recording (a
// still image entirely) and reports what ffmpeg could not decode. Truncated
// recordings fail at the end; files with broken headers fail at once. One
// ffmpeg reads the file twice, as two inputs, so the cost does not grow with
// the length of the recording and only one process starts.
func (t *Tool) decodeCheck(ctx context.Context, in []string, k Kind) (string, error) {
	args := []string{"-nostdin", "-hide_banner", "-v", "error"}
	if k == Image {
		args = append(append(args, in...), "-frames:v", "1")
	} else {
		// For recordings under two seconds the end is the whole again.
		args = append(append(args, "-t", "2"), in...)
		args = append(append(args, "-sseof", "-2"), in...)
		args = append(args, "-map", "0", "-map", "1")
	}
	_, stderr, err := t.run(ctx, t.ffmpeg(), append(args, "-f", "null", "-")...)
	if err != nil && !isInputProblem(err) {
		return "", err
	}
	msg := summarize(stderr, "")
	if err != nil && msg == "" {
		msg = err.Error()
	}
	if msg == "" {
		return "", nil
	}
	return "cannot decode: " + msg, nil
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

// lastPacketEnd reads every packet's time (demuxing, not decoding) and
// returns where the last one ends, in seconds; 0 if none has a time. The
// packet list of a long recording is long: it is read as it comes, in
// constant memory.
func (t *Tool) lastPacketEnd(ctx context.Context, in []string) (float64, error) {
	var ends packetEnds
	_, err := t.runTo(ctx, &ends, t.ffprobe(), append([]string{"-hide_banner", "-v", "error", "-show_entries", "packet=pts_time,duration_time",
		"-of", "csv=p=0"}, in...)...)
	if err != nil && !isInputProblem(err) {
		return 0, err
	}
	return ends.End(), nil
}

// packetsEnd reads ffprobe's "pts_time,duration_time" lines and returns
// the latest end among them. The lines come from an untrusted file.
func packetsEnd(out []byte) float64 {
	var ends packetEnds
	ends.Write(out)
	return ends.End()
}

// packetEnds takes ffprobe's packet lines as they are written and keeps
// the latest end. A line longer than any packet line is skipped.
type packetEnds struct {
	end  float64
	line []byte
	long bool // the line being read is too long and is skipped
}

func (p *packetEnds) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		chunk := b
		if i >= 0 {
			chunk = b[:i]
		}
		if !p.long {
			if len(p.line)+len(chunk) > 128 {
				p.long, p.line = true, p.line[:0]
			} else {
				p.line = append(p.line, chunk...)
			}
		}
		if i < 0 {
			break
		}
		if !p.long {
			p.add(string(p.line))
		}
		p.line, p.long, b = p.line[:0], false, b[i+1:]
	}
	return n, nil
}

func (p *packetEnds) add(line string) {
	pts, dur, _ := strings.Cut(strings.TrimSpace(line), ",")
	if s := seconds(pts); s != 0 {
		p.end = max(p.end, s+seconds(dur))
	}
}

// End is the latest end seen, in seconds to the millisecond.
func (p *packetEnds) End() float64 {
	if !p.long && len(p.line) > 0 {
		p.add(string(p.line))
		p.line = p.line[:0]
	}
	return math.Round(p.end*1000) / 1000
}
