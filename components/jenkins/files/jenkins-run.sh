#!/usr/bin/env bash
# Runs the Jenkins container in the foreground for jenkins.service. The secrets directory (tmpfs, filled by
# jenkins-secrets.sh) is mounted read-only at /run/secrets, where JCasC resolves ${JENKINS_ADMIN_PASSWORD} and
# ${DEPLOY_SSH_KEY}. The app host's pinned key is the container's global known_hosts. The container runs as the
# image's jenkins user (moved to JENKINS_UID by the derived image), so ssh and docker find a passwd entry and
# HOME=/var/jenkins_home. The Docker socket is mounted so pipelines can build images on this host: whoever can run a
# pipeline is root on the controller, which is why only admins reach the UI.
set -o errexit -o nounset -o pipefail

ENV_FILE="${JENKINS_ENV_FILE:-/etc/jenkins/jenkins.env}"
DOCKER="${DOCKER:-docker}"

main() {
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  # shellcheck source=/dev/null # written by jenkins-secrets.sh before every start
  . /run/jenkins/region.env
  local docker_gid
  docker_gid="$(getent group docker | cut -d: -f3)"
  exec "${DOCKER}" run --rm --name jenkins \
    --user jenkins --group-add "${docker_gid:?}" \
    --publish "${JENKINS_PUBLISH:?}:8080" \
    --volume "${JENKINS_HOME_DIR:?}:/var/jenkins_home" \
    --volume /run/jenkins/secrets:/run/secrets:ro \
    --volume /etc/jenkins/casc:/var/jenkins_conf:ro \
    --volume /etc/jenkins/ssh_known_hosts:/etc/ssh/ssh_known_hosts:ro \
    --volume /var/run/docker.sock:/var/run/docker.sock \
    --env CASC_JENKINS_CONFIG=/var/jenkins_conf/jenkins.yaml \
    --env "JAVA_OPTS=-Djenkins.install.runSetupWizard=false" \
    --env "AWS_REGION=${AWS_REGION:?}" \
    "${JENKINS_IMAGE:?}"
}

main "$@"
