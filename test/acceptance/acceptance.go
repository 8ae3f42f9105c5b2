// Package acceptance is deploylab's test against a real account, for users who have one: it brings up an
// ephemeral dev-like stack with the Automation API, checks over SSH and HTTP what the boot test checks locally
// (the boot test's own checker, test/boot/check, run against the host through docker-over-ssh.sh), then destroys
// the stack even when a check failed, timed out or panicked.
//
// This file is the plan and the decision logic, unit-tested without a cloud. The cloud part (cmd/) needs
// credentials and runs in .github/workflows/acceptance.yml.
package acceptance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"time"
)

// Options describe one run.
type Options struct {
	// RunID makes the stack name unique (the workflow's run id). Required.
	RunID string
	// Region is aws:region. Required.
	Region string
	// AdminCIDR is the runner's address as a /32: the only network that reaches SSH and Jenkins. Required.
	AdminCIDR string
	// SSHPublicKey is the run's own key, authorized for the admin user. Required.
	SSHPublicKey string
	// GCPProject adds a GKE cluster to the stack (checked with kubectl get nodes). Optional.
	GCPProject string
	// Now and TTL give expiresAt: a stack this run fails to destroy is destroyed by the reaper after TTL.
	Now time.Time
	TTL time.Duration
}

// AdminUser is the app host's admin user in the acceptance stack.
const AdminUser = "deploy"

var runIDRe = regexp.MustCompile(`^[A-Za-z0-9-]{1,40}$`)

// StackName is the stack of a run: accept-RUNID.
func StackName(runID string) string { return "accept-" + strings.ToLower(runID) }

