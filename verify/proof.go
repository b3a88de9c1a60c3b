package verify

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// ProofHeader is the first line of a C2SP tlog-proof@v1 file
// (c2sp.org/tlog-proof), the standard form of a receipt: saved with the
// extension .tlog-proof.
const ProofHeader = "c2sp.org/tlog-proof@v1"

// FormatProof writes r as a C2SP tlog-proof@v1: the entry's bytes in its
// extra line (what the proof is about, for a verifier to read), the
// index, the inclusion proof a hash a line, an empty line and the
// checkpoint verbatim. Earlier checkpoints a refreshed receipt holds have
// no place in the format and are left out.
func FormatProof(r Receipt) []byte {
	var b bytes.Buffer
	b.WriteString(ProofHeader + "\n")
	b.WriteString("extra " + base64.StdEncoding.EncodeToString([]byte(r.Entry)) + "\n")
	b.WriteString("index " + strconv.FormatUint(r.Index, 10) + "\n")
	for _, h := range r.InclusionProof {
		b.WriteString(h + "\n")
	}
	b.WriteString("\n")
	b.WriteString(r.Checkpoint)
	return b.Bytes()
}

// parseProof reads a C2SP tlog-proof@v1 whose extra line holds a custody
// entry. The file's SHA-256 and size are the entry's; the log's key is
// not in the format and must be given to Check.
func parseProof(b []byte) (Receipt, error) {
	var r Receipt
	head, cp, ok := strings.Cut(string(b), "\n\n")
	if !ok {
		return r, fmt.Errorf("%w: a tlog-proof without the empty line before its checkpoint", ErrMalformed)
	}
	lines := strings.Split(head, "\n")
	if lines[0] != ProofHeader {
		return r, fmt.Errorf("%w: not a %s", ErrMalformed, ProofHeader)
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		entry, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			return r, fmt.Errorf("%w: extra: %v", ErrMalformed, err)
		}
		r.Entry = string(entry)
		lines = lines[1:]
	}
	if r.Entry == "" {
		return r, fmt.Errorf("%w: the proof's extra line does not hold the custody entry it proves", ErrMalformed)
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return r, fmt.Errorf("%w: no index line", ErrMalformed)
	}
	n := strings.TrimPrefix(lines[0], "index ")
	index, err := strconv.ParseUint(n, 10, 64)
	if err != nil || strconv.FormatUint(index, 10) != n {
		return r, fmt.Errorf("%w: index %q", ErrMalformed, n)
	}
	r.Index = index
	r.InclusionProof = lines[1:]
	if _, err := decodeHashes(r.InclusionProof, "inclusion proof"); err != nil {
		return r, err
	}
	r.Checkpoint = cp
	r.Origin, _, _ = strings.Cut(cp, "\n")
	e, err := ParseEntry(r.Entry)
	if err != nil {
		return r, err
	}
	r.Format, r.SHA256, r.Size = Format, e.Evidence.SHA256, -1
	if s, ok := e.Details["size"]; ok {
		if r.Size, err = strconv.ParseInt(s, 10, 64); err != nil {
			return r, fmt.Errorf("%w: the entry's size %q", ErrMalformed, s)
		}
	}
	return r, nil
}
