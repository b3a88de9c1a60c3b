package evidence_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sightline/sightline/internal/evidence"
)

func TestParseSubmission(t *testing.T) {
	tests := []struct {
		name  string
		meta  map[string]string
		field string // the field blamed; "" means valid
	}{
		{"minimal", map[string]string{"source": "phone"}, ""},
		{"everything", map[string]string{"source": "bodycam", "filename": "AXON_0001.MP4", "device": "Axon Body 3", "officer": "4471", "note": "traffic stop\non Main St."}, ""},
		{"uppy name", map[string]string{"source": "dashcam", "name": "FILE0001.TS"}, ""},
		{"unicode filename", map[string]string{"source": "phone", "filename": "vidéo été 🚓.mov"}, ""},
		{"missing source", map[string]string{"filename": "a.mp4"}, "source"},
		{"empty source", map[string]string{"source": ""}, "source"},
		{"unknown source", map[string]string{"source": "drone"}, "source"},
		{"source in other case", map[string]string{"source": "Phone"}, "source"},
		{"slash in filename", map[string]string{"source": "phone", "filename": "../../etc/passwd"}, "filename"},
		{"backslash in filename", map[string]string{"source": "phone", "filename": `C:\clip.mp4`}, "filename"},
		{"newline in filename", map[string]string{"source": "phone", "filename": "a\nb.mp4"}, "filename"},
		{"nul in filename", map[string]string{"source": "phone", "filename": "a\x00.mp4"}, "filename"},
		{"bidi override in filename", map[string]string{"source": "phone", "filename": "clip\u202e4pm.exe"}, "filename"},
		{"dot-dot filename", map[string]string{"source": "phone", "filename": ".."}, "filename"},
		{"invalid utf-8", map[string]string{"source": "phone", "filename": "a\xff.mp4"}, "filename"},
		{"long filename", map[string]string{"source": "phone", "filename": strings.Repeat("a", 256)}, "filename"},
		{"badge with symbols", map[string]string{"source": "bodycam", "officer": "44;DROP"}, "officer"},
		{"control in note", map[string]string{"source": "phone", "note": "bell\a"}, "note"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := evidence.ParseSubmission(tc.meta)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("ParseSubmission: %v", err)
				}
				if s.Source == "" {
					t.Fatal("valid submission without a source")
				}
				return
			}
			var ie *evidence.InvalidError
			if !errors.As(err, &ie) || ie.Field != tc.field || !errors.Is(err, evidence.ErrInvalid) {
				t.Fatalf("ParseSubmission error = %v, want one about %s", err, tc.field)
			}
		})
	}
}

func TestAccessToken(t *testing.T) {
	a, b := evidence.AccessToken("upload-a"), evidence.AccessToken("upload-b")
	if a == b || len(a) < 40 {
		t.Fatalf("tokens %q and %q: want distinct and at least 40 characters", a, b)
	}
	if evidence.AccessToken("upload-a") != a {
		t.Fatal("the token of an upload must be reproducible")
	}
	it := evidence.Item{TokenDigest: evidence.Digest(a)}
	if !it.Authorize(a) || it.Authorize(b) || it.Authorize("") {
		t.Fatal("Authorize accepts the wrong token or refuses the right one")
	}
}
