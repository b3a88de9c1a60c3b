package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"

	"github.com/sightline/sightline/internal/server"
)

// migrate copies an embedded installation onto PostgreSQL and S3.
func (m *Main) migrate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("sightline migrate", flag.ContinueOnError)
	fs.SetOutput(m.Stderr)
	var mv server.Move
	fs.StringVar(&mv.From, "from-data", "", "the embedded installation's data folder (its server stopped); only read")
	fs.StringVar(&mv.To, "data", "", "the new data folder (empty or missing): the log, its key and uploads in progress go there")
	fs.StringVar(&mv.Database, "database", "", "the new records' database, a postgres:// URL (default: SQLite in the new data folder)")
	fs.StringVar(&mv.Blobs, "blobs", "", "the new blob store, s3://BUCKET[/PREFIX][?endpoint=URL&region=REGION] (default: the new data folder's blobs/)")
	logs := verbose(fs, m.Stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 || mv.From == "" || mv.To == "" {
		return fmt.Errorf("usage: sightline migrate --from-data OLD --data NEW [--database URL] [--blobs URL]")
	}
	logs()
	if err := openData(mv.From); err != nil {
		return err
	}
	moved, err := server.Migrate(ctx, mv)
	if err != nil {
		return err
	}
	rows := int64(0)
	for _, t := range slices.Sorted(maps.Keys(moved.Rows)) {
		rows += moved.Rows[t]
		fmt.Fprintf(m.Stdout, "  %-24s %d rows\n", t, moved.Rows[t])
	}
	fmt.Fprintf(m.Stdout, "migrate: %d records, %d blobs (%d bytes, each checked against its SHA-256), %d files; serve with: sightline serve --data %s%s%s\n",
		rows, moved.Blobs, moved.Bytes, moved.Files, mv.To, flagIf("database", mv.Database), flagIf("blobs", mv.Blobs))
	return nil
}

func flagIf(name, v string) string {
	if v == "" {
		return ""
	}
	return fmt.Sprintf(" --%s '%s'", name, v)
}
