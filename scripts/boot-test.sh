#!/usr/bin/env bash
# boot-test.sh: boot rendered app-host user data on a real Debian rootfs and assert the machine it produced.
# A file whose name contains "jenkins" is a Jenkins controller's: it boots as far as it goes without the Jenkins
# image (boot_jenkins).
#
#   scripts/boot-test.sh [USERDATA_DIR]     (default: test/boot/sample)
#   scripts/boot-test.sh --app-images DIR   only build the test app images (DIR/app-images.tar) and the checker
#                                           (DIR/check), for the acceptance test that runs them on a real host
#
# Every USERDATA_DIR/*.yaml is booted, one after the other, as a systemd container (systemd as PID 1, privileged)
# whose cloud-init reads it through the NoCloud datasource and runs all of its real boot stages. Then
# test/boot/check asserts the result, deploys the test app twice with deploy.sh as the admin user, reboots the
# container and asserts again. Rendered user data fetches the host's files from S3 at boot
# (components/apphost/files/deploylab-bootstrap.sh): the objects come from USERDATA_DIR/NAME.plan.json beside NAME.yaml (what
# `pulumi up` would upload) and test/boot/fakeaws serves them, with IMDSv2 credentials and SigV4 checked as S3
# does, on the Docker bridge; each container gets /etc/deploylab/aws-endpoints.env pointing there, so the host's
# own fetch code runs unchanged. The Debian rootfs is debootstrapped from the apt mirror this machine uses and cached
# under ~/.cache/deploylab/boot/ (BOOT_CACHE_DIR), outside the work tree like Go's build cache, so every clone
# on a machine shares it; it is rebuilt only when missing (delete the directory to rebuild).
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT
readonly DOCKER="${DOCKER:-docker}"
readonly DEBOOTSTRAP="${DEBOOTSTRAP:-debootstrap}"
readonly GO="${GO:-go}"
readonly SUITE="${BOOT_SUITE:-bookworm}"
readonly CACHE_DIR="${BOOT_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:?}/.cache}/deploylab/boot}"
readonly ROOTFS_TAR="${CACHE_DIR}/rootfs-${SUITE}.tar"
readonly BASE_IMAGE="deploylab-boot-base:${SUITE}"
readonly BOOT_IMAGE="deploylab-boot:${SUITE}"
# cloud-init status --wait is bounded by this (seconds); the user data installs Docker and nginx from the mirror.
readonly BOOT_TIMEOUT="${BOOT_TIMEOUT:-900}"
# What the rootfs needs before cloud-init runs: an init system, cloud-init itself (with the jsonschema module its
# `schema` command uses), what the user data's modules call (sshd, sudo, locales for cc_locale) and what the checks
# call (iproute2, curl, lsof, procps). Everything else comes from the user data's own `packages`.
# python3-cffi-backend is named because debootstrap does not resolve virtual packages: python3-cryptography (a
# cloud-init dependency) needs python3-cffi-backend-api-min, which only that package provides.
readonly INCLUDE_PACKAGES="systemd,systemd-sysv,dbus,cloud-init,python3,python3-jsonschema,python3-cffi-backend,\
openssh-server,sudo,ca-certificates,iproute2,curl,gnupg,lsof,procps,locales,netbase,less,apt-utils"

WORK_DIR=""
CONTAINERS=()
LOOPS=()
FAKEAWS_PID=""

log() { printf '[boot-test %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
  local c
  stop_fakeaws
  for c in "${CONTAINERS[@]+"${CONTAINERS[@]}"}"; do
    "${DOCKER}" rm -f --volumes "${c}" >/dev/null 2>&1 || true
  done
  for c in "${LOOPS[@]+"${LOOPS[@]}"}"; do
    losetup -d "${c}" 2>/dev/null || sudo -n losetup -d "${c}" 2>/dev/null || true
  done
  if [[ -n "${WORK_DIR}" ]]; then
    rm -rf "${WORK_DIR:?}"
  fi
}

# host_mirror prints the first Debian archive URI this machine's apt uses, so the rootfs (and the apt-get runs
# cloud-init does inside it) go to the only package registry reachable here.
host_mirror() {
  local uri
  uri="$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n 1 || true)"
  [[ -n "${uri}" ]] || die "no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list*; set BOOT_MIRROR"
  printf '%s\n' "${uri%/}"
}

