package ingest

import (
	"context"
	"log/slog"

	expslog "golang.org/x/exp/slog"
)

// tusdLogger gives tusd, which logs through golang.org/x/exp/slog, a logger
// that forwards its warnings and errors to ours. Its per-request
// information messages would name upload ids, which are capabilities.
func tusdLogger(l *slog.Logger) *expslog.Logger {
	return expslog.New(bridge{l.Handler()})
}

type bridge struct{ h slog.Handler }

func (b bridge) Enabled(ctx context.Context, l expslog.Level) bool {
	return l >= expslog.LevelWarn && b.h.Enabled(ctx, slog.Level(l))
}

func (b bridge) Handle(ctx context.Context, r expslog.Record) error {
	out := slog.NewRecord(r.Time, slog.Level(r.Level), "tus: "+r.Message, r.PC)
	r.Attrs(func(a expslog.Attr) bool {
		if a.Key != "id" && a.Key != "path" && a.Key != "url" {
			out.AddAttrs(slog.Any(a.Key, a.Value.Any()))
		}
		return true
	})
	return b.h.Handle(ctx, out)
}

func (b bridge) WithAttrs(as []expslog.Attr) expslog.Handler {
	attrs := make([]slog.Attr, 0, len(as))
	for _, a := range as {
		if a.Key != "id" && a.Key != "path" && a.Key != "url" {
			attrs = append(attrs, slog.Any(a.Key, a.Value.Any()))
		}
	}
	return bridge{b.h.WithAttrs(attrs)}
}

func (b bridge) WithGroup(name string) expslog.Handler { return bridge{b.h.WithGroup(name)} }
