#!/usr/bin/env bash
# First-boot setup of the Jenkins build agent, run once by cloud-init (runcmd): install the stack-made SSH host key
# the controller pins (read from SSM, never in user data), give the jenkins user Docker and a workspace, copy the
# JDK out of the pinned Jenkins image (the agent runs remoting on the controller's own Java), and record the region
# (AWS_REGION, from the stack) for the pipelines' aws CLI. The controller then launches the agent over SSH. Settings come from
# /etc/jenkins-agent/agent.env, written by cloud-init; it holds no secret.
set -o errexit -o nounset -o pipefail

ENV_FILE="${AGENT_ENV_FILE:-/etc/jenkins-agent/agent.env}"
AWS="${AWS:-aws}"
DOCKER="${DOCKER:-docker}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"

log() { printf 'jenkins-agent-setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then log "failed with exit code ${rc}; see journalctl -u cloud-final"; fi
}
trap cleanup EXIT

# install_host_key replaces the host keys sshd generated with the one the controller pins; the value goes from aws
# straight into the file, never through a variable or a command line.
install_host_key() {
  local key=/etc/ssh/ssh_host_ed25519_key
  (umask 077 && "${AWS}" ssm get-parameter --region "${AWS_REGION:?}" --name "${HOST_KEY_PARAMETER:?}" --with-decryption \
    --query Parameter.Value --output text >"${key}.tmp")
  ssh-keygen -y -f "${key}.tmp" >"${key}.pub.tmp" || die "${HOST_KEY_PARAMETER} holds no OpenSSH private key"
  mv -f "${key}.tmp" "${key}"
  mv -f "${key}.pub.tmp" "${key}.pub"
  rm -f /etc/ssh/ssh_host_rsa_key* /etc/ssh/ssh_host_ecdsa_key*
  sshd -t
  "${SYSTEMCTL}" restart ssh
}

# install_java copies the JDK of the pinned Jenkins image to JAVA_DIR (the launcher's javaPath).
install_java() {
  local id
  "${DOCKER}" pull "${JAVA_IMAGE:?}"
  id="$("${DOCKER}" create "${JAVA_IMAGE}")"
  rm -rf "${JAVA_DIR:?}"
  "${DOCKER}" cp "${id}:/opt/java/openjdk" "${JAVA_DIR}"
  "${DOCKER}" rm "${id}" >/dev/null
  "${DOCKER}" image rm "${JAVA_IMAGE}" >/dev/null
  "${JAVA_DIR}/bin/java" -version
}

main() {
  [[ -r "${ENV_FILE}" ]] || die "missing ${ENV_FILE}"
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  # pam_env reads /etc/environment for the controller's SSH session, so every build sees AWS_REGION.
  grep -q '^AWS_REGION=' /etc/environment || printf 'AWS_REGION=%s\n' "${AWS_REGION:?}" >>/etc/environment
  install_host_key
  # Docker group: builds run docker build, which makes a pipeline author root on this host (and only here).
  usermod --append --groups docker "${AGENT_USER:?}"
  install -d -o "${AGENT_USER}" -g "${AGENT_USER}" -m 0750 "${AGENT_ROOT_FS:?}"
  install_java
  log "done: the controller launches the agent over SSH"
}

main "$@"
