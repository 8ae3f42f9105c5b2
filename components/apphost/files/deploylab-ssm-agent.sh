#!/usr/bin/env bash
# deploylab-ssm-agent: install the AWS SSM agent (Session Manager, the no-SSH way in) when the image lacks it.
#
# Ubuntu's AMIs ship it as a snap; Debian's AMIs do not, and Debian's archive has no package, so it comes from
# AWS's own regional S3 bucket over HTTPS (the bucket and the region are AWS's; TLS authenticates the source).
# Best effort: the host works without it, so cloud-init logs a failure rather than stopping.
# External binaries are overridable: CURL, DPKG, SYSTEMCTL; IMDS_URL points at the metadata service.
set -o errexit -o nounset -o pipefail

CURL="${CURL:-curl}"
DPKG="${DPKG:-dpkg}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
IMDS_URL="${IMDS_URL:-http://169.254.169.254}"
WORKDIR=""

log() { printf 'deploylab-ssm-agent: %s\n' "$*" >&2; }

cleanup() {
  if [[ -n "$WORKDIR" ]]; then rm -rf "${WORKDIR:?}"; fi
}

main() {
  trap cleanup EXIT
  local units
  units="$("$SYSTEMCTL" list-unit-files --no-legend 'amazon-ssm-agent.service' 'snap.amazon-ssm-agent.*' || true)"
  if [[ -n "$units" ]]; then
    log "already installed: ${units%%$'\n'*}"
    exit 0
  fi
  local token region arch url
  token="$("$CURL" -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS_URL/latest/api/token")"
  region="$("$CURL" -fsS -H "X-aws-ec2-metadata-token: $token" "$IMDS_URL/latest/meta-data/placement/region")"
  [[ "$region" =~ ^[a-z0-9-]+$ ]] || { log "unexpected region from the metadata service: $region"; exit 1; }
  arch="$("$DPKG" --print-architecture)"
  url="https://s3.$region.amazonaws.com/amazon-ssm-$region/latest/debian_$arch/amazon-ssm-agent.deb"
  WORKDIR="$(mktemp -d)"
  log "installing $url"
  "$CURL" -fsSL --retry 5 --proto '=https' -o "$WORKDIR/amazon-ssm-agent.deb" "$url"
  "$DPKG" -i "$WORKDIR/amazon-ssm-agent.deb"
  "$SYSTEMCTL" enable --now amazon-ssm-agent.service
}

main "$@"
