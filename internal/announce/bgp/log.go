package bgp

import (
	"context"
	"log/slog"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// logger hands GoBGP's log lines to slog. GoBGP's info lines (every FSM
// transition, every configuration step) go out at debug; the speaker logs
// the session changes that matter itself.
type logger struct {
	log *slog.Logger
}

func (l *logger) out(level slog.Level, msg string, fields gobgplog.Fields) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	attrs := make([]any, 0, 2*len(fields))
	for k, v := range fields {
		attrs = append(attrs, k, v)
	}
	l.log.Log(context.Background(), level, "gobgp: "+msg, attrs...)
}

func (l *logger) Panic(msg string, fields gobgplog.Fields) {
	l.out(slog.LevelError, msg, fields)
	panic(msg)
}

func (l *logger) Fatal(msg string, fields gobgplog.Fields) {
	// GoBGP's fatal errors are configuration errors it also returns.
	l.out(slog.LevelError, msg, fields)
}

func (l *logger) Error(msg string, fields gobgplog.Fields) { l.out(slog.LevelWarn, msg, fields) }
func (l *logger) Warn(msg string, fields gobgplog.Fields)  { l.out(slog.LevelWarn, msg, fields) }
func (l *logger) Info(msg string, fields gobgplog.Fields)  { l.out(slog.LevelDebug, msg, fields) }
func (l *logger) Debug(msg string, fields gobgplog.Fields) { l.out(slog.LevelDebug-4, msg, fields) }

func (l *logger) SetLevel(gobgplog.LogLevel) {}

func (l *logger) GetLevel() gobgplog.LogLevel {
	if l.log.Enabled(context.Background(), slog.LevelDebug-4) {
		return gobgplog.DebugLevel
	}
	return gobgplog.InfoLevel
}
