// Command check asserts what a booted app host produced from its user data, inside the boot-test container
// scripts/boot-test.sh started: cloud-init's result, services, users, sshd's effective settings, the files
// written, nginx, fail2ban, then two real blue/green deploys with deploy.sh as the admin user and a reboot.
// It prints one PASS/FAIL line per assertion and "N passed, M failed", and exits 1 on any failure.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

type options struct {
	docker        string
	container     string
	userData      string
	appImages     string // docker save archive holding image1 and image2
	objects       string // fakeaws' objects: DIR/BUCKET/KEY, the files bundle and host key the host fetched
	image1        string
	image2        string
	adminUser     string
	cmdTimeout    time.Duration
	deployTimeout time.Duration
	rebootTimeout time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.docker, "docker", envOr("DOCKER", "docker"), "docker client binary")
	flag.StringVar(&o.container, "container", "", "boot-test container (required)")
	flag.StringVar(&o.userData, "userdata", "", "the #cloud-config the container booted (required)")
	flag.StringVar(&o.appImages, "app-images", "", "docker save archive of -image1 and -image2 (required)")
	flag.StringVar(&o.image1, "image1", "", "first image to deploy (blue)")
	flag.StringVar(&o.image2, "image2", "", "second image to deploy (green)")
	flag.StringVar(&o.objects, "objects", "", "directory of the S3 objects fakeaws served (DIR/BUCKET/KEY); required when the user data fetches its files")
	flag.StringVar(&o.adminUser, "admin", "", "user that runs deploy.sh (default: the first user with NOPASSWD sudo)")
	flag.DurationVar(&o.cmdTimeout, "cmd-timeout", 2*time.Minute, "bound on each command in the container")
	flag.DurationVar(&o.deployTimeout, "deploy-timeout", 5*time.Minute, "bound on each deploy.sh run")
	flag.DurationVar(&o.rebootTimeout, "reboot-timeout", 5*time.Minute, "bound on the reboot until the services are back")
	flag.Parse()
	var missing []string
	for name, v := range map[string]string{"-container": o.container, "-userdata": o.userData,
		"-app-images": o.appImages, "-image1": o.image1, "-image2": o.image2} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 || flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "check: missing flags %v or stray arguments %v\n", missing, flag.Args())
		flag.Usage()
		os.Exit(2)
	}
	ud, err := loadUserData(o.userData)
	if err == nil {
		err = ud.addFetched(o.objects)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	r := &report{}
	h := &host{opts: o, r: r}
	h.run(ud)
	fmt.Printf("%s: %d passed, %d failed\n", o.container, r.passed, r.failed)
	if r.failed > 0 {
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

type report struct{ passed, failed int }

// check records one assertion: err == nil passes.
func (r *report) check(name string, err error) bool {
	if err == nil {
		r.passed++
		fmt.Printf("PASS %s\n", name)
		return true
	}
	r.failed++
	fmt.Printf("FAIL %s: %s\n", name, indent(err.Error()))
	return false
}

func indent(s string) string { return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n     ") }

type host struct {
	opts options
	r    *report
}

// result of one command in the container.
type result struct {
	out  string // stdout and stderr, interleaved
	code int
}

func (res result) err(what string) error {
	if res.code == 0 {
		return nil
	}
	return fmt.Errorf("%s exited %d:\n%s", what, res.code, tail(res.out, 40))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("... (%d lines cut)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// sh runs a shell command as root in the container, bounded by the command timeout.
func (h *host) sh(script string) result { return h.shT(h.opts.cmdTimeout, nil, script) }

func (h *host) shT(timeout time.Duration, stdin io.Reader, script string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"exec"}
	if stdin != nil {
		args = append(args, "-i")
	}
	args = append(args, h.opts.container, "bash", "-o", "pipefail", "-c", script)
	cmd := exec.CommandContext(ctx, h.opts.docker, args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &buf, &buf, stdin
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return result{out: buf.String() + fmt.Sprintf("\n(timed out after %s)", timeout), code: -1}
	case errors.As(err, &exitErr):
		return result{out: buf.String(), code: exitErr.ExitCode()}
	case err != nil:
		return result{out: buf.String() + "\n" + err.Error(), code: -1}
	}
	return result{out: buf.String(), code: 0}
}

// q quotes a word for the container's shell.
func q(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (h *host) run(ud userData) {
	h.cloudInit()
	h.services(ud)
	h.users(ud)
	h.sshd(ud)
	h.fetched(ud)
	h.files(ud)
	h.nginxIdle()
	h.fail2ban(ud)
	admin := h.admin(ud)
	if !h.r.check("deploy.sh installed for the deploy phase", h.sh("test -x /usr/local/bin/deploy.sh && grep -q . /usr/local/bin/deploy.sh").err("deploy.sh")) {
		return
	}
	if !h.r.check("admin user known", nonEmpty(admin, "no user with NOPASSWD sudo in the user data and no -admin")) {
		return
	}
	h.deploys(admin)
	h.reboot(admin)
}

func nonEmpty(v, msg string) error {
	if v == "" {
		return errors.New(msg)
	}
	return nil
}
