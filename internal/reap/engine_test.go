package reap

// The real-engine layer: these tests drive the Pulumi CLI built by
// scripts/tools.sh against a temporary file:// backend. Stacks are created with
// inline programs (this test process is their language host), so neither
// pulumi-language-go nor any provider plugin is needed.

import (
	"bytes"
	"context"
	"maps"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/deploylab/deploylab/internal/testutil"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/common/workspace"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// useRealEngine puts the pinned CLI first on PATH and points it at a fresh
// file:// backend and PULUMI_HOME. It fails (never skips) without the CLI.
func useRealEngine(tb testing.TB) {
	tb.Helper()
	testutil.UseRealEngine(tb)
}

// fixture is a stack to deploy before the reaper runs.
type fixture struct {
	name    string
	outputs map[string]string
	// protect adds a protected component, which the engine refuses to delete:
	// an honest destroy failure that needs no cloud and no plugin.
	protect bool
}

func training(expiresAt string) map[string]string {
	return map[string]string{"env": "training", "expiresAt": expiresAt}
}

// deploy runs `pulumi up` for every fixture, a few at a time.
func deploy(tb testing.TB, fixtures []fixture) {
	tb.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 3)
	errs := make([]error, len(fixtures))
	for i, f := range fixtures {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = deployOne(ctx, tb.TempDir(), f)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("deploying fixture %s: %v", fixtures[i].name, err)
		}
	}
}

func deployOne(ctx context.Context, dir string, f fixture) error {
	program := func(ctx *pulumi.Context) error {
		if len(f.outputs) > 0 {
			// Something in state to delete, so a destroy does real work.
			var app struct{ pulumi.ResourceState }
			if err := ctx.RegisterComponentResource("deploylab:test:App", "app", &app); err != nil {
				return err
			}
		}
		if f.protect {
			var guard struct{ pulumi.ResourceState }
			if err := ctx.RegisterComponentResource("deploylab:test:Guard", "guard", &guard, pulumi.Protect(true)); err != nil {
				return err
			}
		}
		for k, v := range f.outputs {
			ctx.Export(k, pulumi.String(v))
		}
		return nil
	}
	stack, err := auto.UpsertStackInlineSource(ctx, f.name, Project, program, auto.WorkDir(dir))
	if err != nil {
		return err
	}
	_, err = stack.Up(ctx)
	return err
}