# ensure_rootfs debootstraps the rootfs tarball unless it is cached.
ensure_rootfs() {
  if [[ -s "${ROOTFS_TAR}" ]]; then
    log "rootfs cached: ${ROOTFS_TAR}"
    return
  fi
  command -v "${DEBOOTSTRAP}" >/dev/null || die "debootstrap not found (apt-get install -y debootstrap)"
  local mirror="${BOOT_MIRROR:-$(host_mirror)}" rootfs="${WORK_DIR}/rootfs"
  log "debootstrap ${SUITE} from ${mirror} (cold cache; several minutes)"
  # The downloaded .debs are kept in the cache too, so a failed or deleted rootfs is rebuilt without downloading.
  mkdir -p "${CACHE_DIR}/debs"
  if ! "${DEBOOTSTRAP}" --variant=minbase --cache-dir="${CACHE_DIR}/debs" --include="${INCLUDE_PACKAGES}" \
    "${SUITE}" "${rootfs}" "${mirror}" >"${CACHE_DIR}/debootstrap.log" 2>&1; then
    cp "${rootfs}/debootstrap/debootstrap.log" "${CACHE_DIR}/debootstrap-inner.log" 2>/dev/null || true
    tail -n 30 "${CACHE_DIR}/debootstrap-inner.log" "${CACHE_DIR}/debootstrap.log" >&2 || true
    die "debootstrap failed; logs in ${CACHE_DIR}/debootstrap*.log"
  fi
  # The same suites the host uses, on the same mirror: the security archive is served beside it
  # (MIRROR-security), which is how deb.debian.org and its snapshots lay it out.
  rm -f "${rootfs}/etc/apt/sources.list"
  cat >"${rootfs}/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: ${mirror}
Suites: ${SUITE} ${SUITE}-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}-security
Suites: ${SUITE}-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  rm -rf "${rootfs:?}/var/cache/apt/archives/"*.deb "${rootfs:?}/var/lib/apt/lists/"*
  tar --numeric-owner --xattrs -C "${rootfs}" -cf "${ROOTFS_TAR}.tmp" .
  mv "${ROOTFS_TAR}.tmp" "${ROOTFS_TAR}"
  rm -rf "${rootfs:?}"
  "${DOCKER}" rmi -f "${BASE_IMAGE}" >/dev/null 2>&1 || true
  log "rootfs cached: ${ROOTFS_TAR} ($(du -h "${ROOTFS_TAR}" | cut -f1))"
}

# ensure_images imports the cached rootfs as the base image when Docker lacks it, then builds the boot image on
# top (test/boot/image: the container-only cloud-init settings); layer caching makes the warm build instant.
ensure_images() {
  if ! "${DOCKER}" image inspect "${BASE_IMAGE}" >/dev/null 2>&1; then
    log "importing ${ROOTFS_TAR} as ${BASE_IMAGE}"
    "${DOCKER}" import "${ROOTFS_TAR}" "${BASE_IMAGE}" >/dev/null
  fi
  quiet_build --build-arg "BASE=${BASE_IMAGE}" -t "${BOOT_IMAGE}" "${REPO_ROOT}/test/boot/image"
}

# quiet_build runs `docker build` with the legacy builder (this Docker has no buildx; FROM a local image needs no
# registry either way), printing its output, deprecation notice included, only when it fails.
quiet_build() {
  local out
  if ! out="$(DOCKER_BUILDKIT=0 "${DOCKER}" build -q "$@" 2>&1)"; then
    printf '%s\n' "${out}" >&2
    die "docker build $* failed"
  fi
}

# build_app builds the test app twice (VERSION boot-v1 and boot-v2) FROM scratch and saves both to one archive
# that the checker loads into each booted host's own Docker.
build_app() {
  local src="${REPO_ROOT}/testapp" dir="${WORK_DIR}/app" v
  [[ -f "${src}/main.go" ]] || die "testapp/ (the static Go test app) not found at ${src}"
  mkdir -p "${dir}"
  (cd "${REPO_ROOT}" && CGO_ENABLED=0 "${GO}" build -trimpath -o "${dir}/testapp" ./testapp)
  for v in boot-v1 boot-v2; do
    quiet_build --build-arg "VERSION=${v}" -t "deploylab-testapp:${v}" -f "${REPO_ROOT}/test/boot/app/Dockerfile" "${dir}"
  done
  "${DOCKER}" save -o "${WORK_DIR}/app-images.tar" deploylab-testapp:boot-v1 deploylab-testapp:boot-v2
  (cd "${REPO_ROOT}" && "${GO}" build -o "${WORK_DIR}/check" ./test/boot/check)
  (cd "${REPO_ROOT}" && "${GO}" build -o "${WORK_DIR}/fakeaws" ./test/boot/fakeaws)
}

