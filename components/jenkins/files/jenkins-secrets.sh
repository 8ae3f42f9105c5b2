#!/usr/bin/env bash
# Reads the admin password, the deploy SSH key, the build agent's SSH key and the GitHub token from SSM Parameter
# Store (SecureStrings under the controller's own KMS key, which only its role may decrypt) into files on a tmpfs
# that only root and the Jenkins uid can read. Run by jenkins.service before every start, so the secrets are never
# in user data, on the root disk or in a log, and a changed parameter takes effect on the next restart.
# The values never pass through a shell variable or a command line: aws writes them straight into the files.
set -o errexit -o nounset -o pipefail

ENV_FILE="${JENKINS_ENV_FILE:-/etc/jenkins/jenkins.env}"
AWS="${AWS:-aws}"
CURL="${CURL:-curl}"
SECRETS_DIR="${SECRETS_DIR:-/run/jenkins/secrets}"

log() { printf 'jenkins-secrets: %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    log "failed with exit code ${rc}; removing partial secrets"
    rm -rf -- "${SECRETS_DIR:?}"/*.tmp
  fi
}
trap cleanup EXIT

# region asks the instance metadata service (IMDSv2: a session token first) which region the host is in.
region() {
  local token
  token="$("${CURL}" -fsS -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)"
  "${CURL}" -fsS -H "X-aws-ec2-metadata-token: ${token}" http://169.254.169.254/latest/meta-data/placement/region
}

# fetch NAME FILE writes the decrypted parameter NAME into FILE (mode 0400, owned by the Jenkins uid).
fetch() {
  local name="$1" file="$2"
  "${AWS}" ssm get-parameter --region "${REGION}" --name "${name}" --with-decryption \
    --query Parameter.Value --output text >"${file}.tmp"
  chown "${JENKINS_UID:?}:${JENKINS_UID}" "${file}.tmp"
  chmod 0400 "${file}.tmp"
  mv -f "${file}.tmp" "${file}"
}

main() {
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  umask 077
  REGION="${AWS_REGION:-$(region)}"
  mkdir -p "${SECRETS_DIR}"
  chown "${JENKINS_UID:?}:${JENKINS_UID}" "${SECRETS_DIR}"
  chmod 0500 "${SECRETS_DIR}"
  fetch "${ADMIN_PASSWORD_PARAMETER:?}" "${SECRETS_DIR}/JENKINS_ADMIN_PASSWORD"
  fetch "${DEPLOY_KEY_PARAMETER:?}" "${SECRETS_DIR}/DEPLOY_SSH_KEY"
  fetch "${GITHUB_TOKEN_PARAMETER:?}" "${SECRETS_DIR}/GITHUB_TOKEN"
  fetch "${AGENT_KEY_PARAMETER:?}" "${SECRETS_DIR}/AGENT_SSH_KEY"
  if [[ "$(cat "${SECRETS_DIR}/GITHUB_TOKEN")" == "${GITHUB_TOKEN_PLACEHOLDER:?}" ]]; then
    # Jenkins still starts (the UI is useful without it); the scans then fail with "Bad credentials".
    log "WARNING: ${GITHUB_TOKEN_PARAMETER} still holds its placeholder: put a GitHub token in it" \
      "(aws ssm put-parameter --overwrite, docs/operations.md) and restart jenkins"
  fi
  printf 'AWS_REGION=%s\n' "${REGION}" >/run/jenkins/region.env
}

main "$@"
