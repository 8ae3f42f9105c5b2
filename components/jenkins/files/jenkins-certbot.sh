#!/usr/bin/env bash
# Asks Let's Encrypt for the certificate of the Jenkins domain with certbot's nginx plugin (which adds the TLS
# listener and the HTTP-to-HTTPS redirect). Run by jenkins-certbot.timer until it succeeds: the DNS record may be
# created after the host, and until then the challenge fails. Once the certificate exists the timer is stopped;
# renewals are certbot's own timer's job.
set -o errexit -o nounset -o pipefail

ENV_FILE="${JENKINS_ENV_FILE:-/etc/jenkins/jenkins.env}"
CERTBOT="${CERTBOT:-certbot}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"

log() { printf 'jenkins-certbot: %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then log "no certificate yet (exit code ${rc}); the timer tries again"; fi
}
trap cleanup EXIT

main() {
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  if [[ -e "/etc/letsencrypt/live/${DOMAIN:?}/fullchain.pem" ]]; then
    log "certificate for ${DOMAIN} exists; stopping the timer"
    "${SYSTEMCTL}" disable --now jenkins-certbot.timer
    return 0
  fi
  local -a cmd=("${CERTBOT}" --nginx --redirect --non-interactive --agree-tos
    --email "${CERTBOT_EMAIL:?}" --domain "${DOMAIN}")
  if [[ "${CERTBOT_STAGING:-false}" == true ]]; then cmd+=(--staging); fi
  "${cmd[@]}"
  log "certificate for ${DOMAIN} installed"
  "${SYSTEMCTL}" disable --now jenkins-certbot.timer
}

main "$@"
