package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
)

// ManifestFormat names the redaction manifest's format.
const ManifestFormat = "sightline-redaction-v1"

// Manifest is a redaction's record: which original, which tools, every
// change made to it, who made and who approved them, and what came out.
// Its canonical form (Canonical: this field order, no insignificant
// space, no HTML escaping) is what is stored and what the "redacted" log
// event names by SHA-256. It holds no words: reasons are codes from the
// server's list of legal bases, people are pseudonymous ids.
//
// Anyone holding the original can render it again (`sightline redact`),
// and get the same bytes; RedactionCheck checks a file against it.
type Manifest struct {
	Format   string           `json:"format"`
	Original ManifestOriginal `json:"original"`
	Tools    ManifestTools    `json:"tools"`
	// Changes are applied in order (a later box paints over an earlier).
	Changes  []Change `json:"changes"`
	Author   string   `json:"author"`
	Approver string   `json:"approver"`
	// The result: set by the render, empty in the document the render
	// reads (Plan).
	StreamHashes []string      `json:"stream_hashes,omitempty"`
	Output       *ManifestFile `json:"output,omitempty"`
}

// ManifestOriginal names the original by its SHA-256 and its log entry,
// and gives what the render reads of it.
type ManifestOriginal struct {
	Evidence  string `json:"evidence"`
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	LogIndex  uint64 `json:"log_index"`
	Container string `json:"container"` // the demuxer family it was accepted as
	// Frames are numbered from 0 in decoding order; Width and Height are
	// those of the displayed frame; FPS is the rate the output is written at.
	Width  int     `json:"width"`
	Height int     `json:"height"`
	FPS    float64 `json:"fps"`
	Frames int     `json:"frames"`
	Audio  bool    `json:"audio"`
}

// ManifestTools are the programs and settings that made the output.
type ManifestTools struct {
	Sightline string `json:"sightline"`
	FFmpeg    string `json:"ffmpeg"`
	X264      string `json:"x264"`
	// Recipe names the encoding settings (package redact), pinned so that
	// the same input gives the same bytes.
	Recipe string `json:"recipe"`
	// Detectors are the models whose tracks were kept, by name.
	Detectors []ManifestModel `json:"detectors,omitempty"`
}

// ManifestModel names a detector (of faces, of text) whose tracks were
// kept.
type ManifestModel struct {
	Name          string `json:"name"`
	Package       string `json:"package"`
	GraphSHA256   string `json:"graph_sha256"`
	WeightsSHA256 string `json:"weights_sha256"`
	Runtime       string `json:"runtime"`
}

// ManifestFile is the output.
type ManifestFile struct {
	SHA256    string `json:"sha256"`
	Size      int64  `json:"size"`
	MediaType string `json:"media_type"`
}

// The kinds of change, and the effects a box may have.
const (
	ChangeBox   = "box"   // a region of the picture over a range of frames
	ChangeMute  = "mute"  // silence over a span of seconds
	ChangeBleep = "bleep" // a tone instead of the sound over a span

	EffectFill     = "fill"     // solid black: nothing of what was there remains
	EffectPixelate = "pixelate" // blocks of 16 px: may be partly undone
	EffectBlur     = "blur"     // a wide blur: may be partly undone
)

// Change is one change to the original.
type Change struct {
	Kind   string `json:"kind"`
	Effect string `json:"effect,omitempty"` // boxes only
	// Frames covered (boxes): from the first to the last, inclusive.
	// Keyframes place the box; between two it moves linearly, before the
	// first and after the last it stays.
	From      int        `json:"from_frame,omitempty"`
	To        int        `json:"to_frame,omitempty"`
	Keyframes []Keyframe `json:"keyframes,omitempty"`
	// Seconds covered (mute, bleep), on the original's clock.
	FromS float64 `json:"from_s,omitempty"`
	ToS   float64 `json:"to_s,omitempty"`
	// Source says who found it: "auto" (the detector, with its track and
	// best score) or "manual".
	Source string  `json:"source"`
	Track  int     `json:"track,omitempty"`
	Score  float64 `json:"score,omitempty"`
	// Reason is a legal basis, by its code.
	Reason string `json:"reason"`
}

// Keyframe places a box at a frame, in the displayed frame's pixels.
type Keyframe struct {
	Frame int `json:"frame"`
	X     int `json:"x"`
	Y     int `json:"y"`
	W     int `json:"w"`
	H     int `json:"h"`
}

