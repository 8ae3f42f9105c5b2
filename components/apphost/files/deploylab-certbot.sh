#!/usr/bin/env bash
# deploylab-certbot: fetch and install a Let's Encrypt certificate for $DOMAIN with certbot --nginx.
#
# Run by deploylab-certbot.timer (every 15 minutes) until it succeeds, then it disables that timer; the certbot
# package's own timer renews. It asks Let's Encrypt only once $DOMAIN resolves to this host's public address, so a
# DNS record that is not there yet costs no failed validation (Let's Encrypt allows 5 per hour per host name, the
# timer at most 4).
#
# Environment (EnvironmentFile=/etc/deploylab/certbot.env): DOMAIN, CERTBOT_EMAIL, CERTBOT_STAGING (1 = staging CA).
# External binaries are overridable: CERTBOT, CURL, GETENT, SYSTEMCTL; IMDS_URL points at the metadata service.
set -o errexit -o nounset -o pipefail

CERTBOT="${CERTBOT:-certbot}"
CURL="${CURL:-curl}"
GETENT="${GETENT:-getent}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
IMDS_URL="${IMDS_URL:-http://169.254.169.254}"

log() { printf 'deploylab-certbot: %s\n' "$*" >&2; }

# public_ip prints this host's public IPv4 address from the instance metadata service (IMDSv2: token first).
public_ip() {
  local token
  token="$("$CURL" -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS_URL/latest/api/token")"
  "$CURL" -fsS -H "X-aws-ec2-metadata-token: $token" "$IMDS_URL/latest/meta-data/public-ipv4"
}

main() {
  local domain="${DOMAIN:?DOMAIN is not set (want it in /etc/deploylab/certbot.env)}"
  local email="${CERTBOT_EMAIL:?CERTBOT_EMAIL is not set (want it in /etc/deploylab/certbot.env)}"
  local ip addrs
  if ! ip="$(public_ip)" || [[ -z "$ip" ]]; then
    log "no public IPv4 address in the instance metadata yet; retrying later"
    exit 1
  fi
  addrs="$("$GETENT" ahostsv4 "$domain" | awk '{print $1}' | sort -u || true)"
  if ! grep -qxF -- "$ip" <<<"$addrs"; then
    log "$domain resolves to [${addrs//$'\n'/ }], not to this host ($ip); retrying later"
    exit 1
  fi
  local args=(--nginx --non-interactive --agree-tos --email "$email" --domains "$domain" --keep-until-expiring
    # HTTP keeps serving: deploy.sh checks the app through http://127.0.0.1, which a redirect would break.
    --no-redirect)
  if [[ "${CERTBOT_STAGING:-0}" == 1 ]]; then
    args+=(--staging)
  fi
  "$CERTBOT" "${args[@]}"
  "$SYSTEMCTL" disable --now deploylab-certbot.timer
  log "certificate for $domain installed"
}

main "$@"
