// Package workflows reads the GitHub Actions workflows of .github/workflows, so tests can hold them to the rules
// the repository relies on (who gets which secrets, what is pinned, what a manual run does by default); actionlint
// checks their syntax, these rules their meaning.
package workflows

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Workflow is the part of a workflow file the rules read.
type Workflow struct {
	File string `yaml:"-"`
	Name string `yaml:"name"`
	// On is the trigger map (event name → its settings).
	On   map[string]Trigger `yaml:"on"`
	Jobs map[string]*Job    `yaml:"jobs"`
}

// Trigger holds the settings of one event; only workflow_dispatch inputs and schedules are read.
type Trigger struct {
	Inputs   map[string]Input    `yaml:"inputs"`
	Schedule []map[string]string `yaml:"-"`
}

// Input is a workflow_dispatch input.
type Input struct {
	Type    string `yaml:"type"`
	Default any    `yaml:"default"`
}

// Job is one job of a workflow.
type Job struct {
	Needs       any               `yaml:"needs"`
	If          string            `yaml:"if"`
	Environment string            `yaml:"environment"`
	Permissions map[string]string `yaml:"permissions"`
	Strategy    struct {
		Matrix map[string]any `yaml:"matrix"`
	} `yaml:"strategy"`
	Env   map[string]string `yaml:"env"`
	Steps []Step            `yaml:"steps"`
}

// Step is one step of a job.
type Step struct {
	ID   string            `yaml:"id"`
	If   string            `yaml:"if"`
	Uses string            `yaml:"uses"`
	Run  string            `yaml:"run"`
	With map[string]any    `yaml:"with"`
	Env  map[string]string `yaml:"env"`
}

// UnmarshalYAML reads `on:`, whose events may be bare (`pull_request:`) or a schedule list.
func (t *Trigger) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		return n.Decode(&t.Schedule)
	case yaml.MappingNode:
		var v struct {
			Inputs map[string]Input `yaml:"inputs"`
		}
		if err := n.Decode(&v); err != nil {
			return err
		}
		t.Inputs = v.Inputs
	}
	return nil
}

// Load reads every *.yml workflow in dir, sorted by file name.
func Load(dir string) ([]*Workflow, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*Workflow
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		w := &Workflow{File: filepath.Base(f)}
		if err := yaml.Unmarshal(b, w); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		out = append(out, w)
	}
	return out, nil
}

// RunsPullRequestCode says whether the workflow runs code of a pull request.
func (w *Workflow) RunsPullRequestCode() bool {
	_, pr := w.On["pull_request"]
	_, prt := w.On["pull_request_target"]
	return pr || prt
}

// Text is everything a job can reference secrets or commands from: its environment, env, ifs and steps.
func (j *Job) Text() string {
	b, _ := yaml.Marshal(j)
	return string(b)
}

// Action returns the action name of a `uses:` (owner/repo without @ref), or "".
func (s Step) Action() string {
	name, _, _ := strings.Cut(s.Uses, "@")
	return name
}

// Ref returns the ref of a `uses:` (after @), or "".
func (s Step) Ref() string {
	_, ref, _ := strings.Cut(s.Uses, "@")
	return ref
}

// StepsUsing returns the steps of the job that use action.
func (j *Job) StepsUsing(action string) []Step {
	var out []Step
	for _, s := range j.Steps {
		if s.Action() == action {
			out = append(out, s)
		}
	}
	return out
}

// PulumiCommands returns the commands the job gives pulumi/actions; a step without one only installs the CLI.
func (j *Job) PulumiCommands() []string {
	var out []string
	for _, s := range j.StepsUsing("pulumi/actions") {
		if c, ok := s.With["command"].(string); ok {
			out = append(out, c)
		}
	}
	return out
}