// BoxAt is where a box change is at frame n (ok false outside its
// frames): its corners move linearly between keyframes, rounded to whole
// pixels.
func (c Change) BoxAt(n int) (Keyframe, bool) {
	if c.Kind != ChangeBox || n < c.From || n > c.To || len(c.Keyframes) == 0 {
		return Keyframe{}, false
	}
	ks := c.Keyframes
	i, _ := slices.BinarySearchFunc(ks, n, func(k Keyframe, n int) int { return k.Frame - n })
	switch {
	case i == 0:
		k := ks[0]
		k.Frame = n
		return k, true
	case i == len(ks):
		k := ks[len(ks)-1]
		k.Frame = n
		return k, true
	case ks[i].Frame == n:
		return ks[i], true
	}
	a, b := ks[i-1], ks[i]
	t := float64(n-a.Frame) / float64(b.Frame-a.Frame)
	lerp := func(p, q int) int { return int(math.Round(float64(p) + t*float64(q-p))) }
	// The corners move, so a box between two inside the picture is too.
	x, y := lerp(a.X, b.X), lerp(a.Y, b.Y)
	return Keyframe{Frame: n, X: x, Y: y, W: lerp(a.X+a.W, b.X+b.W) - x, H: lerp(a.Y+a.H, b.Y+b.H) - y}, true
}

// Validate checks a change against the original it is for.
func (c Change) Validate(o ManifestOriginal) error {
	if c.Reason == "" {
		return errors.New("a change needs a reason (a legal basis)")
	}
	if c.Source != "auto" && c.Source != "manual" {
		return fmt.Errorf("source %q: auto or manual", c.Source)
	}
	switch c.Kind {
	case ChangeBox:
		if c.Effect != EffectFill && c.Effect != EffectPixelate && c.Effect != EffectBlur {
			return fmt.Errorf("effect %q: fill, pixelate or blur", c.Effect)
		}
		if len(c.Keyframes) == 0 || len(c.Keyframes) > 100000 {
			return errors.New("a box needs keyframes")
		}
		if c.From < 0 || c.To < c.From || o.Frames > 0 && c.To >= o.Frames {
			return fmt.Errorf("frames %d to %d are outside the video's %d", c.From, c.To, o.Frames)
		}
		for i, k := range c.Keyframes {
			if i > 0 && k.Frame <= c.Keyframes[i-1].Frame {
				return errors.New("keyframes must be in order of frame, one per frame")
			}
			if k.W < 2 || k.H < 2 || k.X < 0 || k.Y < 0 || k.X+k.W > o.Width || k.Y+k.H > o.Height {
				return fmt.Errorf("the box at frame %d (%d,%d %dx%d) is not inside the %dx%d frame", k.Frame, k.X, k.Y, k.W, k.H, o.Width, o.Height)
			}
		}
	case ChangeMute, ChangeBleep:
		if !o.Audio {
			return errors.New("the video has no sound to mute")
		}
		if c.Effect != "" || len(c.Keyframes) > 0 {
			return errors.New("a sound change has no effect or keyframes")
		}
		if math.IsNaN(c.FromS) || math.IsNaN(c.ToS) || c.FromS < 0 || c.ToS <= c.FromS || c.ToS > 1e6 {
			return fmt.Errorf("the span %g to %g s is not a span", c.FromS, c.ToS)
		}
	default:
		return fmt.Errorf("kind %q: box, mute or bleep", c.Kind)
	}
	return nil
}

// Canonical is the manifest's bytes as stored and logged.
func (m Manifest) Canonical() []byte { return canonical(m) }

// SHA256 is the hex SHA-256 of the canonical form.
func (m Manifest) SHA256() string { return sha256Hex(m.Canonical()) }

