// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// command is one process the benchmark runs, in a netns (empty: the root
// netns), always in the root mount namespace (nsenter --net, DESIGN.md).
type command struct {
	netns string
	argv  []string
}

func inNetns(netns string, argv ...string) command { return command{netns: netns, argv: argv} }

// line is the command as a user would type it, for the report.
func (c command) line() string {
	argv := c.argv
	if c.netns != "" {
		argv = append([]string{"nsenter", "--net=" + c.netns}, argv...)
	}
	return strings.Join(argv, " ")
}

// cmd builds an exec.Cmd that gets SIGTERM when ctx ends (Ctrl-C) and
// SIGKILL if it then lingers, or if the benchmark process dies.
func (c command) cmd(ctx context.Context) *exec.Cmd {
	argv := c.argv
	if c.netns != "" {
		argv = append([]string{"nsenter", "--net=" + c.netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// output runs the command and returns its stdout; the error carries stderr.
func (c command) output(ctx context.Context) ([]byte, error) {
	cmd := c.cmd(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("run %s: interrupted", c.argv[0])
		}
		return nil, fmt.Errorf("run %s: %w: %s", c.line(), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// mustOutput is output for setup steps, which fail the benchmark.
func (c command) mustOutput(b *bench) string {
	b.t.Helper()
	out, err := c.output(b.ctx)
	if err != nil {
		b.t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// server starts the command and waits until a line of its output contains
// ready. The returned stop kills it and waits; callers defer it, so no
// round leaves a server behind.
func (c command) server(ctx context.Context, ready string) (func(), error) {
	cmd := c.cmd(ctx)
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("create pipe: %w", err)
	}
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("start %s: %w", c.line(), err)
	}
	pw.Close()
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	stop := func() {
		select {
		case <-done:
		default:
			_ = cmd.Process.Kill()
			<-done
		}
		pr.Close()
	}
	lines := make(chan string)
	waited := make(chan struct{})
	defer close(waited)
	go func() {
		// Keep draining after ready so the server never blocks on output.
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-waited:
			}
		}
		close(lines)
	}()
	timeout := time.After(10 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				stop()
				return nil, fmt.Errorf("%s exited before it was ready: %s", c.line(), strings.Join(seen, "; "))
			}
			seen = append(seen, l)
			if strings.Contains(l, ready) {
				return stop, nil
			}
		case <-timeout:
			stop()
			return nil, fmt.Errorf("%s not ready after 10s: %s", c.line(), strings.Join(seen, "; "))
		case <-ctx.Done():
			stop()
			return nil, fmt.Errorf("start %s: interrupted", c.argv[0])
		}
	}
}