# start_fakeaws serves the objects of one host's plan.json (none: nothing to serve) on the Docker bridge's gateway
# address (reachable from the boot containers, not from outside this machine) and writes the endpoints file the
# container mounts. One per host: two plans may give their buckets the same mock name.
start_fakeaws() {
  local plan="$1" gateway plans=()
  stop_fakeaws
  gateway="$("${DOCKER}" network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
  if [[ -z "${gateway}" ]]; then
    gateway="$(ip -4 -o addr show docker0 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -n 1)"
  fi
  [[ -n "${gateway}" ]] || die "no address of the Docker bridge (docker network inspect bridge; ip addr show docker0)"
  if [[ -f "${plan}" ]]; then plans=("${plan}"); fi
  rm -rf "${WORK_DIR:?}/objects" "${WORK_DIR}/fakeaws.addr"
  mkdir -p "${WORK_DIR}/objects"
  "${WORK_DIR}/fakeaws" -listen "${gateway}:0" -addr-file "${WORK_DIR}/fakeaws.addr" -objects "${WORK_DIR}/objects" \
    "${plans[@]+"${plans[@]}"}" >"${WORK_DIR}/fakeaws.log" 2>&1 &
  FAKEAWS_PID=$!
  local i
  for i in $(seq 1 50); do
    [[ -s "${WORK_DIR}/fakeaws.addr" ]] && break
    kill -0 "${FAKEAWS_PID}" 2>/dev/null || { cat "${WORK_DIR}/fakeaws.log" >&2; die "fakeaws did not start"; }
    sleep 0.2
  done
  [[ -s "${WORK_DIR}/fakeaws.addr" ]] || die "fakeaws did not listen within ${i} tries"
  local addr
  addr="$(cat "${WORK_DIR}/fakeaws.addr")"
  printf 'IMDS_URL=http://%s\nS3_URL=http://%s/s3\n' "${addr}" "${addr}" >"${WORK_DIR}/aws-endpoints.env"
  log "fakeaws (IMDSv2 + S3) on ${addr}: $(head -n 1 "${WORK_DIR}/fakeaws.log")"
}

stop_fakeaws() {
  if [[ -n "${FAKEAWS_PID}" ]]; then
    kill "${FAKEAWS_PID}" 2>/dev/null || true
    wait "${FAKEAWS_PID}" 2>/dev/null || true
    FAKEAWS_PID=""
  fi
}

# seed writes the NoCloud seed of one host. Hand-written samples carry __DEPLOY_SH_B64__ where rendered user data
# embeds scripts/deploy.sh; it is filled in here (empty while the script does not exist, which the checker fails).
seed() {
  local userdata="$1" dir="$2" name="$3" b64=""
  mkdir -p "${dir}"
  if [[ -f "${REPO_ROOT}/scripts/deploy.sh" ]]; then
    b64="$(base64 -w0 "${REPO_ROOT}/scripts/deploy.sh")"
  fi
  sed "s|__DEPLOY_SH_B64__|${b64}|" "${userdata}" >"${dir}/user-data"
  printf 'instance-id: boot-%s-%s\nlocal-hostname: %s\n' "${name}" "$(date +%s)" "${name}" >"${dir}/meta-data"
}

# start_host starts the boot container CONTAINER for the seed in SEED_DIR (extra docker run arguments after
# them); returns non-zero when Docker refuses.
start_host() {
  local container="$1" seed_dir="$2" name="$3"
  shift 3
  CONTAINERS+=("${container}")
  log "${name}: booting ${BOOT_IMAGE} as ${container}"
  # systemd as PID 1 needs the cgroup hierarchy writable and tmpfs on /run; the host's Docker needs a real
  # filesystem under /var/lib/docker (an anonymous volume on the host disk) rather than the container's own
  # overlay root, so it can use overlay2 like on EC2. The volume lives as long as the container (reboot included).
  # --privileged is spelled out instead: this machine's dockerd lacks CAP_SYS_RESOURCE, so asking for every
  # capability (what --privileged does) fails with "unable to apply caps"; everything else it grants is here.
  "${DOCKER}" run -d --name "${container}" --hostname "${name}" \
    --cap-add ALL --cap-drop "${BOOT_CAP_DROP:-SYS_RESOURCE}" --device-cgroup-rule 'a *:* rwm' \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined --security-opt systempaths=unconfined \
    --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
    -v "${seed_dir}:/var/lib/cloud/seed/nocloud:ro" --mount type=volume,dst=/var/lib/docker \
    "$@" "${BOOT_IMAGE}" >/dev/null
}

