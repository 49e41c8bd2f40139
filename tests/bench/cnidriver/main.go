// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

// Command cnidriver drives CNI network lists through libcni, as a container
// runtime does, for Nori's benchmark. It runs inside a simulated host's
// network namespace (nsenter --net), because plugins such as bridge act on
// the namespace of the process that executes them.
//
//	cnidriver latency -cni-path DIR -cache-dir DIR -netns-prefix P -cycles N -block B NAME=CONFLIST...
//	cnidriver add -cni-path DIR -cache-dir DIR -id ID -netns PATH [-print-start] CONFLIST
//	cnidriver del -cni-path DIR -cache-dir DIR -id ID -netns PATH CONFLIST
//
// latency prints JSON {"NAME": {"add": [ns...], "del": [ns...]}}; add
// prints the result's first IPv4 address and, with -print-start, the wall
// clock (Unix ns) just before the ADD, so a caller can time from there
// without this process's start-up. SIGINT is ignored (the parent
// owns Ctrl-C) and SIGTERM stops latency after the current cycle, which
// still deletes its attachment and namespace.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cnidriver latency|add|del [flags]")
		os.Exit(2)
	}
	signal.Ignore(syscall.SIGINT)
	var stop atomic.Bool
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		stop.Store(true)
	}()

	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	cniPath := fs.String("cni-path", "", "plugin directory")
	cacheDir := fs.String("cache-dir", "", "libcni cache directory")
	prefix := fs.String("netns-prefix", "nbench", "name prefix of the namespaces latency creates")
	cycles := fs.Int("cycles", 100, "timed ADD/DEL cycles per network")
	warmup := fs.Int("warmup", 5, "untimed cycles per network before timing")
	block := fs.Int("block", 10, "cycles per network before switching to the next")
	id := fs.String("id", "", "container ID (add, del)")
	netnsPath := fs.String("netns", "", "container netns path (add, del)")
	printStart := fs.Bool("print-start", false, "add: also print the Unix time in ns at which the ADD started")
	_ = fs.Parse(os.Args[2:])

	cni := libcni.NewCNIConfigWithCacheDir([]string{*cniPath}, *cacheDir, nil)
	d := &driver{cni: cni, stop: &stop}
	var err error
	switch os.Args[1] {
	case "latency":
		err = d.latency(*prefix, *cycles, *warmup, *block, fs.Args())
	case "add", "del":
		if fs.NArg() != 1 {
			err = fmt.Errorf("want exactly one conflist")
			break
		}
		err = d.one(os.Args[1], fs.Arg(0), *id, *netnsPath, *printStart)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "cnidriver: %v\n", err)
		os.Exit(1)
	}
}

type driver struct {
	cni  *libcni.CNIConfig
	stop *atomic.Bool
}

// runtimeConf is what a runtime passes: a container ID that no runtime
// would produce (so the agent resolves no labels), IgnoreUnknown, eth0.
func runtimeConf(id, netns string) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: id,
		NetNS:       netns,
		IfName:      "eth0",
		Args:        [][2]string{{"IgnoreUnknown", "1"}},
	}
}

// one runs a single ADD or DEL.
func (d *driver) one(verb, file, id, netns string, printStart bool) error {
	list, err := libcni.ConfListFromFile(file)
	if err != nil {
		return fmt.Errorf("load conflist %s: %w", file, err)
	}
	ctx := context.Background()
	rt := runtimeConf(id, netns)
	if verb == "del" {
		if err := d.cni.DelNetworkList(ctx, list, rt); err != nil {
			return fmt.Errorf("del %s: %w", list.Name, err)
		}
		return nil
	}
	start := time.Now()
	res, err := d.cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return fmt.Errorf("add %s: %w", list.Name, err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("convert result: %w", err)
	}
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() != nil {
			if printStart {
				fmt.Println(ip.Address.IP.String(), start.UnixNano())
			} else {
				fmt.Println(ip.Address.IP.String())
			}
			return nil
		}
	}
	return fmt.Errorf("add %s: result has no IPv4 address", list.Name)
}

// samples are one network's timings in nanoseconds.
type samples struct {
	Add []int64 `json:"add"`
	Del []int64 `json:"del"`
}

// latency times ADD and DEL of every network in turn, block cycles at a
// time, so that load on the machine hits all networks alike.
func (d *driver) latency(prefix string, cycles, warmup, block int, specs []string) error {
	type network struct {
		name string
		list *libcni.NetworkConfigList
	}
	var nets []network
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("bad network %q: want NAME=CONFLIST", s)
		}
		list, err := libcni.ConfListFromFile(file)
		if err != nil {
			return fmt.Errorf("load conflist %s: %w", file, err)
		}
		nets = append(nets, network{name, list})
	}
	out := map[string]*samples{}
	for _, n := range nets {
		out[n.name] = &samples{}
		for i := 0; i < warmup; i++ {
			if _, _, err := d.cycle(prefix, n.name, i, n.list); err != nil {
				return fmt.Errorf("warm-up: %w", err)
			}
		}
	}
	seq := 0
	for done := 0; done < cycles; done += block {
		for _, n := range nets {
			for i := 0; i < block && done+i < cycles; i++ {
				if d.stop.Load() {
					return fmt.Errorf("stopped by SIGTERM")
				}
				seq++
				add, del, err := d.cycle(prefix, n.name, seq, n.list)
				if err != nil {
					return err
				}
				s := out[n.name]
				s.Add = append(s.Add, add)
				s.Del = append(s.Del, del)
			}
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}
