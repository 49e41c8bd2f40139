// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// slogCore hands etcd's zap records to the agent's slog logger, so the
// agent writes one log format. etcd is chatty at info level, so only warn
// and above pass; while the server shuts down its expected "server closed"
// errors are demoted to debug.
type slogCore struct {
	logger   *slog.Logger
	fields   []zapcore.Field
	quiet    *atomic.Bool
	minLevel zapcore.Level
}

// demoted are warnings etcd prints on every start of a single-member
// embedded server that need no action from the user.
var demoted = map[string]bool{
	"Running http and grpc server on single port. This is not recommended for production.": true,
	"simple token is not cryptographically signed":                                         true,
	"check file permission": true,
}

func newZapLogger(logger *slog.Logger, quiet *atomic.Bool) *zap.Logger {
	if quiet == nil {
		quiet = new(atomic.Bool)
	}
	return zap.New(&slogCore{logger: logger, quiet: quiet, minLevel: zapcore.WarnLevel})
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= c.minLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	clone := *c
	clone.fields = append(append([]zapcore.Field(nil), c.fields...), fields...)
	return &clone
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	level := slog.LevelWarn
	switch {
	case c.quiet.Load(), demoted[e.Message]:
		level = slog.LevelDebug
	case e.Level >= zapcore.ErrorLevel:
		level = slog.LevelError
	}
	ctx := context.Background()
	if !c.logger.Enabled(ctx, level) {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields)+1)
	attrs = append(attrs, slog.String("caller", e.Caller.TrimmedPath()))
	for k, v := range enc.Fields {
		attrs = append(attrs, slog.Any(k, v))
	}
	c.logger.LogAttrs(ctx, level, "etcd: "+e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