# wait_cloud_init waits (bounded) for cloud-init in CONTAINER; prints its state and returns non-zero on failure.
wait_cloud_init() {
  local container="$1" name="$2"
  if ! "${DOCKER}" exec "${container}" timeout "${BOOT_TIMEOUT}" cloud-init status --wait >/dev/null 2>&1; then
    log "${name}: cloud-init not done within ${BOOT_TIMEOUT}s (or failed); its state:"
    "${DOCKER}" exec "${container}" sh -c 'cloud-init status --long; tail -n 40 /var/log/cloud-init-output.log;
      systemctl --failed --no-pager' >&2 || true
    return 1
  fi
}

# boot_one boots one user data, waits for cloud-init (bounded), runs the checker; returns non-zero on any failure.
boot_one() {
  local userdata="$1" name container seed_dir start ready rc=0
  name="$(basename "${userdata}" .yaml)"
  container="deploylab-boot-${name}-$$"
  seed_dir="${WORK_DIR}/seed/${name}"
  seed "${userdata}" "${seed_dir}" "${name}"
  start_fakeaws "$(dirname "${userdata}")/${name}.plan.json"
  start="$(date +%s)"
  if ! start_host "${container}" "${seed_dir}" "${name}" \
    -v "${WORK_DIR}/aws-endpoints.env:/etc/deploylab/aws-endpoints.env:ro"; then
    printf '%s: 0 passed, 1 failed\n' "${container}" >"${WORK_DIR}/${name}.result"
    log "${name}: FAIL: the boot container did not start"
    return 1
  fi
  wait_cloud_init "${container}" "${name}" || rc=1
  ready="$(date +%s)"
  log "${name}: boot to cloud-init done: $((ready - start)) s (container start to \`cloud-init status --wait\`)"
  "${WORK_DIR}/check" -docker "${DOCKER}" -container "${container}" -userdata "${seed_dir}/user-data" \
    -app-images "${WORK_DIR}/app-images.tar" -objects "${WORK_DIR}/objects" \
    -image1 deploylab-testapp:boot-v1 -image2 deploylab-testapp:boot-v2 | tee "${WORK_DIR}/${name}.result" || rc=1
  log "${name}: boot + checks: $(($(date +%s) - start)) s"
  stop_fakeaws
  if [[ "${BOOT_KEEP:-0}" != 1 ]]; then
    "${DOCKER}" rm -f --volumes "${container}" >/dev/null 2>&1 || true
  fi
  return "${rc}"
}

