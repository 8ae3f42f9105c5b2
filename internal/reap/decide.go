package reap

import (
	"fmt"
	"time"
)

// Action is what the reaper does with one stack.
type Action string

const (
	// Keep leaves the stack alone.
	Keep Action = "keep"
	// Destroy destroys the stack's resources and then removes the stack.
	Destroy Action = "destroy"
)

// trainingEnv is the only `env` output the reaper ever destroys.
const trainingEnv = "training"

// Decision is the verdict on one stack, with what the table shows for it.
type Decision struct {
	// Env is the `env` output as printed ("" when absent).
	Env string
	// ExpiresAt is the `expiresAt` output as printed ("" when absent).
	ExpiresAt string
	Action    Action
	// Reason says why, in words an operator reads in the table.
	Reason string
}

// decide judges a stack from its outputs in state. It destroys only what it can
// prove is an expired training stack: env is exactly "training" and expiresAt is
// an RFC 3339 time strictly before now. Every other case is kept with the reason.
// Offsets are honoured ("…T20:00:00+09:00" is 11:00 UTC), so a class in Seoul is
// not reaped nine hours early or late.
func decide(outputs map[string]any, now time.Time) Decision {
	if len(outputs) == 0 {
		return Decision{Action: Keep, Reason: "no outputs in state (never deployed, or not a deploylab program)"}
	}
	envRaw, ok := outputs["env"]
	if !ok {
		return Decision{Action: Keep, Reason: "no env output"}
	}
	env, ok := envRaw.(string)
	if !ok {
		return Decision{Env: fmt.Sprint(envRaw), Action: Keep,
			Reason: fmt.Sprintf("env output is a %T, want a string", envRaw)}
	}
	d := Decision{Env: env}
	if expRaw, ok := outputs["expiresAt"]; ok {
		d.ExpiresAt = fmt.Sprint(expRaw)
	}
	if env != trainingEnv {
		d.Action, d.Reason = Keep, fmt.Sprintf("env %q is not %q", env, trainingEnv)
		return d
	}
	expRaw, ok := outputs["expiresAt"]
	if !ok || expRaw == "" {
		d.Action, d.Reason = Keep, "training stack without an expiresAt output"
		return d
	}
	exp, ok := expRaw.(string)
	if !ok {
		d.Action, d.Reason = Keep, fmt.Sprintf("expiresAt output is a %T, want an RFC 3339 string", expRaw)
		return d
	}
	at, err := time.Parse(time.RFC3339, exp)
	if err != nil {
		d.Action, d.Reason = Keep,
			fmt.Sprintf("expiresAt %q is not an RFC 3339 time (e.g. 2026-12-01T18:00:00+09:00)", exp)
		return d
	}
	if !at.Before(now) {
		d.Action, d.Reason = Keep, fmt.Sprintf("not expired: %s left", at.Sub(now).Round(time.Second))
		return d
	}
	d.Action, d.Reason = Destroy, fmt.Sprintf("expired %s ago", now.Sub(at).Round(time.Second))
	return d
}