// stacksInBackend maps each stack of the project to its resource count.
func stacksInBackend(tb testing.TB) map[string]int {
	tb.Helper()
	ctx := context.Background()
	ws, err := auto.NewLocalWorkspace(ctx, auto.WorkDir(tb.TempDir()),
		auto.Project(workspace.Project{Name: Project, Runtime: workspace.NewProjectRuntimeInfo("go", nil)}))
	if err != nil {
		tb.Fatal(err)
	}
	list, err := ws.ListStacks(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	got := make(map[string]int, len(list))
	for _, s := range list {
		n := -1
		if s.ResourceCount != nil {
			n = *s.ResourceCount
		}
		got[s.Name] = n
	}
	return got
}

func runReap(args ...string) (stdout, stderr string, code int) {
	var out, errOut bytes.Buffer
	code = Command(args, &out, &errOut)
	return out.String(), errOut.String(), code
}

type row struct{ env, expiresAt, action, reason string }

var columns = regexp.MustCompile(`\s{2,}`)

// parseTable reads the reaper's table back into stack → row.
func parseTable(tb testing.TB, table string) map[string]row {
	tb.Helper()
	lines := strings.Split(strings.TrimRight(table, "\n"), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "STACK") {
		tb.Fatalf("no table header in:\n%s", table)
	}
	rows := map[string]row{}
	for _, l := range lines[1:] {
		f := columns.Split(l, 5)
		if len(f) != 5 {
			tb.Fatalf("table line %q has %d columns, want 5", l, len(f))
		}
		rows[f[0]] = row{env: f[1], expiresAt: f[2], action: f[3], reason: f[4]}
	}
	return rows
}

func TestReapRealEngine(t *testing.T) {
	useRealEngine(t)
	// Judged at a fixed instant, so the fixtures' dates never go stale.
	const now = "2030-01-01T12:00:00Z"
	fixtures := []fixture{
		// Sorts first and is destroyed first with --parallel 1: the stacks
		// after it must still be reaped.
		{name: "a-protected", outputs: training("2030-01-01T00:00:00Z"), protect: true},
		{name: "dev", outputs: map[string]string{"env": "dev"}},
		{name: "no-expiry", outputs: map[string]string{"env": "training"}},
		{name: "no-outputs"},
		{name: "prod", outputs: map[string]string{"env": "prod", "expiresAt": "2000-01-01T00:00:00Z"}},
		{name: "train-bad-date", outputs: training("next tuesday")},
		{name: "train-expired", outputs: training("2030-01-01T11:00:00Z")},
		// 11:00 UTC: past, though "20:00" reads later than 12:00.
		{name: "train-expired-seoul", outputs: training("2030-01-01T20:00:00+09:00")},
		{name: "train-future", outputs: training("2030-01-02T12:00:00Z")},
		// 13:00 UTC: future, though "08:00" reads earlier than 12:00.
		{name: "train-future-newyork", outputs: training("2030-01-01T08:00:00-05:00")},
	}
	deploy(t, fixtures)
	before := stacksInBackend(t)
	if len(before) != len(fixtures) {
		t.Fatalf("backend has stacks %v, want the %d fixtures", before, len(fixtures))
	}
	expired := []string{"a-protected", "train-expired", "train-expired-seoul"}
	kept := map[string]string{ // stack → a piece of the reason the table must give
		"dev":                  `env "dev" is not "training"`,
		"no-expiry":            "without an expiresAt",
		"no-outputs":           "no outputs in state",
		"prod":                 `env "prod" is not "training"`,
		"train-bad-date":       `"next tuesday" is not an RFC 3339 time`,
		"train-future":         "not expired: 24h0m0s left",
		"train-future-newyork": "not expired: 1h0m0s left",
	}

	t.Run("dry run changes nothing", func(t *testing.T) {
		stdout, stderr, code := runReap("--now", now)
		t.Logf("reap --now %s:\n%s", now, stdout)
		if code != exitOK {
			t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitOK, stderr)
		}
		rows := parseTable(t, stdout)
		for _, name := range expired {
			if got := rows[name].action; got != "would-destroy" {
				t.Errorf("%s: action %q, want would-destroy; table:\n%s", name, got, stdout)
			}
		}
		for name, reason := range kept {
			if r := rows[name]; r.action != "keep" || !strings.Contains(r.reason, reason) {
				t.Errorf("%s: %q %q, want keep with a reason containing %q", name, r.action, r.reason, reason)
			}
		}
		if after := stacksInBackend(t); !maps.Equal(after, before) {
			t.Errorf("dry run changed the backend: before %v, after %v", before, after)
		}
	})

	t.Run("yes reaps expired training, reports the failure and keeps the rest", func(t *testing.T) {
		stdout, stderr, code := runReap("--now", now, "--yes", "--parallel", "1")
		t.Logf("reap --now %s --yes --parallel 1:\n%s", now, stdout)
		if code != exitFailed {
			t.Fatalf("exit %d, want %d (the protected stack cannot be destroyed); stdout:\n%s\nstderr:\n%s",
				code, exitFailed, stdout, stderr)
		}
		rows := parseTable(t, stdout)
		if r := rows["a-protected"]; r.action != "destroy-failed" || !strings.Contains(r.reason, "::guard\" cannot be deleted") {
			t.Errorf("a-protected: %q %q, want destroy-failed naming the guard that cannot be deleted", r.action, r.reason)
		}
		if !strings.Contains(stderr, "stack a-protected:") || !strings.Contains(stderr, "because it is protected") ||
			!strings.Contains(stderr, "1 of 10 stacks failed") {
			t.Errorf("stderr does not report the failed stack:\n%s", stderr)
		}
		for _, name := range []string{"train-expired", "train-expired-seoul"} {
			if got := rows[name].action; got != "destroyed" {
				t.Errorf("%s: action %q, want destroyed; table:\n%s", name, got, stdout)
			}
		}
		for name := range kept {
			if got := rows[name].action; got != "keep" {
				t.Errorf("%s: action %q, want keep", name, got)
			}
		}

		after := stacksInBackend(t)
		want := make(map[string]int)
		for name, n := range before {
			if name != "train-expired" && name != "train-expired-seoul" {
				want[name] = n
			}
		}
		// The protected stack loses its unprotected resources but keeps the guard
		// (and so stays in the backend for an operator to fix).
		if n := after["a-protected"]; n < 2 {
			t.Errorf("a-protected has %d resources after the failed destroy, want the stack and its guard", n)
		}
		want["a-protected"] = after["a-protected"]
		if !maps.Equal(after, want) {
			t.Errorf("backend after reap: %v, want %v", after, want)
		}
	})
}

func TestCommandUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"help", []string{"-h"}, exitOK, "usage: deploylab reap"},
		{"parallel zero", []string{"--parallel", "0"}, exitUsage, "--parallel 0: want 1 or more"},
		{"parallel not a number", []string{"--parallel", "two"}, exitUsage, `invalid value "two" for flag -parallel`},
		{"bad now", []string{"--now", "2030-01-01 12:00"}, exitUsage,
			`--now "2030-01-01 12:00" is not an RFC 3339 time`},
		{"stray argument", []string{"--yes", "dev"}, exitUsage, `unexpected argument "dev"`},
		{"unknown flag", []string{"--force"}, exitUsage, "flag provided but not defined: -force"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, code := runReap(tt.args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("reap %v: exit %d, stderr %q; want exit %d and stderr containing %q",
					tt.args, code, stderr, tt.wantCode, tt.wantStderr)
			}
			if stdout != "" {
				t.Errorf("reap %v printed a table on a usage error:\n%s", tt.args, stdout)
			}
		})
	}
}
