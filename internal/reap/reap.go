// Package reap implements `deploylab reap`: it destroys and removes the training
// stacks of project deploylab whose expiresAt output is past, and keeps every
// other stack, saying why. It drives the Pulumi CLI through the Automation API,
// against whatever backend the CLI is logged in to (PULUMI_BACKEND_URL honoured).
package reap

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Project is the Pulumi project whose stacks the reaper considers; stacks of
// other projects in the same backend are never listed.
const Project = "deploylab"

// defaultParallel is small on purpose: every destroy is a CLI process plus the
// provider plugins it loads, and cloud APIs throttle bursts of deletes.
const defaultParallel = 2

// Exit codes of Command.
const (
	exitOK     = 0
	exitFailed = 1 // listing failed, or a stack could not be read, destroyed or removed
	exitUsage  = 2
)

// Options control one reap run.
type Options struct {
	// Now is the time expiry is judged against.
	Now time.Time
	// Yes destroys for real; without it the run only reports.
	Yes bool
	// Parallel is how many stacks are read and destroyed at once (>= 1).
	Parallel int
}

// Result is one line of the table.
type Result struct {
	Stack string
	Decision
	// Done is what actually happened: keep, would-destroy, destroyed,
	// cleanup-failed, destroy-failed, remove-failed or read-failed.
	Done string
	// Err is set when reading, destroying or removing the stack failed.
	Err error
}

// Command is the entry point of `deploylab reap ARGS`. It returns the exit code:
// 0 all went well, 1 something failed (after trying every stack), 2 usage.
func Command(args []string, stdout, stderr io.Writer) int {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "reap: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	results, err := Run(ctx, opts)
	if err != nil {
		fmt.Fprintf(stderr, "reap: %v\n", err)
		return exitFailed
	}
	if err := writeTable(stdout, results); err != nil {
		fmt.Fprintf(stderr, "reap: writing the table: %v\n", err)
		return exitFailed
	}
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			// The full CLI output goes to stderr; the table only has the gist.
			fmt.Fprintf(stderr, "reap: stack %s: %v\n", r.Stack, r.Err)
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "reap: %d of %d stacks failed; see docs/operations.md, \"Recover from a failed destroy\"\n",
			failed, len(results))
		return exitFailed
	}
	if !opts.Yes {
		fmt.Fprintln(stderr, "reap: dry run; pass --yes to destroy the stacks marked would-destroy")
	}
	return exitOK
}

func parseArgs(args []string, stderr io.Writer) (Options, error) {
	fs := flag.NewFlagSet("reap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: deploylab reap [--now RFC3339] [--yes] [--parallel N]\n\n"+
			"Destroys and removes the stacks of project %s whose outputs say env=training and\n"+
			"whose expiresAt is past. Dry run unless --yes.\n\n", Project)
		fs.PrintDefaults()
	}
	now := fs.String("now", "", "judge expiry at this RFC 3339 time instead of the clock (for tests and rehearsals)")
	yes := fs.Bool("yes", false, "destroy and remove the expired training stacks (default: dry run)")
	parallel := fs.Int("parallel", defaultParallel, "how many stacks to process at once (1 or more)")
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected argument %q: reap takes flags only", fs.Arg(0)))
	}
	opts := Options{Now: time.Now(), Yes: *yes, Parallel: *parallel}
	if *now != "" {
		t, err := time.Parse(time.RFC3339, *now)
		if err != nil {
			problems = append(problems, fmt.Sprintf("--now %q is not an RFC 3339 time (e.g. 2026-12-01T18:00:00+09:00)", *now))
		}
		opts.Now = t
	}
	if *parallel < 1 {
		problems = append(problems, fmt.Sprintf("--parallel %d: want 1 or more", *parallel))
	}
	if len(problems) > 0 {
		return Options{}, errors.New(strings.Join(problems, "; "))
	}
	return opts, nil
}

// Run lists the project's stacks and judges (and with Yes, reaps) each of them,
// Parallel at a time. A stack's failure is recorded in its Result and never stops
// the others; the error return is only for failures that stop the whole run.
func Run(ctx context.Context, opts Options) ([]Result, error) {
	if opts.Parallel < 1 {
		return nil, fmt.Errorf("parallel %d: want 1 or more", opts.Parallel)
	}
	// One CLI handle for every workspace, so its version is checked once.
	cli, err := auto.NewPulumiCommand(nil)
	if err != nil {
		return nil, fmt.Errorf("finding the pulumi CLI on PATH: %w", err)
	}
	names, err := listStacks(ctx, cli)
	if err != nil {
		return nil, err
	}
	results := make([]Result, len(names))
	sem := make(chan struct{}, opts.Parallel)
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			results[i] = reapOne(ctx, cli, name, opts)
		}()
	}
	wg.Wait()
	return results, nil
}

func listStacks(ctx context.Context, cli auto.PulumiCommand) ([]string, error) {
	ws, cleanup, err := newWorkspace(ctx, cli)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	stacks, err := ws.ListStacks(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the stacks of project %s: %w", Project, err)
	}
	names := make([]string, 0, len(stacks))
	for _, s := range stacks {
		names = append(names, s.Name)
	}
	sort.Strings(names)
	return names, nil
}

