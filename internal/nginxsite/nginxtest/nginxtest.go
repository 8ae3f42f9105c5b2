// Package nginxtest runs the real nginx binary on a temporary prefix for tests: `nginx -t` of a site, or a
// running nginx serving it. A missing nginx fails the test: the tests exist to exercise the real thing.
package nginxtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Binary is the nginx executable, overridable with NGINX for hosts that keep it elsewhere.
func Binary(t testing.TB) string {
	t.Helper()
	name := os.Getenv("NGINX")
	if name == "" {
		name = "nginx"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		// Also look in sbin, which is not on every PATH.
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil && name == "nginx" {
				return p
			}
		}
		t.Fatalf("nginx not found (%v): install the Debian package nginx", err)
	}
	return path
}

// Prefix is an nginx prefix directory holding nginx.conf, which includes the site at http level as Debian's
// sites-enabled does.
type Prefix struct {
	Dir  string
	Conf string
	Site string
	bin  string
}

// NewPrefix writes nginx.conf and the site into a fresh temporary directory.
func NewPrefix(t testing.TB, site string) *Prefix {
	t.Helper()
	dir := t.TempDir()
	p := &Prefix{Dir: dir, Conf: filepath.Join(dir, "nginx.conf"), Site: filepath.Join(dir, "site.conf"), bin: Binary(t)}
	// Temp paths and the pid file are set explicitly: Debian compiles in /var/lib/nginx and /run, which a
	// temporary prefix must not touch. The access log is off: the benchmark would fill the disk.
	conf := fmt.Sprintf(`worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, p.Site)
	if err := os.WriteFile(p.Conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.Site, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// Command returns the nginx command line for this prefix with extra arguments, as shell words (deploy.sh's
// NGINX_TEST_CMD and NGINX_RELOAD_CMD).
func (p *Prefix) Command(extra ...string) string {
	return strings.Join(append([]string{p.bin, "-p", p.Dir, "-c", p.Conf}, extra...), " ")
}

// Test runs `nginx -t` and returns its combined output.
func (p *Prefix) Test() (string, error) {
	out, err := exec.Command(p.bin, "-p", p.Dir, "-c", p.Conf, "-t").CombinedOutput()
	return string(out), err
}

// Start runs nginx (daemonised, as nginx does by default) and stops it when the test ends.
func (p *Prefix) Start(t testing.TB) {
	t.Helper()
	if out, err := exec.Command(p.bin, "-p", p.Dir, "-c", p.Conf).CombinedOutput(); err != nil {
		t.Fatalf("start nginx: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		_ = exec.Command(p.bin, "-p", p.Dir, "-c", p.Conf, "-s", "quit").Run()
		// Wait for the master to exit so the port is free for whoever comes next.
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(filepath.Join(p.Dir, "nginx.pid")); os.IsNotExist(err) {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
}

// ErrorLog returns nginx's error log, for failure messages.
func (p *Prefix) ErrorLog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "error.log"))
	return string(b)
}