// StackConfig returns the run's stack configuration as path keys (Automation API, ConfigOptions{Path: true}).
// The stack is a training stack with an expiry, not dev: dev has no expiry, so a stack that survived a failed
// destroy would bill until someone noticed; a training stack is reaped by reap.yml after TTL.
func StackConfig(o Options) (map[string]string, error) {
	var errs []error
	if !runIDRe.MatchString(o.RunID) {
		errs = append(errs, fmt.Errorf("run id %q: want 1-40 letters, digits or -", o.RunID))
	}
	if o.Region == "" {
		errs = append(errs, errors.New("region is required (aws:region)"))
	}
	if ip, n, err := net.ParseCIDR(o.AdminCIDR); err != nil || ip.To4() == nil || n.Mask.String() != "ffffffff" {
		errs = append(errs, fmt.Errorf("admin CIDR %q: want the runner's IPv4 address as a /32", o.AdminCIDR))
	}
	if !strings.HasPrefix(o.SSHPublicKey, "ssh-ed25519 ") {
		errs = append(errs, fmt.Errorf("SSH public key %.20q...: want an ssh-ed25519 key", o.SSHPublicKey))
	}
	if o.TTL < time.Hour || o.TTL > 24*time.Hour {
		errs = append(errs, fmt.Errorf("TTL %s: want 1h to 24h", o.TTL))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	c := map[string]string{
		"aws:region":                         o.Region,
		"deploylab:env":                      "training",
		"deploylab:owner":                    "acceptance-" + strings.ToLower(o.RunID),
		"deploylab:expiresAt":                o.Now.Add(o.TTL).UTC().Format(time.RFC3339),
		"deploylab:adminCidrs[0]":            o.AdminCIDR,
		"deploylab:appHost.enabled":          "true",
		"deploylab:appHost.adminUser":        AdminUser,
		"deploylab:appHost.sshPublicKeys[0]": o.SSHPublicKey,
		"deploylab:blueGreen.enabled":        "true",
		"deploylab:jenkins.enabled":          "true",
		"deploylab:gke.enabled":              "false",
	}
	if o.GCPProject != "" {
		c["deploylab:gke.enabled"] = "true"
		c["deploylab:gke.project"] = o.GCPProject
	}
	return c, nil
}

// Outputs are the stack outputs the checks read.
type Outputs map[string]string

// Stack is what a run does to its stack; cmd/ implements it with the Automation API.
type Stack interface {
	Up(ctx context.Context) (Outputs, error)
	Destroy(ctx context.Context) error
	Remove(ctx context.Context) error
}

// Check is one assertion against the running stack.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Result is what a run found.
type Result struct {
	UpErr      error
	Failed     []string // names of failed checks
	Passed     int
	DestroyErr error
}

// ExitCode: 0 all passed and destroyed; 1 up or a check failed (destroyed); 3 the stack could not be destroyed
// (it is left for the reaper, and the run says so loudly).
func (r Result) ExitCode() int {
	switch {
	case r.DestroyErr != nil:
		return 3
	case r.UpErr != nil || len(r.Failed) > 0:
		return 1
	}
	return 0
}

// Settings bound a run.
type Settings struct {
	// CheckTimeout bounds each check.
	CheckTimeout time.Duration
	// DestroyTimeout bounds each destroy attempt; DestroyAttempts is how many are made.
	DestroyTimeout  time.Duration
	DestroyAttempts int
	// RetryWait is the pause between destroy attempts.
	RetryWait time.Duration
}

// Run brings the stack up, runs the checks that apply to its outputs, and always destroys it: after a failed up
// (a half-created stack bills too), a failed or panicking check, or a cancelled ctx (the destroy gets a context
// of its own). The stack is removed from the backend only once destroyed.
func Run(ctx context.Context, st Stack, checks func(Outputs) []Check, s Settings, log io.Writer) (res Result) {
	defer func() {
		res.DestroyErr = destroy(ctx, st, s, log)
		fmt.Fprintf(log, "acceptance: %d passed, %d failed, up error: %v, destroy error: %v\n",
			res.Passed, len(res.Failed), res.UpErr, res.DestroyErr)
	}()
	out, err := st.Up(ctx)
	if err != nil {
		res.UpErr = err
		fmt.Fprintf(log, "FAIL up: %v\n", err)
		return res
	}
	for _, c := range checks(out) {
		if err := runCheck(ctx, c, s.CheckTimeout); err != nil {
			res.Failed = append(res.Failed, c.Name)
			fmt.Fprintf(log, "FAIL %s: %v\n", c.Name, err)
			continue
		}
		res.Passed++
		fmt.Fprintf(log, "PASS %s\n", c.Name)
	}
	return res
}

func runCheck(ctx context.Context, c Check, timeout time.Duration) (err error) {
	if ctx.Err() != nil {
		return fmt.Errorf("not run: %w", ctx.Err())
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return c.Run(cctx)
}

func destroy(ctx context.Context, st Stack, s Settings, log io.Writer) error {
	// Not ctx itself: a run cut short (timeout, cancel) must still clean up.
	base := context.WithoutCancel(ctx)
	var err error
	for attempt := 1; attempt <= s.DestroyAttempts; attempt++ {
		dctx, cancel := context.WithTimeout(base, s.DestroyTimeout)
		err = st.Destroy(dctx)
		cancel()
		if err == nil {
			break
		}
		fmt.Fprintf(log, "acceptance: destroy attempt %d/%d failed: %v\n", attempt, s.DestroyAttempts, err)
		if attempt < s.DestroyAttempts {
			time.Sleep(s.RetryWait)
		}
	}
	if err != nil {
		fmt.Fprintln(log, "acceptance: THE STACK IS LEFT RUNNING; reap.yml destroys it after its expiresAt")
		return err
	}
	rctx, cancel := context.WithTimeout(base, s.DestroyTimeout)
	defer cancel()
	return st.Remove(rctx)
}

// Plan names the checks that apply to a stack's outputs, so a run checks what the stack has and fails when an
// output it must have is missing: the host always; the ALB, Jenkins and GKE when enabled.
func Plan(out Outputs, gke bool, p Probes) []Check {
	need := func(key string) error {
		if out[key] == "" {
			return fmt.Errorf("stack output %s is missing", key)
		}
		return nil
	}
	checks := []Check{
		{"app host: boot checker over SSH (cloud-init, services, two deploys, reboot)", func(ctx context.Context) error {
			if err := need("appPublicIp"); err != nil {
				return err
			}
			return p.Host(ctx, AdminUser+"@"+out["appPublicIp"], out["albDnsName"])
		}},
		{"Jenkins answers and its jobs exist", func(ctx context.Context) error {
			if err := errors.Join(need("jenkinsUrl"), need("jenkinsAdminPasswordParameter")); err != nil {
				return err
			}
			return p.Jenkins(ctx, out["jenkinsUrl"], out["jenkinsAdminPasswordParameter"])
		}},
	}
	if gke {
		checks = append(checks, Check{"GKE: kubectl get nodes", func(ctx context.Context) error {
			if err := need("kubeconfig"); err != nil {
				return err
			}
			return p.GKE(ctx, out["kubeconfig"])
		}})
	}
	return checks
}

// Probes are the checks' real work, which needs the cloud (cmd/ implements them).
type Probes interface {
	// Host runs the boot checker against target (USER@ADDRESS) while albDNS, when set, is probed for failed
	// requests through both deploys.
	Host(ctx context.Context, target, albDNS string) error
	// Jenkins checks the UI answers and the jobs exist, logging in with the password in the SSM parameter.
	Jenkins(ctx context.Context, url, passwordParameter string) error
	// GKE checks every node of the cluster is Ready.
	GKE(ctx context.Context, kubeconfig string) error
}
