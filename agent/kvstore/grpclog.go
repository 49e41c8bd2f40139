// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package kvstore

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"google.golang.org/grpc/grpclog"
)

// RouteGRPCLogs sends the gRPC library's global log, which the etcd client
// uses, to logger: while etcd is unreachable gRPC otherwise prints a
// reconnect warning to stderr every few seconds. Its warnings become debug
// records (the kvstore status already reports the outage) and its errors
// warnings. It changes process-wide state, so only main should call it.
func RouteGRPCLogs(logger *slog.Logger) {
	grpclog.SetLoggerV2(grpcLogger{logger.With("subsys", "grpc")})
}

type grpcLogger struct{ l *slog.Logger }

func (g grpcLogger) log(level slog.Level, msg string) {
	g.l.Log(context.Background(), level, msg)
}

func (g grpcLogger) Info(args ...any)                 {}
func (g grpcLogger) Infoln(args ...any)               {}
func (g grpcLogger) Infof(format string, args ...any) {}
func (g grpcLogger) Warning(args ...any)              { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningln(args ...any)            { g.log(slog.LevelDebug, fmt.Sprint(args...)) }
func (g grpcLogger) Warningf(format string, args ...any) {
	g.log(slog.LevelDebug, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Error(args ...any)   { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Errorln(args ...any) { g.log(slog.LevelWarn, fmt.Sprint(args...)) }
func (g grpcLogger) Errorf(format string, args ...any) {
	g.log(slog.LevelWarn, fmt.Sprintf(format, args...))
}
func (g grpcLogger) Fatal(args ...any)   { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalln(args ...any) { g.log(slog.LevelError, fmt.Sprint(args...)); os.Exit(1) }
func (g grpcLogger) Fatalf(format string, args ...any) {
	g.log(slog.LevelError, fmt.Sprintf(format, args...))
	os.Exit(1)
}
func (g grpcLogger) V(level int) bool { return false }
