package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr string
	}{
		{name: "defaults", env: map[string]string{}, want: config{version: "dev", port: 8080, healthPath: "/actuator/health"}},
		{name: "all set", env: map[string]string{"VERSION": "v2", "PORT": "9000", "HEALTH_PATH": "/h", "UNHEALTHY": "1",
			"SLOW_MS": "300", "EXIT_ON_TERM": "1", "ROOT_404": "1"},
			want: config{version: "v2", port: 9000, healthPath: "/h", unhealthy: true, slow: 300 * time.Millisecond,
				exitOnTerm: true, root404: true}},
		{name: "bad slow", env: map[string]string{"SLOW_MS": "fast"}, wantErr: `SLOW_MS="fast": want an integer >= 0`},
		{name: "bad port", env: map[string]string{"PORT": "x"}, wantErr: `PORT="x": want an integer >= 1`},
		{name: "negative delay", env: map[string]string{"START_DELAY": "-1"}, wantErr: `START_DELAY="-1": want an integer >= 0`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := loadConfig(func(k string) string { return tt.env[k] })
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cfg      config
		path     string
		wantCode int
		wantBody string
	}{
		{name: "version", cfg: config{version: "v7", healthPath: "/actuator/health"}, path: "/", wantCode: 200, wantBody: "v7"},
		{name: "healthy", cfg: config{healthPath: "/actuator/health"}, path: "/actuator/health", wantCode: 200, wantBody: `{"status":"UP"}`},
		{name: "version path", cfg: config{version: "v7", healthPath: "/actuator/health", root404: true}, path: "/version", wantCode: 200, wantBody: "v7"},
		{name: "nothing on root", cfg: config{version: "v7", healthPath: "/actuator/health", root404: true}, path: "/", wantCode: 404, wantBody: `"status":404`},
		{name: "readiness by default", cfg: config{healthPath: "/actuator/health"}, path: "/actuator/health/readiness", wantCode: 200, wantBody: `{"status":"UP"}`},
		{name: "only the configured health path", cfg: config{version: "v7", healthPath: "/h"}, path: "/actuator/health/readiness", wantCode: 200, wantBody: "v7"},
		{name: "unhealthy", cfg: config{healthPath: "/actuator/health", unhealthy: true}, path: "/actuator/health", wantCode: 503, wantBody: `{"status":"DOWN"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := httptest.NewRecorder()
			handler(tt.cfg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.path, nil))
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Contains(t, strings.TrimSpace(rec.Body.String()), tt.wantBody)
		})
	}
}
