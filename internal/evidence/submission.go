package evidence

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Source is the kind of camera that recorded the footage.
type Source string

// The sources Sightline knows.
const (
	Phone        Source = "phone"
	Dashcam      Source = "dashcam"
	Bodycam      Source = "bodycam"
	Surveillance Source = "surveillance"
	Other        Source = "other"
)

// Sources lists every valid Source.
var Sources = []Source{Phone, Dashcam, Bodycam, Surveillance, Other}

func sourceList() string {
	s := make([]string, len(Sources))
	for i, src := range Sources {
		s[i] = string(src)
	}
	return strings.Join(s, ", ")
}

// ErrInvalid is wrapped by every error about a submitter's declaration.
var ErrInvalid = errors.New("invalid submission")

// InvalidError says which field of a submission is wrong and why.
type InvalidError struct {
	Field  string
	Reason string
}

func (e *InvalidError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Submission is what the submitter declares about a file, from the tus
// Upload-Metadata. None of it is trusted: it is validated here and then kept
// only as display text, never used as a path or a command.
type Submission struct {
	Filename string
	Source   Source
	Device   string
	Officer  string // badge number, for police cameras
	Note     string
}

// Limits on declared metadata, in bytes.
const (
	maxFilename = 255
	maxDevice   = 128
	maxOfficer  = 32
	maxNote     = 4000
)

// ParseSubmission validates tus upload metadata. Keys other than filename,
// source, device, officer and note are ignored, except that "name" stands in
// for a missing "filename" (Uppy sends both).
func ParseSubmission(meta map[string]string) (Submission, error) {
	var s Submission
	src, ok := meta["source"]
	switch {
	case !ok || src == "":
		return s, &InvalidError{"source", "missing; say which camera recorded this: one of " + sourceList()}
	default:
		for _, known := range Sources {
			if src == string(known) {
				s.Source = known
			}
		}
		if s.Source == "" {
			return s, &InvalidError{"source", fmt.Sprintf("%q is not one of %s", clip(src), sourceList())}
		}
	}
	name, ok := meta["filename"]
	if !ok {
		name = meta["name"]
	}
	var err error
	if s.Filename, err = validFilename(name); err != nil {
		return s, err
	}
	if s.Device, err = validLine("device", meta["device"], maxDevice); err != nil {
		return s, err
	}
	if s.Officer, err = validLine("officer", meta["officer"], maxOfficer); err != nil {
		return s, err
	}
	for _, r := range s.Officer {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(" -./#", r) {
			return s, &InvalidError{"officer", fmt.Sprintf("a badge number has letters, digits, spaces and - . / #, not %q", r)}
		}
	}
	if s.Note, err = validText("note", meta["note"], maxNote, "\n\t"); err != nil {
		return s, err
	}
	return s, nil
}

func validFilename(name string) (string, error) {
	name, err := validLine("filename", name, maxFilename)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(name, `/\`) {
		return "", &InvalidError{"filename", "must be a name, without / or \\"}
	}
	if name == "." || name == ".." {
		return "", &InvalidError{"filename", "must be a name, not . or .."}
	}
	return name, nil
}

func validLine(field, v string, maxLen int) (string, error) {
	return validText(field, v, maxLen, "")
}

// validText accepts valid UTF-8 of at most maxLen bytes without control or
// bidirectional-override characters (which disguise file names), except the
// control characters in allowed.
func validText(field, v string, maxLen int, allowed string) (string, error) {
	if len(v) > maxLen {
		return "", &InvalidError{field, fmt.Sprintf("longer than %d bytes", maxLen)}
	}
	if !utf8.ValidString(v) {
		return "", &InvalidError{field, "not valid UTF-8"}
	}
	for _, r := range v {
		if strings.ContainsRune(allowed, r) {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return "", &InvalidError{field, fmt.Sprintf("contains the control character %U", r)}
		}
	}
	return strings.TrimSpace(v), nil
}

func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// Uploader is who sent an upload, as the server established it (never as
// the upload declares it): nobody in particular (a civilian), or a device
// token scoped to a unit and perhaps a device and the officer it is issued
// to.
type Uploader struct {
	Token  string // the device or API token's id; empty for a civilian
	Unit   string
	Device string
	Badge  string
}

// Reserved metadata keys carry the Uploader through an upload's state. A
// client cannot set them: ingest drops them from what the client declares.
const (
	MetaUploaderToken = "sightline-uploader-token"
	MetaUploaderUnit  = "sightline-uploader-unit"
	MetaUploaderDev   = "sightline-uploader-device"
	MetaUploaderBadge = "sightline-uploader-badge"
)

// Stamp returns meta without any reserved key a client sent, with u's.
func (u Uploader) Stamp(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta)+4)
	for k, v := range meta {
		if !strings.HasPrefix(k, "sightline-") {
			out[k] = v
		}
	}
	if u.Token != "" {
		out[MetaUploaderToken], out[MetaUploaderUnit], out[MetaUploaderDev], out[MetaUploaderBadge] = u.Token, u.Unit, u.Device, u.Badge
	}
	return out
}

// UploaderOf reads the Uploader Stamp put in meta.
func UploaderOf(meta map[string]string) Uploader {
	return Uploader{Token: meta[MetaUploaderToken], Unit: meta[MetaUploaderUnit], Device: meta[MetaUploaderDev], Badge: meta[MetaUploaderBadge]}
}
