#!/usr/bin/env bash
# Runs the Jenkins container in the foreground for jenkins.service. The secrets directory (tmpfs, filled by
# jenkins-secrets.sh) is mounted read-only at /run/secrets, for JCasC and the jobs' Job DSL. The container runs as
# the image's jenkins user (moved to JENKINS_UID by the derived image), so ssh and git find a passwd entry and
# HOME=/var/jenkins_home. No Docker socket: builds run on the build agent, never as root on the controller.
set -o errexit -o nounset -o pipefail

ENV_FILE="${JENKINS_ENV_FILE:-/etc/jenkins/jenkins.env}"
DOCKER="${DOCKER:-docker}"

main() {
  # shellcheck source=/dev/null # written by cloud-init at boot; not present when linting
  . "${ENV_FILE}"
  # shellcheck source=/dev/null # written by jenkins-secrets.sh before every start
  . /run/jenkins/region.env
  exec "${DOCKER}" run --rm --name jenkins \
    --user jenkins \
    --publish "${JENKINS_PUBLISH:?}:8080" \
    --volume "${JENKINS_HOME_DIR:?}:/var/jenkins_home" \
    --volume /run/jenkins/secrets:/run/secrets:ro \
    --volume /etc/jenkins/casc:/var/jenkins_conf:ro \
    --env CASC_JENKINS_CONFIG=/var/jenkins_conf/jenkins.yaml \
    --env "JAVA_OPTS=-Djenkins.install.runSetupWizard=false" \
    --env "AWS_REGION=${AWS_REGION:?}" \
    "${JENKINS_IMAGE:?}"
}

main "$@"
