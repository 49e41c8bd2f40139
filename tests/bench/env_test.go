// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// printEnv prints what a reader needs to compare two runs: kernel, CPUs,
// date, toolchain and load.
func (b *bench) printEnv() {
	fmt.Fprintf(b.out, "== Nori benchmark (issues 2 and 3)\n")
	rows := [][]string{
		{"date", time.Now().UTC().Format("2006-01-02 15:04:05 MST")},
		{"kernel", firstLine("uname", "-srvm")},
		{"cpu", fmt.Sprintf("%d × %s", runtime.NumCPU(), cpuModel())},
		{"memory", memTotal()},
		{"go", runtime.Version()},
		{"iperf3", firstLine("iperf3", "--version")},
		{"cni plugins", "reference plugins from " + debVersion("containernetworking-plugins")},
		{"load average", loadavg()},
	}
	table(b.out, []string{"environment", "value"}, rows)
}

func firstLine(name string, args ...string) string {
	out, err := exec.Command(name, args...).Output()
	if err != nil {
		return "?"
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

func debVersion(pkg string) string {
	v := firstLine("dpkg-query", "-W", "-f=${Version}", pkg)
	return fmt.Sprintf("Debian %s %s (/usr/lib/cni)", pkg, v)
}

// procField returns the value of the first "key: value" line in a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return "?"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func cpuModel() string { return procField("/proc/cpuinfo", "model name") }
func memTotal() string { return procField("/proc/meminfo", "MemTotal") }