// canonical is the one JSON form of a manifest: fields in their order,
// no spaces, nothing escaped for HTML.
func canonical(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Plan is the manifest without its results: what a render reads.
func (m Manifest) Plan() Manifest {
	m.StreamHashes, m.Output = nil, nil
	return m
}

// ErrManifest is wrapped by the errors of ParseManifest and
// RedactionCheck about the manifest itself.
var ErrManifest = errors.New("not a redaction manifest")

// ParseManifest reads a manifest; only its canonical form is accepted,
// so that a manifest has one SHA-256.
func ParseManifest(b []byte) (Manifest, error) {
	var m Manifest
	if len(b) > 64<<20 {
		return m, fmt.Errorf("%w: over 64 MiB", ErrManifest)
	}
	if err := strict(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	if m.Format != ManifestFormat {
		return m, fmt.Errorf("%w: format %q", ErrManifest, m.Format)
	}
	if !isHex256(m.Original.SHA256) || m.Original.Width <= 0 || m.Original.Height <= 0 || m.Original.Width > 1<<14 ||
		m.Original.Height > 1<<14 || !(m.Original.FPS > 0 && m.Original.FPS <= 1000) || m.Original.Frames < 0 {
		return m, fmt.Errorf("%w: the original is not described", ErrManifest)
	}
	for i, c := range m.Changes {
		if err := c.Validate(m.Original); err != nil {
			return m, fmt.Errorf("%w: change %d: %v", ErrManifest, i+1, err)
		}
	}
	if m.Output != nil && (!isHex256(m.Output.SHA256) || m.Output.Size <= 0) {
		return m, fmt.Errorf("%w: the output is not described", ErrManifest)
	}
	if !bytes.Equal(m.Canonical(), b) {
		return m, fmt.Errorf("%w: not in canonical form", ErrManifest)
	}
	return m, nil
}

func isHex256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 32 && hex.EncodeToString(b) == s
}

// Errors of RedactionCheck, for callers to tell them apart.
var (
	ErrOutputDiffers   = errors.New("the file is not the manifest's output")
	ErrOriginalDiffers = errors.New("the file is not the manifest's original")
	ErrNotLogged       = errors.New("the manifest is not the one logged")
)

// RedactionResult is what RedactionCheck established.
type RedactionResult struct {
	Manifest Manifest
	SHA256   string // of the manifest
	// Logged: a receipt of the "redacted" event names this manifest and
	// output, and verifies.
	Logged  bool
	Receipt Result
}

// RedactionCheck checks that output is the file manifest describes: the
// manifest is canonical and whole, the file's SHA-256 and size are its
// output's; with a receipt (of the "redacted" event) and the log's key,
// that the log holds this manifest for this output, about this original.
// It does not render: that the output has the listed changes and nothing
// else is checked by rendering the original again (`sightline redact`)
// and comparing bytes, which needs ffmpeg.
func RedactionCheck(manifest []byte, output io.Reader, receipt *Receipt, key string) (RedactionResult, error) {
	var res RedactionResult
	m, err := ParseManifest(manifest)
	if err != nil {
		return res, err
	}
	res.Manifest = m
	sum := sha256.Sum256(manifest)
	res.SHA256 = hex.EncodeToString(sum[:])
	if m.Output == nil {
		return res, fmt.Errorf("%w: it has no output (not rendered)", ErrManifest)
	}
	h := sha256.New()
	n, err := io.Copy(h, output)
	if err != nil {
		return res, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Output.SHA256 || n != m.Output.Size {
		return res, fmt.Errorf("%w: its SHA-256 is %s (%d bytes), the manifest's %s (%d bytes)", ErrOutputDiffers, got, n, m.Output.SHA256, m.Output.Size)
	}
	if receipt == nil {
		return res, nil
	}
	r, err := Check(*receipt, key)
	if err != nil {
		return res, err
	}
	ev, err := ParseEntry(receipt.Entry)
	if err != nil {
		return res, err
	}
	switch {
	case ev.Type != "redacted":
		return res, fmt.Errorf("%w: the receipt is of a %q event, not \"redacted\"", ErrNotLogged, ev.Type)
	case ev.Evidence.SHA256 != m.Original.SHA256:
		return res, fmt.Errorf("%w: the event is about %s, the manifest's original is %s", ErrNotLogged, ev.Evidence.SHA256, m.Original.SHA256)
	case ev.Details["manifest_sha256"] != res.SHA256:
		return res, fmt.Errorf("%w: the log names manifest %s, this one is %s", ErrNotLogged, ev.Details["manifest_sha256"], res.SHA256)
	case ev.Details["sha256"] != m.Output.SHA256:
		return res, fmt.Errorf("%w: the log names output %s, the manifest %s", ErrNotLogged, ev.Details["sha256"], m.Output.SHA256)
	}
	res.Logged, res.Receipt = true, r
	return res, nil
}

// OriginalCheck checks that r is the manifest's original (SHA-256 and
// size): the first step of rendering it again.
func OriginalCheck(m Manifest, r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Original.SHA256 || n != m.Original.Size {
		return fmt.Errorf("%w: its SHA-256 is %s (%d bytes), the manifest's %s (%d bytes)", ErrOriginalDiffers, got, n, m.Original.SHA256, m.Original.Size)
	}
	return nil
}
