package verify_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/sightline/sightline/verify"
)

func sampleManifest() verify.Manifest {
	return verify.Manifest{Format: verify.ManifestFormat,
		Original: verify.ManifestOriginal{Evidence: "e1", SHA256: strings.Repeat("ab", 32), Size: 10, LogIndex: 3, Container: "mp4",
			Width: 320, Height: 240, FPS: 29.97, Frames: 90, Audio: true},
		Tools: verify.ManifestTools{Sightline: "v1", FFmpeg: "5.1", X264: "x264 - core 164", Recipe: "r"},
		Changes: []verify.Change{
			{Kind: verify.ChangeBox, Effect: verify.EffectFill, From: 5, To: 40, Source: "manual", Reason: "privacy",
				Keyframes: []verify.Keyframe{{Frame: 10, X: 0, Y: 0, W: 20, H: 10}, {Frame: 30, X: 100, Y: 50, W: 40, H: 30}}},
			{Kind: verify.ChangeMute, FromS: 1.5, ToS: 2.25, Source: "manual", Reason: "identifiers"},
		},
		Author: "user:a", Approver: "user:b", StreamHashes: []string{"0,v,SHA256=" + strings.Repeat("0", 64)},
		Output: &verify.ManifestFile{SHA256: strings.Repeat("cd", 32), Size: 5, MediaType: "video/mp4"}}
}

func TestManifestBoxesMoveBetweenKeyframes(t *testing.T) {
	c := sampleManifest().Changes[0]
	for _, tc := range []struct {
		n    int
		want verify.Keyframe
		ok   bool
	}{
		{4, verify.Keyframe{}, false},
		{5, verify.Keyframe{Frame: 5, W: 20, H: 10}, true}, // held before the first
		{20, verify.Keyframe{Frame: 20, X: 50, Y: 25, W: 30, H: 20}, true},
		{30, verify.Keyframe{Frame: 30, X: 100, Y: 50, W: 40, H: 30}, true},
		{40, verify.Keyframe{Frame: 40, X: 100, Y: 50, W: 40, H: 30}, true}, // held after the last
		{41, verify.Keyframe{}, false},
	} {
		got, ok := c.BoxAt(tc.n)
		if ok != tc.ok || got != tc.want {
			t.Errorf("frame %d: %+v %v, want %+v %v", tc.n, got, ok, tc.want, tc.ok)
		}
	}
}

func TestManifestIsCanonicalAndChecked(t *testing.T) {
	m := sampleManifest()
	b := m.Canonical()
	if _, err := verify.ParseManifest(b); err != nil {
		t.Fatal(err)
	}
	spaced := bytes.Replace(b, []byte(`,"tools"`), []byte(`, "tools"`), 1)
	if _, err := verify.ParseManifest(spaced); !errors.Is(err, verify.ErrManifest) {
		t.Errorf("a manifest with a space: %v", err)
	}
	bad := m
	bad.Changes = append([]verify.Change{}, m.Changes...)
	bad.Changes[0].Keyframes = []verify.Keyframe{{Frame: 10, X: 310, Y: 0, W: 20, H: 10}}
	if _, err := verify.ParseManifest(bad.Canonical()); err == nil || !strings.Contains(err.Error(), "not inside") {
		t.Errorf("a box past the picture: %v", err)
	}
	bad.Changes[0] = verify.Change{Kind: verify.ChangeMute, FromS: 2, ToS: 1, Source: "manual", Reason: "x"}
	if _, err := verify.ParseManifest(bad.Canonical()); err == nil {
		t.Error("a span that ends before it starts")
	}
	bad.Changes[0] = verify.Change{Kind: verify.ChangeMute, FromS: 1, ToS: 2, Source: "manual"}
	if _, err := verify.ParseManifest(bad.Canonical()); err == nil {
		t.Error("a change without a reason")
	}
}

func FuzzManifest(f *testing.F) {
	f.Add(sampleManifest().Canonical())
	plan := sampleManifest().Plan()
	f.Add(plan.Canonical())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := verify.ParseManifest(b)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Canonical(), b) {
			t.Fatal("a parsed manifest is not its own canonical form")
		}
		for _, c := range m.Changes {
			for n := c.From - 1; n <= c.To+1 && n < c.From+1000; n++ {
				if k, ok := c.BoxAt(n); ok && (k.X < 0 || k.Y < 0 || k.X+k.W > m.Original.Width || k.Y+k.H > m.Original.Height) {
					t.Fatalf("frame %d: box %+v outside %dx%d", n, k, m.Original.Width, m.Original.Height)
				}
			}
		}
		if _, err := verify.RedactionCheck(b, bytes.NewReader(nil), nil, ""); err == nil {
			t.Fatal("an empty file checked against a manifest")
		}
	})
}
