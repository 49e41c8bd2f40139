// SPDX-License-Identifier: Apache-2.0
// Copyright The Nori Authors.

package harness

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// BusyboxImage is the name under which LoadImage loads the busybox test image
// (built by tests/image/build.sh from Debian's busybox-static).
const BusyboxImage = "localhost/nori-busybox:latest"

// mainModule identifies the repository root's go.mod; tests/tools has its own.
const mainModule = "github.com/nori-net/nori"

// installHint is what every missing-prerequisite failure tells the user.
const installHint = "run scripts/install-test-deps.sh as root"

// RepoRoot returns the repository root: the nearest directory above the
// working directory (go test runs in the package directory) whose go.mod
// declares the main module, falling back to this source file's location.
func RepoRoot() string {
	if wd, err := os.Getwd(); err == nil {
		if root := findRoot(wd); root != "" {
			return root
		}
	}
	_, file, _, ok := runtime.Caller(0)
	if ok {
		if root := findRoot(filepath.Dir(file)); root != "" {
			return root
		}
	}
	return "."
}

func findRoot(dir string) string {
	for {
		if isMainModule(filepath.Join(dir, "go.mod")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isMainModule(goMod string) bool {
	f, err := os.Open(goMod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(rest) == mainModule
		}
	}
	return false
}

// noriBinaries are what `make build` puts into BinDir.
var noriBinaries = []string{"nori-agent", "nori-cni", "nori-ipam", "nori", "nori-docker"}

// binDir is BinDir without the check, for symlinks made before the binaries
// exist (AddHost works without nori, so the harness can test itself).
func binDir() string {
	if d := os.Getenv("NORI_BIN_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), "bin")
}

// BinDir returns $NORI_BIN_DIR or <repo>/bin and fails the test when a nori
// binary is missing there.
func BinDir(t testing.TB) string {
	t.Helper()
	d := binDir()
	var missing []string
	for _, b := range noriBinaries {
		if !isExecutable(filepath.Join(d, b)) {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("nori binaries missing in %s: %s: run make build (or set NORI_BIN_DIR)", d, strings.Join(missing, ", "))
	}
	return d
}

// CacheDir holds what install-test-deps.sh builds: bin/nerdctl and
// image/{busybox.tar,rootfs.tar}. $NORI_CACHE_DIR overrides <repo>/.cache.
func CacheDir() string {
	if d := os.Getenv("NORI_CACHE_DIR"); d != "" {
		return d
	}
	return filepath.Join(RepoRoot(), ".cache")
}

// imageArchive is the docker-archive of BusyboxImage.
func imageArchive() string { return filepath.Join(CacheDir(), "image", "busybox.tar") }

// NerdctlPath returns the nerdctl built from tests/tools, else one on $PATH.
func NerdctlPath(t testing.TB) string {
	t.Helper()
	Require(t, "nerdctl")
	return nerdctlPath()
}

func nerdctlPath() string {
	p := filepath.Join(CacheDir(), "bin", "nerdctl")
	if isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath("nerdctl"); err == nil {
		return p
	}
	return ""
}

// Require fails the test naming every tool that is missing. Tools are looked
// up on $PATH, except the names listed in the package documentation.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	var missing []string
	for _, tool := range tools {
		ok := false
		switch tool {
		case "nerdctl":
			ok = nerdctlPath() != ""
		case "busybox-image":
			_, err := os.Stat(imageArchive())
			ok = err == nil
		case "nori-binaries":
			ok = true
			for _, b := range noriBinaries {
				ok = ok && isExecutable(filepath.Join(binDir(), b))
			}
			if !ok {
				BinDir(t)
			}
		default:
			_, err := exec.LookPath(tool)
			ok = err == nil
		}
		if !ok {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing test prerequisites: %s: %s", strings.Join(missing, ", "), installHint)
	}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}
