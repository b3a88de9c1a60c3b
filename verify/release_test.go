package verify_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sightline/sightline/verify"
)

func sampleRelease() verify.ReleaseManifest {
	rm := sampleManifest()
	return verify.ReleaseManifest{Format: verify.ReleaseFormat, Release: "r1", Version: 1, Incident: "inc", Title: "t", Summary: "s",
		Previous: []verify.ReleaseVersion{},
		Files: []verify.ReleaseFile{{Original: rm.Original,
			Fingerprint: verify.ReleaseCommitment{RecordsRoot: strings.Repeat("ef", 32), Records: 3, LogIndex: 4},
			FromFrame:   0, ToFrame: 60, FromS: 0, ToS: 2.002, Changes: rm.Changes, SHA256: strings.Repeat("cd", 32), Size: 5,
			StreamHashes: rm.StreamHashes}},
		Withheld:   []verify.ReleaseWithheld{{Evidence: "e1", FromS: 2.002, ToS: 3, Reason: "victim"}},
		Recordings: []verify.ReleaseRecording{{Evidence: "e1", SHA256: rm.Original.SHA256, Method: "audio", Confidence: 1, HasVideo: true}},
		Tools:      rm.Tools, Author: "user:a", Approver: "user:b"}
}

func FuzzReleaseProof(f *testing.F) {
	m := sampleRelease()
	f.Add(m.Canonical())
	p, _ := json.Marshal(verify.ReleaseProof{Format: verify.ReleaseProofFormat, Manifest: string(m.Canonical()),
		Files: []verify.ReleaseFileProof{{Records: []string{"00"}, Proofs: [][]string{{"AA=="}}}}})
	f.Add(p)
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := verify.ParseReleaseManifest(b); err == nil && !bytes.Equal(m.Canonical(), b) {
			t.Fatal("a parsed release manifest is not its own canonical form")
		}
		_, err := verify.ReleaseCheck(b, bytes.NewReader([]byte("a file")), "", func(float64) ([]verify.Record, error) { return nil, nil })
		if err == nil {
			t.Fatal("a file checked against a proof without a key")
		}
	})
}

// TestReleaseProofRefusals: a proof is held to its manifest (canonical),
// and a file not listed in it is named as such.
func TestReleaseProofRefusals(t *testing.T) {
	m := sampleRelease()
	if _, err := verify.ParseReleaseManifest(m.Canonical()); err != nil {
		t.Fatal(err)
	}
	spaced := append(m.Canonical(), ' ')
	if _, err := verify.ParseReleaseManifest(spaced); !errors.Is(err, verify.ErrReleaseManifest) {
		t.Errorf("a manifest not in canonical form: %v", err)
	}
	p, _ := json.Marshal(verify.ReleaseProof{Format: verify.ReleaseProofFormat, Manifest: string(m.Canonical()),
		Files: []verify.ReleaseFileProof{{}}})
	_, err := verify.ReleaseCheck(p, strings.NewReader("not the file"), "k", func(float64) ([]verify.Record, error) { return nil, nil })
	if !errors.Is(err, verify.ErrNotReleased) {
		t.Errorf("a file the release does not list: %v", err)
	}
}
