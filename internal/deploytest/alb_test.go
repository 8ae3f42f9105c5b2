package deploytest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	listenerARN = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:listener/app/dl/50dc6c495c0c9188/f2f7dc8efc522ab2"
	tgBlueARN   = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/dl-blue/73e2d6bc24d8a067"
	tgGreenARN  = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/dl-green/8f1c2d3e4a5b6c7d"
)

// TestALBSwitch: with SWITCH=alb deploy.sh polls describe-target-health until the colour's group is healthy,
// then points the listener at it. The stand-in `aws` records every call; it answers "initial" once, then
// "healthy", and plays the ALB by pointing the test nginx at the group's port, so the final check is real.
func TestALBSwitch(t *testing.T) {
	t.Parallel()
	h := newHost(t, withEnv(map[string]string{
		"SWITCH": "alb", "LISTENER_ARN": listenerARN, "TG_BLUE_ARN": tgBlueARN, "TG_GREEN_ARN": tgGreenARN,
	}))
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	fake := filepath.Join(dir, "aws")
	script := fmt.Sprintf(`#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail
printf '%%s\n' "$*" >>%[1]q
case "$2" in
  describe-target-health)
    n=$(grep -c describe-target-health %[1]q)
    if (( n %% 2 == 1 )); then echo initial; else echo healthy; fi ;;
  modify-listener)
    case "$*" in
      *%[2]s*) port=%[4]d ;;
      *%[3]s*) port=%[5]d ;;
      *) echo "unknown target group" >&2; exit 1 ;;
    esac
    printf 'upstream deploylab_app {\n    server 127.0.0.1:%%s;\n}\n' "$port" >%[6]q
    %[7]s >/dev/null 2>&1 ;;
  *) echo "unexpected call: $*" >&2; exit 1 ;;
esac
`, calls, tgBlueARN, tgGreenARN, h.blue, h.green, h.upstream, h.nginx.Command("-s", "reload"))
	require.NoError(t, os.WriteFile(fake, []byte(script), 0o755))
	h.extraEnv = map[string]string{"AWS_CLI": fake}

	v1 := buildImage(t, map[string]string{"VERSION": "v1"})
	v2 := buildImage(t, map[string]string{"VERSION": "v2"})
	h.mustDeploy(v1)
	h.mustDeploy(v2)
	assert.Equal(t, "v2", h.served())
	assert.Equal(t, []string{"green"}, h.containers())

	b, err := os.ReadFile(calls)
	require.NoError(t, err)
	describe := func(tg string) string {
		return "elbv2 describe-target-health --target-group-arn " + tg +
			" --query TargetHealthDescriptions[].TargetHealth.State --output text"
	}
	modify := func(tg string) string {
		return "elbv2 modify-listener --listener-arn " + listenerARN + " --default-actions Type=forward,TargetGroupArn=" + tg
	}
	assert.Equal(t, []string{
		describe(tgBlueARN), describe(tgBlueARN), modify(tgBlueARN),
		describe(tgGreenARN), describe(tgGreenARN), modify(tgGreenARN),
	}, strings.Split(strings.TrimSpace(string(b)), "\n"))
}
