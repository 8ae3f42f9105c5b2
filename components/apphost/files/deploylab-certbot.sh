#!/usr/bin/env bash
# deploylab-certbot: fetch and install a Let's Encrypt certificate for $DOMAIN with certbot --nginx.
#
# Run by deploylab-certbot.timer (every 15 minutes) until it succeeds, then it disables that timer; the certbot
# package's own timer renews. It asks Let's Encrypt only once $DOMAIN resolves to this host's public address, so a
# DNS record that is not there yet costs no failed validation (Let's Encrypt allows 5 per hour per host name, the
# timer at most 4).
#
# The certificate outlives the host: after each issuance or renewal (`deploylab-certbot backup`, also certbot's
# deploy hook) /etc/letsencrypt goes to the host's own bucket, which a replaced host keeps, and a new host restores
# it before asking Let's Encrypt, whose limit is 5 certificates per exact set of names per week. certbot then
# reinstalls the restored certificate (--keep-until-expiring) instead of issuing one.
#
# Environment (EnvironmentFile=/etc/deploylab/certbot.env): DOMAIN, CERTBOT_EMAIL, CERTBOT_STAGING (1 = staging CA),
# FILES_BUCKET (the host's bucket). External binaries are overridable: CERTBOT, CURL, GETENT, SYSTEMCTL, TAR and
# DEPLOYLAB_S3 (deploylab-s3); IMDS_URL points at the metadata service, LETSENCRYPT_DIR at certbot's directory.
set -o errexit -o nounset -o pipefail

CERTBOT="${CERTBOT:-certbot}"
CURL="${CURL:-curl}"
GETENT="${GETENT:-getent}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
TAR="${TAR:-tar}"
DEPLOYLAB_S3="${DEPLOYLAB_S3:-/usr/local/sbin/deploylab-s3}"
IMDS_URL="${IMDS_URL:-http://169.254.169.254}"
LETSENCRYPT_DIR="${LETSENCRYPT_DIR:-/etc/letsencrypt}"
readonly BACKUP_KEY=letsencrypt/backup.tar.gz

log() { printf 'deploylab-certbot: %s\n' "$*" >&2; }

# public_ip prints this host's public IPv4 address from the instance metadata service (IMDSv2: token first).
public_ip() {
  local token
  token="$("$CURL" -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' "$IMDS_URL/latest/api/token")"
  "$CURL" -fsS -H "X-aws-ec2-metadata-token: $token" "$IMDS_URL/latest/meta-data/public-ipv4"
}

# backup stores certbot's whole directory (account, certificates, renewal settings) in the host's bucket.
backup() {
  local bucket="${FILES_BUCKET:?FILES_BUCKET is not set (want it in /etc/deploylab/certbot.env)}" tmp
  tmp="$(mktemp)"
  "$TAR" --create --gzip --file "$tmp" --directory "$(dirname "$LETSENCRYPT_DIR")" "$(basename "$LETSENCRYPT_DIR")"
  if "$DEPLOYLAB_S3" put "$bucket" "$BACKUP_KEY" "$tmp"; then
    log "backed up $LETSENCRYPT_DIR to s3://$bucket/$BACKUP_KEY"
  else
    log "could not back up $LETSENCRYPT_DIR; a replaced host would ask Let's Encrypt again"
  fi
  rm -f "$tmp"
}

# restore brings back the certificate of a host this one replaced, unless certbot already has one here.
restore() {
  local domain="$1" bucket="${FILES_BUCKET:?FILES_BUCKET is not set (want it in /etc/deploylab/certbot.env)}" tmp rc=0
  [[ ! -d "$LETSENCRYPT_DIR/live/$domain" ]] || return 0
  tmp="$(mktemp)"
  "$DEPLOYLAB_S3" get "$bucket" "$BACKUP_KEY" "$tmp" --optional || rc=$?
  case "$rc" in
    0)
      "$TAR" --extract --gzip --file "$tmp" --directory "$(dirname "$LETSENCRYPT_DIR")"
      log "restored $LETSENCRYPT_DIR from s3://$bucket/$BACKUP_KEY"
      ;;
    3) log "no certificate backed up yet: Let's Encrypt issues one" ;;
    *) log "could not read s3://$bucket/$BACKUP_KEY: Let's Encrypt issues one" ;;
  esac
  rm -f "$tmp"
}

main() {
  if [[ "${1:-}" == backup ]]; then
    backup
    return
  fi
  local domain="${DOMAIN:?DOMAIN is not set (want it in /etc/deploylab/certbot.env)}"
  local email="${CERTBOT_EMAIL:?CERTBOT_EMAIL is not set (want it in /etc/deploylab/certbot.env)}"
  local ip addrs
  restore "$domain"
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
  backup
  "$SYSTEMCTL" disable --now deploylab-certbot.timer
  log "certificate for $domain installed"
}

main "$@"
