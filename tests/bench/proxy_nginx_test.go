// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

//go:build bench

package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// nginxConf is the anchor's configuration: TLS on listen with the same
// certificate as Nori, HTTP/1.1 with keep-alive to the backend on
// loopback, nothing logged per request, every path nginx writes in dir.
// TLS 1.3 is named because nginx 1.22's default protocols lack it.
// keepalive_requests is raised (default 1000) so that a keep-alive run
// keeps its connections, as Nori's proxy does.
func nginxConf(dir, listen, backend, crt, key string) string {
	return fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log stderr notice;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream backend {
        server %[3]s;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen %[2]s ssl;
        ssl_certificate %[4]s;
        ssl_certificate_key %[5]s;
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_requests 1000000;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, dir, listen, backend, crt, key)
}

// startNginx runs nginx in the server's netns until the returned stop,
// which ends it and its workers; the PID is the master's.
func (b *bench) startNginx(netns, crt, key string) (func(), int) {
	b.t.Helper()
	dir, err := os.MkdirTemp(b.tools, "nginx-")
	if err != nil {
		b.t.Fatalf("create nginx directory: %v", err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(nginxConf(dir, proxyNginxPort, "127.0.0.1:"+proxyNoriPort, crt, key)), 0o644); err != nil {
		b.t.Fatalf("write nginx config: %v", err)
	}
	// nsenter execs nginx in place, so the process started is the master.
	stop, err := inNetns(netns, "nginx", "-e", "stderr", "-c", conf, "-g", "daemon off;").server(b.ctx, "start worker process")
	if err != nil {
		b.t.Fatalf("start nginx: %v", err)
	}
	master, err := readPID(filepath.Join(dir, "nginx.pid"))
	if err != nil {
		stop()
		b.t.Fatalf("nginx: %v", err)
	}
	version, _ := exec.Command("nginx", "-v").CombinedOutput() // nginx prints it on stderr
	fmt.Fprintf(b.out, "%s (Debian %s): master pid %d, %d workers, config %s\n", strings.TrimSpace(string(version)),
		firstLine("dpkg-query", "-W", "-f=${Package} ${Version}", "nginx-light"), master, len(childPIDs(master)), conf)
	return func() {
		// Killing the master alone would orphan its workers: SIGTERM
		// (fast shutdown) lets it end them, then whatever is left is
		// killed by PID.
		workers := childPIDs(master)
		_ = syscall.Kill(master, syscall.SIGTERM)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) && anyAlive(append(workers, master)) {
			time.Sleep(50 * time.Millisecond)
		}
		for _, pid := range workers {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		stop()
	}, master
}

// readPID waits briefly for a pid file and parses it.
func readPID(path string) (int, error) {
	var last error
	for range 50 {
		raw, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err == nil && pid > 0 {
				return pid, nil
			}
			last = fmt.Errorf("parse %s: %q", path, raw)
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 0, fmt.Errorf("read pid file: %w", last)
}

// childPIDs lists the processes whose parent is pid.
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var kids []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces and ')'.
		i := strings.LastIndexByte(string(raw), ')')
		f := strings.Fields(string(raw[i+1:]))
		if i >= 0 && len(f) > 1 && f[1] == strconv.Itoa(pid) {
			kids = append(kids, p)
		}
	}
	return kids
}

// anyAlive reports whether a process in pids exists and is not a zombie.
func anyAlive(pids []int) bool {
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(raw), ')')
		if f := strings.Fields(string(raw[i+1:])); len(f) > 0 && f[0] != "Z" {
			return true
		}
	}
	return false
}
