package verify

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Policy is a C2SP tlog-policy: the logs a verifier trusts, the witnesses
// whose cosignatures count, and the quorum a checkpoint needs:
//
//	log <vkey> [url]
//	witness <name> <vkey> [url]
//	group <name> <k|any|all> <member>...
//	quorum <name|none>
//
// Members are witnesses or groups defined above the group.
type Policy struct {
	Logs      []string // verifier keys
	Witnesses []PolicyWitness
	groups    map[string]policyGroup
	order     []string // group names, as defined
	quorum    string   // a witness or group name; "" for none
}

// PolicyWitness is a witness a policy names.
type PolicyWitness struct {
	Name string // the policy's name for it
	Key  string // its cosignature verifier key (vkey, algorithm 0x04)
	URL  string // where it takes add-checkpoint requests, if given

	keyName string
	id      [4]byte
	pub     ed25519.PublicKey
}

type policyGroup struct {
	need    int
	members []string
}

// ErrPolicy says a policy file is malformed; ErrQuorum says a
// checkpoint's cosignatures do not meet the policy's quorum.
var (
	ErrPolicy = errors.New("witness policy malformed")
	ErrQuorum = errors.New("witness quorum not met")
)

// ParsePolicy reads a tlog-policy file.
func ParsePolicy(b []byte) (*Policy, error) {
	p := &Policy{groups: map[string]policyGroup{}}
	known := map[string]bool{}
	quorumSet := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: line %d: %s", ErrPolicy, n, fmt.Sprintf(format, args...))
		}
		switch f[0] {
		case "log":
			if len(f) < 2 || len(f) > 3 {
				return nil, bad("want: log <vkey> [url]")
			}
			if _, err := note.NewVerifier(f[1]); err != nil {
				return nil, bad("log key: %v", err)
			}
			p.Logs = append(p.Logs, f[1])
		case "witness":
			if len(f) < 3 || len(f) > 4 {
				return nil, bad("want: witness <name> <vkey> [url]")
			}
			if known[f[1]] {
				return nil, bad("%q is defined twice", f[1])
			}
			w, err := cosignatureKey(f[2])
			if err != nil {
				return nil, bad("witness %s: %v", f[1], err)
			}
			w.Name = f[1]
			if len(f) == 4 {
				w.URL = f[3]
			}
			p.Witnesses = append(p.Witnesses, w)
			known[f[1]] = true
		case "group":
			if len(f) < 4 {
				return nil, bad("want: group <name> <k|any|all> <member>...")
			}
			if known[f[1]] {
				return nil, bad("%q is defined twice", f[1])
			}
			members := f[3:]
			for _, m := range members {
				if !known[m] {
					return nil, bad("group %s: %q is not defined above it", f[1], m)
				}
			}
			need := 0
			switch f[2] {
			case "any":
				need = 1
			case "all":
				need = len(members)
			default:
				k, err := strconv.Atoi(f[2])
				if err != nil || k < 1 || k > len(members) {
					return nil, bad("group %s: threshold %q is not between 1 and its %d members", f[1], f[2], len(members))
				}
				need = k
			}
			p.groups[f[1]] = policyGroup{need, members}
			p.order = append(p.order, f[1])
			known[f[1]] = true
		case "quorum":
			if len(f) != 2 || quorumSet {
				return nil, bad("want one line: quorum <name|none>")
			}
			quorumSet = true
			if f[1] != "none" {
				if !known[f[1]] {
					return nil, bad("quorum %q is not defined", f[1])
				}
				p.quorum = f[1]
			}
		default:
			return nil, bad("unknown keyword %q", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPolicy, err)
	}
	if !quorumSet {
		return nil, fmt.Errorf("%w: no quorum line", ErrPolicy)
	}
	return p, nil
}

// Witnessed says which of a policy's witnesses cosigned a checkpoint.
type Witnessed struct {
	Signed []string // policy names, in the policy's order
	// At is when each said it had seen the checkpoint (the
	// cosignature's time), by name.
	At map[string]time.Time
}

// Check verifies the cosignatures on a signed checkpoint note against the
// policy, and that they meet its quorum. Cosignatures by keys the policy
// does not know are ignored; a cosignature by a known key that does not
// verify is an error (ErrSignature). A quorum not met is ErrQuorum, with
// who signed in each group.
func (p *Policy) Check(checkpoint []byte) (Witnessed, error) {
	w := Witnessed{At: map[string]time.Time{}}
	text, sigs, err := splitNote(checkpoint)
	if err != nil {
		return w, err
	}
	for _, s := range sigs {
		for i := range p.Witnesses {
			pw := &p.Witnesses[i]
			if s.name != pw.keyName || !bytes.Equal(s.sig[:4], pw.id[:]) {
				continue
			}
			if len(s.sig) != 4+8+ed25519.SignatureSize {
				return w, fmt.Errorf("%w: witness %s's cosignature is %d bytes, not %d", ErrSignature, pw.Name, len(s.sig), 4+8+ed25519.SignatureSize)
			}
			t := binary.BigEndian.Uint64(s.sig[4:12])
			if !ed25519.Verify(pw.pub, CosignedMessage(text, t), s.sig[12:]) {
				return w, fmt.Errorf("%w: witness %s's cosignature does not verify", ErrSignature, pw.Name)
			}
			if _, dup := w.At[pw.Name]; !dup {
				w.At[pw.Name] = time.Unix(int64(t), 0).UTC()
			}
		}
	}
	for _, pw := range p.Witnesses {
		if _, ok := w.At[pw.Name]; ok {
			w.Signed = append(w.Signed, pw.Name)
		}
	}
	if p.quorum == "" || p.met(p.quorum, w) {
		return w, nil
	}
	return w, fmt.Errorf("%w: %s", ErrQuorum, p.explain(w))
}

