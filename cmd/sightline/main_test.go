package main

import (
	"bytes"
	"flag"
	"slices"
	"testing"
)

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"64GiB", 64 << 30, false},
		{"500MB", 500e6, false},
		{"1048576", 1 << 20, false},
		{"1 MiB", 1 << 20, false},
		{"", 0, true},
		{"-1GiB", 0, true},
		{"twelve", 0, true},
		{"99999999999TiB", 0, true},
	} {
		var b byteSize
		err := b.Set(tc.in)
		if (err != nil) != tc.bad || !tc.bad && int64(b) != tc.want {
			t.Errorf("Set(%q) = %d, %v; want %d (error: %v)", tc.in, b, err, tc.want, tc.bad)
		}
	}
}

func TestFlagsAfterPaths(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	source := fs.String("source", "", "")
	paths, err := parseInterleaved(fs, []string{"a.mp4", "--source", "phone", "dir", "--", "--odd-name"})
	if err != nil || *source != "phone" || !slices.Equal(paths, []string{"a.mp4", "dir", "--odd-name"}) {
		t.Fatalf("paths %q, source %q, err %v", paths, *source, err)
	}
}

func TestUnknownCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errOut}
	if err := m.Run(t.Context(), []string{"frobnicate"}); err == nil || !bytes.Contains(errOut.Bytes(), []byte(`unknown command "frobnicate"`)) {
		t.Fatalf("err %v, stderr %q", err, errOut.String())
	}
}
