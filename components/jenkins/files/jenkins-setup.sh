#!/usr/bin/env bash
# First-boot setup of the Jenkins controller, run once by cloud-init (runcmd): mount jenkins_home from its own EBS
# volume (formatting it only when it is blank, so a re-created instance keeps the old home), build the Jenkins
# image with the plugins baked in, then start Jenkins (and the certificate timer when a domain is set).
# Settings come from /etc/jenkins/jenkins.env, written by cloud-init; it holds no secret.
set -o errexit -o nounset -o pipefail

ENV_FILE="${JENKINS_ENV_FILE:-/etc/jenkins/jenkins.env}"
DOCKER="${DOCKER:-docker}"
SYSTEMCTL="${SYSTEMCTL:-systemctl}"
DEVICE_WAIT_SECONDS="${DEVICE_WAIT_SECONDS:-600}"

log() { printf 'jenkins-setup: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
  local rc=$?
  if ((rc != 0)); then log "failed with exit code ${rc}; see journalctl -u cloud-final"; fi
}
trap cleanup EXIT

# find_device prints the block device of the EBS volume. Nitro instances show EBS volumes as NVMe devices whose
# by-id link carries the volume id without its dash; older types keep the attachment name.
find_device() {
  local id="${HOME_VOLUME_ID:?}" dev
  for dev in "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_${id//-/}" "${HOME_DEVICE_NAME:?}"; do
    if [[ -b "${dev}" ]]; then readlink -f "${dev}"; return 0; fi
  done
  return 1
}

wait_for_device() {
  local waited=0 dev
  # The attachment is created after the instance, so the device may appear a little after boot.
  until dev="$(find_device)"; do
    ((waited < DEVICE_WAIT_SECONDS)) || die "volume ${HOME_VOLUME_ID} not attached after ${DEVICE_WAIT_SECONDS}s"
    sleep 5
    waited=$((waited + 5))
  done
  printf '%s\n' "${dev}"
}

mount_home() {
  local dev uuid
  dev="$(wait_for_device)"
  if [[ -z "$(blkid -o value -s TYPE "${dev}" || true)" ]]; then
    log "formatting blank volume ${dev}"
    mkfs.ext4 -q -L jenkins_home "${dev}"
  else
    log "keeping the existing file system on ${dev}"
  fi
  uuid="$(blkid -o value -s UUID "${dev}")"
  mkdir -p "${JENKINS_HOME_DIR:?}"
  if ! grep -q "UUID=${uuid} " /etc/fstab; then
    printf 'UUID=%s %s ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2\n' "${uuid}" "${JENKINS_HOME_DIR}" >>/etc/fstab
  fi
  mountpoint -q "${JENKINS_HOME_DIR}" || mount "${JENKINS_HOME_DIR}"
}

create_user() {
  # Jenkins runs in its container as this uid (the image's jenkins user, moved there by the Dockerfile); a fixed
  # uid above the login range keeps it apart from the host's users (the Debian AMI's admin is uid 1000) and
  # stable across re-created instances that mount the same home.
  if ! getent passwd jenkins >/dev/null; then
    useradd --system --uid "${JENKINS_UID:?}" --user-group --home-dir "${JENKINS_HOME_DIR}" --no-create-home \
      --shell /usr/sbin/nologin jenkins
  fi
  chown jenkins:jenkins "${JENKINS_HOME_DIR}"
}

build_image() {
  log "building ${JENKINS_IMAGE:?} (plugins from plugins.txt)"
  "${DOCKER}" build --pull --tag "${JENKINS_IMAGE}" /etc/jenkins/image
}

main() {
  [[ -r "${ENV_FILE}" ]] || die "missing ${ENV_FILE}"
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  mount_home
  create_user
  build_image
  "${SYSTEMCTL}" daemon-reload
  "${SYSTEMCTL}" enable --now jenkins.service
  if [[ -n "${DOMAIN:-}" ]]; then
    "${SYSTEMCTL}" enable --now jenkins-certbot.timer
  fi
  log "done"
}

main "$@"
