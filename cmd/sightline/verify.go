package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sightline/sightline/verify"
)

// verify checks a file against its receipt offline and says so in one
// line: OK with what was proved, or the precise reason it fails.
func (m *Main) verify(args []string) error {
	fs := flag.NewFlagSet("sightline verify", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(m.Stderr, "usage: sightline verify FILE [RECEIPT] [--key VKEY] [--policy FILE]\n\nRECEIPT defaults to FILE.receipt.json; it may be a receipt, a record the pages saved, a review's receipt\nor a C2SP tlog-proof (FILE.tlog-proof, which needs --key). VKEY is the log's published verifier key.")
		fs.PrintDefaults()
	}
	key := fs.String("key", "", "the custody log's verifier key, as `sightline keys` prints it")
	policyFile := fs.String("policy", "", "a C2SP tlog-policy file (as `sightline keys` prints it): the log's key and the witnesses whose quorum must have cosigned the receipt's checkpoint")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		fs.Usage()
		return flag.ErrHelp
	}
	file, receiptFile := pos[0], pos[0]+".receipt.json"
	if len(pos) == 2 {
		receiptFile = pos[1]
	}
	fail := func(err error) error {
		fmt.Fprintln(m.Stdout, "FAIL:", err)
		return errReported
	}
	b, err := os.ReadFile(receiptFile)
	if err != nil {
		return fail(err)
	}
	r, err := verify.Parse(b)
	if err != nil {
		return fail(err)
	}
	var policy *verify.Policy
	if *policyFile != "" {
		b, err := os.ReadFile(*policyFile)
		if err == nil {
			policy, err = verify.ParsePolicy(b)
		}
		if err != nil {
			return fail(err)
		}
		origin, _, _ := strings.Cut(r.Checkpoint, "\n")
		if *key == "" {
			k, ok := policy.Log(origin)
			if !ok {
				return fail(fmt.Errorf("%w: the policy names no log %q", verify.ErrSignature, origin))
			}
			*key = k
		}
	}
	if *key == "" && r.VerifierKey != "" {
		fmt.Fprintf(m.Stderr, "warning: no --key: trusting the key in the receipt, %s (fingerprint %s); check it against the log's published key\n",
			r.Origin, verify.Fingerprint(r.VerifierKey))
	}
	res, err := verify.File(file, r, *key)
	if err != nil {
		return fail(err)
	}
	if policy != nil {
		w, err := policy.Check([]byte(r.Checkpoint))
		if err != nil {
			return fail(err)
		}
		fmt.Fprintln(m.Stdout, res)
		fmt.Fprintf(m.Stdout, "witnessed: cosigned by %s\n", strings.Join(w.Signed, ", "))
	} else {
		fmt.Fprintln(m.Stdout, res)
	}
	if len(res.Earlier) > 0 {
		fmt.Fprintf(m.Stderr, "the checkpoint is proved consistent with %d earlier ones the receipt was issued with (sizes %v)\n", len(res.Earlier), res.Earlier)
	}
	return nil
}