// reapOne judges one stack and, when told to and the verdict is Destroy,
// destroys it and then removes it from the backend.
func reapOne(ctx context.Context, cli auto.PulumiCommand, name string, opts Options) Result {
	res := Result{Stack: name}
	// A workspace per stack: parallel CLI runs then never share a work directory
	// or its "current stack" file.
	ws, cleanup, err := newWorkspace(ctx, cli)
	if err != nil {
		res.Done, res.Reason, res.Err = "read-failed", "cannot open a workspace", err
		return res
	}
	defer cleanup()
	var outputs map[string]any
	stack, err := auto.SelectStack(ctx, name, ws)
	if err == nil {
		var raw auto.OutputMap
		if raw, err = stack.Outputs(ctx); err == nil {
			outputs = plain(raw)
			res.Decision = decide(outputs, opts.Now)
		}
	}
	if err != nil {
		// Unreadable is not provably expired: keep it, but make the run fail so
		// an expired stack cannot hide behind, say, a wrong passphrase.
		res.Action, res.Done, res.Reason, res.Err = Keep, "read-failed", "cannot read outputs: "+gist(err), err
		return res
	}
	switch {
	case res.Action != Destroy:
		res.Done = string(Keep)
	case !opts.Yes:
		res.Done = "would-destroy"
	default:
		res.Done, res.Err = cleanAndDestroy(ctx, ws, stack, outputs)
		if res.Err != nil {
			res.Reason += "; " + gist(res.Err)
		}
	}
	if _, ok := clusterKubeconfig(outputs); ok {
		switch res.Done {
		case "would-destroy":
			res.Reason += "; would first delete its cluster's load balancers, ingresses and volumes"
		case "destroyed", "destroy-failed", "remove-failed":
			res.Reason += "; cluster cleaned first (load balancers, ingresses, volumes)"
		}
	}
	return res
}

// cleanAndDestroy empties the stack's cluster of what would outlive it (cluster.go), then destroys. A
// failed cleanup stops before the destroy: destroying anyway would leave the leftovers billing where
// nothing can find them, and the VPC's delete would fail on their firewall rules.
func cleanAndDestroy(ctx context.Context, ws auto.Workspace, stack auto.Stack, outputs map[string]any) (string, error) {
	if kc, ok := clusterKubeconfig(outputs); ok {
		if _, err := cleanCluster(ctx, kc); err != nil {
			return "cleanup-failed", fmt.Errorf("error: cleaning the cluster before destroy: %w", err)
		}
	}
	return destroyAndRemove(ctx, ws, stack)
}

func destroyAndRemove(ctx context.Context, ws auto.Workspace, stack auto.Stack) (string, error) {
	if _, err := stack.Destroy(ctx); err != nil {
		return "destroy-failed", err
	}
	// Removed only after a clean destroy: a stack with resources left must stay
	// in the backend so an operator can see and fix them.
	if err := ws.RemoveStack(ctx, stack.Name()); err != nil {
		return "remove-failed", err
	}
	return "destroyed", nil
}

// newWorkspace is an inline-source workspace of project deploylab in a fresh
// temporary directory. The program is never run (the reaper neither previews nor
// updates); it is there so the CLI uses this process as the language host rather
// than looking for pulumi-language-go, which operator machines and CI runners
// need not have. Destroy works from state alone.
func newWorkspace(ctx context.Context, cli auto.PulumiCommand) (auto.Workspace, func(), error) {
	dir, err := os.MkdirTemp("", "deploylab-reap-")
	if err != nil {
		return nil, nil, fmt.Errorf("creating a workspace directory: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	ws, err := auto.NewLocalWorkspace(ctx,
		auto.WorkDir(dir),
		auto.Pulumi(cli),
		auto.Project(workspace.Project{Name: Project, Runtime: workspace.NewProjectRuntimeInfo("go", nil)}),
		auto.Program(func(*pulumi.Context) error { return errors.New("deploylab reap never runs a program") }),
	)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("creating a workspace: %w", err)
	}
	return ws, cleanup, nil
}

// plain drops the secret markers: decide only needs the values.
func plain(outputs auto.OutputMap) map[string]any {
	m := make(map[string]any, len(outputs))
	for k, v := range outputs {
		m[k] = v.Value
	}
	return m
}

// gist is the most telling line of a CLI failure, for the table: the first
// "error:" line of the CLI's output, or the first line of the error.
func gist(err error) string {
	lines := strings.Split(err.Error(), "\n")
	generic := ""
	for _, l := range lines {
		l = strings.TrimSpace(l)
		after, ok := strings.CutPrefix(l, "error: ")
		switch {
		case !ok || after == "":
		case after == "update failed" || after == "destroy failed":
			// The CLI's closing summary; where it comes first (it depends on the terminal) the cause follows.
			if generic == "" {
				generic = after
			}
		default:
			return after
		}
	}
	if generic != "" {
		return generic
	}
	return strings.TrimSpace(lines[0])
}

func writeTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STACK\tENV\tEXPIRES AT\tACTION\tREASON")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Stack, dash(r.Env), dash(r.ExpiresAt), r.Done, r.Reason)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