// met reports whether the witness or group name is satisfied.
func (p *Policy) met(name string, w Witnessed) bool {
	g, ok := p.groups[name]
	if !ok {
		_, signed := w.At[name]
		return signed
	}
	n := 0
	for _, m := range g.members {
		if p.met(m, w) {
			n++
		}
	}
	return n >= g.need
}

// explain says, per group, how many of which members signed.
func (p *Policy) explain(w Witnessed) string {
	if _, isGroup := p.groups[p.quorum]; !isGroup {
		return "witness " + p.quorum + " did not cosign"
	}
	var parts []string
	for _, name := range p.order {
		g := p.groups[name]
		var signed []string
		n := 0
		for _, m := range g.members {
			if p.met(m, w) {
				n++
				signed = append(signed, m)
			}
		}
		who := "none"
		if len(signed) > 0 {
			who = strings.Join(signed, ", ")
		}
		parts = append(parts, fmt.Sprintf("group %s has %d of the %d it needs from %s (signed: %s)", name, n, g.need, strings.Join(g.members, ", "), who))
	}
	return strings.Join(parts, "; ")
}

// Log returns the policy's log key whose name is origin, if any.
func (p *Policy) Log(origin string) (string, bool) {
	i := slices.IndexFunc(p.Logs, func(k string) bool { return strings.HasPrefix(k, origin+"+") })
	if i < 0 {
		return "", false
	}
	return p.Logs[i], true
}

// CosignedMessage is what a tlog-cosignature/v1 signs: the header with
// the time, then the checkpoint's text.
func CosignedMessage(text []byte, t uint64) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(t, 10)+"\n"), text...)
}

// CosignatureKeyID is a cosignature/v1 key's id: the first four bytes of
// SHA-256(name || "\n" || 0x04 || public key).
func CosignatureKeyID(name string, pub ed25519.PublicKey) [4]byte {
	h := sha256.Sum256(append(append([]byte(name+"\n"), 0x04), pub...))
	return [4]byte(h[:4])
}

// cosignatureKey reads a cosignature/v1 verifier key: name+id+base64(0x04
// || Ed25519 public key).
func cosignatureKey(vkey string) (PolicyWitness, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	idHex, keyB64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || name == "" || len(idHex) != 8 {
		return PolicyWitness{}, errors.New("not a verifier key (name+id+key)")
	}
	key, err := base64.StdEncoding.DecodeString(keyB64)
	if err != nil || len(key) != 1+ed25519.PublicKeySize || key[0] != 0x04 {
		return PolicyWitness{}, errors.New("not a cosignature/v1 (Ed25519, algorithm 4) key")
	}
	pub := ed25519.PublicKey(key[1:])
	id := CosignatureKeyID(name, pub)
	if fmt.Sprintf("%08x", id) != idHex {
		return PolicyWitness{}, errors.New("its key id does not match its name and key")
	}
	return PolicyWitness{Key: vkey, keyName: name, id: id, pub: pub}, nil
}

type noteSig struct {
	name string
	sig  []byte
}

// splitNote splits a signed note into its text (ending in a newline) and
// its signature lines, without checking any.
func splitNote(b []byte) ([]byte, []noteSig, error) {
	i := bytes.LastIndex(b, []byte("\n\n"))
	if i < 0 || !bytes.HasSuffix(b, []byte("\n")) {
		return nil, nil, fmt.Errorf("%w: not a signed note", ErrMalformed)
	}
	text := b[:i+1]
	var sigs []noteSig
	for _, line := range strings.Split(strings.TrimSuffix(string(b[i+2:]), "\n"), "\n") {
		rest, ok := strings.CutPrefix(line, "— ")
		name, b64, ok2 := strings.Cut(rest, " ")
		sig, err := base64.StdEncoding.DecodeString(b64)
		if !ok || !ok2 || err != nil || len(sig) < 4 {
			return nil, nil, fmt.Errorf("%w: signature line %q", ErrMalformed, line)
		}
		sigs = append(sigs, noteSig{name, sig})
	}
	return text, sigs, nil
}

// CheckWitnessed verifies a receipt with a policy alone: with the key of
// the policy's log whose name the receipt's checkpoint carries (Check),
// and the checkpoint's cosignatures against the policy's quorum.
func CheckWitnessed(r Receipt, p *Policy) (Result, Witnessed, error) {
	origin, _, _ := strings.Cut(r.Checkpoint, "\n")
	key, ok := p.Log(origin)
	if !ok {
		return Result{}, Witnessed{}, fmt.Errorf("%w: the policy names no log %q", ErrSignature, origin)
	}
	res, err := Check(r, key)
	if err != nil {
		return res, Witnessed{}, err
	}
	w, err := p.Check([]byte(r.Checkpoint))
	return res, w, err
}
