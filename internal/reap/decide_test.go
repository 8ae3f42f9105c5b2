package reap

import (
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		outputs    map[string]any
		wantAction Action
		wantReason string
	}{
		{"nil outputs", nil, Keep, "no outputs in state (never deployed, or not a deploylab program)"},
		{"empty outputs", map[string]any{}, Keep, "no outputs in state (never deployed, or not a deploylab program)"},
		{"no env", map[string]any{"url": "http://x"}, Keep, "no env output"},
		{"env not a string", map[string]any{"env": 3.0}, Keep, "env output is a float64, want a string"},
		{"prod even when past", map[string]any{"env": "prod", "expiresAt": "2000-01-01T00:00:00Z"},
			Keep, `env "prod" is not "training"`},
		{"dev", map[string]any{"env": "dev"}, Keep, `env "dev" is not "training"`},
		{"case matters", map[string]any{"env": "Training", "expiresAt": "2000-01-01T00:00:00Z"},
			Keep, `env "Training" is not "training"`},
		{"training no expiry", map[string]any{"env": "training"}, Keep, "training stack without an expiresAt output"},
		{"training empty expiry", map[string]any{"env": "training", "expiresAt": ""},
			Keep, "training stack without an expiresAt output"},
		{"expiry not a string", map[string]any{"env": "training", "expiresAt": 1.7e9},
			Keep, "expiresAt output is a float64, want an RFC 3339 string"},
		{"unparsable", map[string]any{"env": "training", "expiresAt": "next tuesday"},
			Keep, `expiresAt "next tuesday" is not an RFC 3339 time (e.g. 2026-12-01T18:00:00+09:00)`},
		{"date without zone", map[string]any{"env": "training", "expiresAt": "2000-01-01T00:00:00"},
			Keep, `expiresAt "2000-01-01T00:00:00" is not an RFC 3339 time (e.g. 2026-12-01T18:00:00+09:00)`},
		{"future", map[string]any{"env": "training", "expiresAt": "2030-01-02T12:00:00Z"},
			Keep, "not expired: 24h0m0s left"},
		{"exactly now is not past", map[string]any{"env": "training", "expiresAt": "2030-01-01T12:00:00Z"},
			Keep, "not expired: 0s left"},
		{"past", map[string]any{"env": "training", "expiresAt": "2030-01-01T11:00:00Z"},
			Destroy, "expired 1h0m0s ago"},
		// 20:00+09:00 is 11:00 UTC: past, though the wall-clock digits read later than 12:00.
		{"past in +09:00", map[string]any{"env": "training", "expiresAt": "2030-01-01T20:00:00+09:00"},
			Destroy, "expired 1h0m0s ago"},
		// 08:00-05:00 is 13:00 UTC: future, though the digits read earlier than 12:00.
		{"future in -05:00", map[string]any{"env": "training", "expiresAt": "2030-01-01T08:00:00-05:00"},
			Keep, "not expired: 1h0m0s left"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := decide(tt.outputs, now)
			if got.Action != tt.wantAction || got.Reason != tt.wantReason {
				t.Errorf("decide(%v) = %s %q, want %s %q", tt.outputs, got.Action, got.Reason, tt.wantAction, tt.wantReason)
			}
		})
	}
}
