// Package bagtest checks zipped BagIt bags for tests, by RFC 8493's rules
// alone: it is written apart from package bag, so that the two do not
// share a mistake.
package bagtest

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
)

// Validate checks a zipped bag: one top folder; bagit.txt as §2.1.1 gives
// it; every payload file in every manifest with the right digest, and no
// manifest line without its file; the tag manifest holds for the tag
// files; the Payload-Oxum counts the payload.
func Validate(zipped []byte) error {
	zr, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if err != nil {
		return err
	}
	files := map[string][]byte{}
	top := ""
	for _, f := range zr.File {
		first, rest, ok := strings.Cut(f.Name, "/")
		if !ok || rest == "" {
			return fmt.Errorf("%s: not inside a top folder", f.Name)
		}
		if top == "" {
			top = first
		} else if first != top {
			return fmt.Errorf("two top folders: %s and %s", top, first)
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		files[rest] = b
	}
	if string(files["bagit.txt"]) != "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n" {
		return fmt.Errorf("bagit.txt: %q", files["bagit.txt"])
	}
	digest := map[string]func([]byte) string{
		"sha256": func(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) },
		"sha512": func(b []byte) string { s := sha512.Sum512(b); return hex.EncodeToString(s[:]) },
	}
	check := func(manifest string, alg string, payload bool) error {
		listed := map[string]bool{}
		for _, line := range strings.SplitAfter(string(files[manifest]), "\n") {
			if line == "" {
				continue
			}
			if !strings.HasSuffix(line, "\n") {
				return fmt.Errorf("%s: last line unended", manifest)
			}
			sum, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "  ")
			// §2.1.3: CR, LF and % in a path are percent-encoded.
			name = strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(name)
			if !ok {
				return fmt.Errorf("%s: line %q", manifest, line)
			}
			b, ok := files[name]
			if !ok {
				return fmt.Errorf("%s lists %s, which is not in the bag", manifest, name)
			}
			if digest[alg](b) != sum {
				return fmt.Errorf("%s: %s does not hash to %s", manifest, name, sum)
			}
			listed[name] = true
		}
		if payload {
			for name := range files {
				if strings.HasPrefix(name, "data/") && !listed[name] {
					return fmt.Errorf("%s: %s is in data/ but not listed", manifest, name)
				}
			}
		}
		return nil
	}
	for _, m := range []struct{ file, alg string }{{"manifest-sha256.txt", "sha256"}, {"manifest-sha512.txt", "sha512"}} {
		if err := check(m.file, m.alg, true); err != nil {
			return err
		}
	}
	if err := check("tagmanifest-sha256.txt", "sha256", false); err != nil {
		return err
	}
	octets, count := 0, 0
	for name, b := range files {
		if strings.HasPrefix(name, "data/") {
			octets += len(b)
			count++
		}
	}
	if want := fmt.Sprintf("Payload-Oxum: %d.%d\n", octets, count); !strings.Contains(string(files["bag-info.txt"]), want) {
		return fmt.Errorf("bag-info.txt lacks %q:\n%s", want, files["bag-info.txt"])
	}
	return nil
}