# boot_jenkins boots the Jenkins controller's user data as far as it goes without the Jenkins image, which no
# registry here serves: packages, files, the SSM agent installer (which finds no metadata service and says so),
# then jenkins-setup: the home volume (a loop device standing in for the EBS volume at HOME_DEVICE_NAME) is
# formatted and mounted, the jenkins user created, and `docker build` of the controller image starts and stops
# at pulling its base. Each assertion is one PASS/FAIL line, as the checker prints them.
boot_jenkins() {
  local userdata="$1" name container seed_dir img loop passed=0 failed=0
  name="$(basename "${userdata}" .yaml)"
  container="deploylab-boot-${name}-$$"
  seed_dir="${WORK_DIR}/seed/${name}"
  seed "${userdata}" "${seed_dir}" "${name}"
  img="${WORK_DIR}/${name}-home.img"
  truncate -s 256M "${img}"
  # losetup needs root: sudo -n when not root (GitHub's runners), as scripts/install-deps.sh does.
  local -a root=()
  if [[ "$(id -u)" -ne 0 ]]; then root=(sudo -n); fi
  loop="$("${root[@]+"${root[@]}"}" losetup --find --show "${img}")" || die "losetup: no loop device for the stand-in home volume"
  LOOPS+=("${loop}")
  if ! start_host "${container}" "${seed_dir}" "${name}" --device "${loop}:/dev/sdf"; then
    printf '%s: 0 passed, 1 failed\n' "${container}" >"${WORK_DIR}/${name}.result"
    return 1
  fi
  # cloud-init ends in error by design here (the image build cannot pull); the assertions below say how far it got.
  wait_cloud_init "${container}" "${name}" || true
  check() {
    local what="$1"
    shift
    if "${DOCKER}" exec "${container}" bash -o pipefail -c "$*" >/dev/null 2>&1; then
      printf 'PASS %s\n' "${what}"
      passed=$((passed + 1))
    else
      printf 'FAIL %s\n' "${what}"
      failed=$((failed + 1))
    fi
  }
  {
    check "cloud-init schema of the booted user data" 'cloud-init schema --system'
    check "packages installed: docker, aws, curl" 'command -v docker && command -v aws && command -v curl'
    check "SSM agent installer ran and explained its failure" \
      'grep -q "deploylab: SSM agent not installed" /var/log/cloud-init-output.log'
    check "jenkins.service is a unit systemd loads" 'systemctl show -p LoadState jenkins.service | grep -qx LoadState=loaded'
    check "home volume formatted and mounted at /srv/jenkins_home" 'mountpoint -q /srv/jenkins_home && blkid /dev/sdf | grep -q ext4'
    # shellcheck disable=SC2016 # expanded by the shell inside the container, not here
    check "host user jenkins at the container uid owns the home" \
      '. /etc/jenkins/jenkins.env && [[ "$(id -u jenkins)" == "${JENKINS_UID}" && "$(stat -c %u /srv/jenkins_home)" == "${JENKINS_UID}" ]]'
    check "image context written: Dockerfile on the pinned core, pinned plugins" \
      'grep -q "^FROM jenkins/jenkins:.*-lts-jdk" /etc/jenkins/image/Dockerfile && ! grep -vE "^(#|$|[a-z0-9._-]+:[0-9][A-Za-z0-9._-]*$)" /etc/jenkins/image/plugins.txt'
    check "jenkins-setup reached docker build, which stopped at pulling the base image" \
      'grep -q "jenkins-setup: building deploylab/jenkins:local" /var/log/cloud-init-output.log && ! docker image inspect deploylab/jenkins:local'
    check "no secret in the boot log" '! grep -qiE "BEGIN OPENSSH PRIVATE KEY|x-access-token:" /var/log/cloud-init-output.log'
    printf '%s: %d passed, %d failed\n' "${container}" "${passed}" "${failed}"
  } >"${WORK_DIR}/${name}.result" # not a pipe: the counters must stay in this shell
  cat "${WORK_DIR}/${name}.result"
  if [[ "${BOOT_KEEP:-0}" != 1 ]]; then
    "${DOCKER}" rm -f --volumes "${container}" >/dev/null 2>&1 || true
  fi
  ((failed == 0))
}

# app_images_only builds what the checker needs into $1 (test/acceptance runs the same checker over SSH).
app_images_only() {
  local out="$1"
  mkdir -p "${out}"
  trap cleanup EXIT
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/boot-test.XXXXXX")"
  build_app
  cp "${WORK_DIR}/app-images.tar" "${WORK_DIR}/check" "${out}/"
}

main() {
  if [[ "${1:-}" == --app-images ]]; then
    [[ $# -eq 2 ]] || die "usage: $0 --app-images DIR"
    app_images_only "$2"
    return 0
  fi
  local dir="${1:-${REPO_ROOT}/test/boot/sample}" f failed=0 passed_total=0 failed_total=0 p m
  [[ $# -le 1 ]] || die "usage: $0 [USERDATA_DIR]  (boots every USERDATA_DIR/*.yaml)"
  [[ -d "${dir}" ]] || die "USERDATA_DIR ${dir}: not a directory"
  local files=("${dir}"/*.yaml)
  [[ -e "${files[0]}" ]] || die "USERDATA_DIR ${dir}: no *.yaml user data in it"
  command -v "${DOCKER}" >/dev/null || die "docker not found (DOCKER=${DOCKER})"
  command -v "${GO}" >/dev/null || die "go not found (GO=${GO})"
  if [[ "${BOOT_KEEP:-0}" != 1 ]]; then
    trap cleanup EXIT
  fi
  WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/boot-test.XXXXXX")"
  ensure_rootfs
  ensure_images
  build_app
  # One host after the other: each boot installs Docker and nginx, which is all two cores can take.
  for f in "${files[@]}"; do
    # A Jenkins controller's user data (its file name says jenkins) boots as far as it can without its image.
    if [[ "$(basename "${f}")" == *jenkins* ]]; then
      boot_jenkins "${f}" || failed=1
    else
      boot_one "${f}" || failed=1
    fi
    p="" m=""
    read -r p m < <(sed -nE 's/.*: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "${WORK_DIR}/$(basename "${f}" .yaml).result") || true
    passed_total=$((passed_total + ${p:-0}))
    failed_total=$((failed_total + ${m:-1}))
  done
  printf 'boot-test: %d hosts, %d passed, %d failed\n' "${#files[@]}" "${passed_total}" "${failed_total}"
  return "${failed}"
}

main "$@"
