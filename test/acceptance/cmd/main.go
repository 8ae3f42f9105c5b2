// Command acceptance runs deploylab's acceptance test against a real account (.github/workflows/acceptance.yml):
// an ephemeral stack through the Automation API (the program runs inline, as `pulumi up` would run it), the
// checks of package acceptance, and the destroy that follows whatever happened. It needs AWS credentials,
// PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE, and the tools directory scripts/boot-test.sh --app-images built.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"

	"github.com/deploylab/deploylab/infra"
	"github.com/deploylab/deploylab/test/acceptance"
)

func main() {
	var o acceptance.Options
	var tools, key, timeout string
	flag.StringVar(&o.RunID, "run-id", os.Getenv("GITHUB_RUN_ID"), "unique id of this run (stack accept-ID)")
	flag.StringVar(&o.Region, "region", os.Getenv("AWS_REGION"), "aws:region")
	flag.StringVar(&o.AdminCIDR, "admin-cidr", "", "this runner's address as a /32")
	flag.StringVar(&key, "ssh-key", "", "private key file; its .pub is authorized on the app host")
	flag.StringVar(&o.GCPProject, "gcp-project", "", "add a GKE cluster in this project")
	flag.StringVar(&tools, "tools", "", "directory with check and app-images.tar (scripts/boot-test.sh --app-images)")
	flag.StringVar(&timeout, "timeout", "90m", "bound on up and the checks (the destroy has its own)")
	flag.DurationVar(&o.TTL, "ttl", 4*time.Hour, "expiresAt = now + ttl: the reaper destroys a stack this run leaves")
	flag.Parse()
	o.Now = time.Now()
	pub, err := os.ReadFile(key + ".pub")
	if err != nil {
		fail(2, "read the SSH public key: %v", err)
	}
	o.SSHPublicKey = strings.TrimSpace(string(pub))
	cfg, err := acceptance.StackConfig(o)
	if err != nil {
		fail(2, "%v", err)
	}
	bound, err := time.ParseDuration(timeout)
	if err != nil {
		fail(2, "-timeout: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()

	st, err := newStack(ctx, acceptance.StackName(o.RunID), cfg)
	if err != nil {
		fail(1, "create the stack: %v", err)
	}
	knownHosts := filepath.Join(filepath.Dir(key), "known_hosts")
	p := &probes{tools: tools, sshOpts: "-i " + key + " -o StrictHostKeyChecking=accept-new -o UserKnownHostsFile=" + knownHosts}
	res := acceptance.Run(ctx, st, func(out acceptance.Outputs) []acceptance.Check {
		return acceptance.Plan(out, o.GCPProject != "", p)
	}, acceptance.Settings{CheckTimeout: 45 * time.Minute, DestroyTimeout: 45 * time.Minute, DestroyAttempts: 3, RetryWait: time.Minute}, os.Stdout)
	os.Exit(res.ExitCode())
}

func fail(code int, format string, a ...any) {
	fmt.Fprintf(os.Stderr, "acceptance: "+format+"\n", a...)
	os.Exit(code)
}

// stack is acceptance.Stack on the Automation API, running infra.Program inline.
type stack struct{ s auto.Stack }

func newStack(ctx context.Context, name string, cfg map[string]string) (*stack, error) {
	s, err := auto.UpsertStackInlineSource(ctx, name, "deploylab", infra.Program,
		auto.Project(workspace.Project{Name: tokens.PackageName("deploylab"), Runtime: workspace.NewProjectRuntimeInfo("go", nil)}),
		auto.SecretsProvider("passphrase"))
	if err != nil {
		return nil, err
	}
	cm := auto.ConfigMap{}
	for k, v := range cfg {
		cm[k] = auto.ConfigValue{Value: v}
	}
	if err := s.SetAllConfigWithOptions(ctx, cm, &auto.ConfigOptions{Path: true}); err != nil {
		return nil, err
	}
	return &stack{s: s}, nil
}

func (st *stack) Up(ctx context.Context) (acceptance.Outputs, error) {
	res, err := st.s.Up(ctx, optup.ProgressStreams(os.Stdout))
	out := acceptance.Outputs{}
	for k, v := range res.Outputs {
		if s, ok := v.Value.(string); ok {
			out[k] = s
		}
	}
	return out, err
}

func (st *stack) Destroy(ctx context.Context) error {
	_, err := st.s.Destroy(ctx, optdestroy.ProgressStreams(os.Stdout))
	return err
}

func (st *stack) Remove(ctx context.Context) error {
	return st.s.Workspace().RemoveStack(ctx, st.s.Name())
}

// probes are the checks' real work.
type probes struct{ tools, sshOpts string }

func (p *probes) ssh(ctx context.Context, target string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ssh", append(append(strings.Fields("-o BatchMode=yes -o ConnectTimeout=15 "+p.sshOpts), target), args...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// Host waits for SSH, fetches the user data the host booted (cloud-init keeps it, gzipped as sent), and runs the
// boot checker over SSH. With an ALB it probes the ALB all along: once it has served, no request may fail until
// the checker reboots the host (a single host cannot serve through its own reboot).
func (p *probes) Host(ctx context.Context, target, albDNS string) error {
	var userData []byte
	err := retry(ctx, 10*time.Minute, func() error {
		var err error
		userData, err = p.ssh(ctx, target, "sudo cat /var/lib/cloud/instance/user-data.txt | gzip -dcf").Output()
		return err
	})
	if err != nil {
		return fmt.Errorf("fetch the user data over SSH: %w", err)
	}
	ud := filepath.Join(p.tools, "user-data.yaml")
	if err := os.WriteFile(ud, userData, 0o600); err != nil {
		return err
	}
	// Run from the repository root, as the workflow does.
	shim, err := filepath.Abs(filepath.Join("test", "acceptance", "docker-over-ssh.sh"))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(p.tools, "check"), "-docker", shim, "-container", target, "-userdata", ud,
		"-app-images", filepath.Join(p.tools, "app-images.tar"), "-image1", "deploylab-testapp:boot-v1", "-image2", "deploylab-testapp:boot-v2",
		"-cmd-timeout", "10m", "-deploy-timeout", "10m", "-reboot-timeout", "10m")
	cmd.Env = append(os.Environ(), "SSH_OPTS="+p.sshOpts)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var rebooting, served, failed atomic.Int64
	done := make(chan struct{})
	if albDNS != "" {
		go probeALB(ctx, "http://"+albDNS+"/", done, &rebooting, &served, &failed)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		fmt.Println(line)
		if strings.Contains(line, "reboot (docker restart)") {
			rebooting.Store(1)
		}
	}
	err = cmd.Wait()
	close(done)
	if err != nil {
		return fmt.Errorf("boot checker: %w", err)
	}
	if albDNS != "" {
		if served.Load() == 0 {
			return errors.New("the ALB never answered 200 while the checker deployed")
		}
		if n := failed.Load(); n > 0 {
			return fmt.Errorf("%d requests through the ALB failed after it first served (of %d answered)", n, served.Load())
		}
	}
	return nil
}

// probeALB sends one request every 200 ms (bounded: it stops with done) and counts failures after the first 200
// and before the reboot.
func probeALB(ctx context.Context, url string, done <-chan struct{}, rebooting, served, failed *atomic.Int64) {
	client := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get(url)
		ok := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		switch {
		case ok:
			served.Add(1)
		case served.Load() > 0 && rebooting.Load() == 0:
			failed.Add(1)
		}
	}
}

// Jenkins logs in with the admin password (the key policy lets the deployer decrypt it through SSM) and checks the
// UI and both jobs answer. The controller builds its image at first boot, so it waits up to 20 minutes.
func (p *probes) Jenkins(ctx context.Context, url, passwordParameter string) error {
	pw, err := exec.CommandContext(ctx, "aws", "ssm", "get-parameter", "--name", passwordParameter, "--with-decryption",
		"--query", "Parameter.Value", "--output", "text").Output()
	if err != nil {
		return fmt.Errorf("read %s: %w", passwordParameter, err)
	}
	get := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(url, "/")+path, nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("admin", strings.TrimSpace(string(pw)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	}
	if err := retry(ctx, 20*time.Minute, func() error { return get("/login") }); err != nil {
		return err
	}
	// JCasC creates the jobs at start; app-promote replaces app-deploy only where promoteFrom is set. The deploy
	// job lives in the deploy folder, the only place its credential exists.
	return errors.Join(get("/job/app-dev/api/json"), get("/job/deploy/job/app-deploy/api/json"))
}

// GKE checks every node reports Ready with the stack's kubeconfig.
func (p *probes) GKE(ctx context.Context, kubeconfig string) error {
	f := filepath.Join(p.tools, "kubeconfig")
	if err := os.WriteFile(f, []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "kubectl", "--kubeconfig", f, "get", "nodes", "-o", "json").Output()
	if err != nil {
		return fmt.Errorf("kubectl get nodes: %w", err)
	}
	var nodes struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.Unmarshal(out, &nodes); err != nil {
		return err
	}
	if len(nodes.Items) == 0 {
		return errors.New("no nodes")
	}
	var notReady []string
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready {
			notReady = append(notReady, n.Metadata.Name)
		}
	}
	if len(notReady) > 0 {
		return fmt.Errorf("nodes not Ready: %v", notReady)
	}
	return nil
}

// retry calls f every 15 s until it succeeds, ctx ends or limit passes.
func retry(ctx context.Context, limit time.Duration, f func() error) error {
	deadline := time.Now().Add(limit)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(15 * time.Second):
		}
	}
}
