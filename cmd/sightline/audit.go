package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/sightline/sightline/internal/audit"
)

// audit checks a data folder offline and reports every discrepancy.
func (m *Main) audit(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline audit", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	data := fs.String("data", defaultData, "the server's data folder")
	var st stores
	st.flags(fs)
	logs := verbose(fs, m.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	logs()
	// Replicas sharing everything have no data folder the audit needs.
	if st.logDB == "" {
		if err := openData(*data); err != nil {
			return err
		}
	}
	paths, err := st.auditPaths(*data)
	if err != nil {
		return err
	}
	r, err := audit.Run(ctx, paths)
	if err != nil {
		return err
	}
	for _, p := range r.Problems {
		fmt.Fprintln(m.Stdout, "PROBLEM", p)
	}
	fmt.Fprintf(m.Stdout, "audit: %d blobs, %d evidence records, %d derived files, %d log entries, %d custody index rows, %d cases, %d rendered redactions, %d kept checkpoints; %d problems\n",
		r.Blobs, r.Evidence, r.Derived, r.Entries, r.Indexed, r.Cases, r.Redactions, r.Checkpoints, len(r.Problems))
	if len(r.Problems) > 0 {
		return errReported
	}
	return nil
}
