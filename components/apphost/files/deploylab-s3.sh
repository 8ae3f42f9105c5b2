#!/usr/bin/env bash
# deploylab-s3: this host's way to its own S3 bucket, with the instance role and nothing but curl.
#
#   deploylab-s3 bootstrap BUCKET FILES_KEY FILES_SHA256 [HOST_KEY_KEY]
#       fetch the host's files bundle, refuse it unless its sha256 is the one the user data pins, unpack it into /,
#       and install the SSH host key the stack generated (first boot, from cloud-init's runcmd)
#   deploylab-s3 get BUCKET KEY DEST [--optional]     exit 3 when --optional and the object does not exist
#   deploylab-s3 put BUCKET KEY SRC
#
# Why: EC2 takes at most 16,384 bytes of user data, and deploy.sh alone is about twice that; the files live in S3
# and the user data carries only this script and the pin (README, Decisions). Requests are signed with SigV4 by
# curl itself (--aws-sigv4, curl >= 7.75; Debian 12 ships 7.88, Ubuntu 24.04 8.5) with the role's temporary
# credentials from IMDSv2, so no AWS CLI is needed (Ubuntu 24.04 has none in its archive).
# The endpoints are AWS's unless ENDPOINTS_FILE (KEY=VALUE data, never sourced) names others: the boot test points
# IMDS_URL and S3_URL at its local stand-ins, and every other line of this script runs as on EC2.
# External binaries are overridable: CURL, TAR, SHA256SUM, SSH_KEYGEN.
set -o errexit -o nounset -o pipefail

CURL="${CURL:-curl}"
TAR="${TAR:-tar}"
SHA256SUM="${SHA256SUM:-sha256sum}"
SSH_KEYGEN="${SSH_KEYGEN:-ssh-keygen}"
ENDPOINTS_FILE="${DEPLOYLAB_ENDPOINTS_FILE:-/etc/deploylab/aws-endpoints.env}"
# Written after a verified unpack; the ready check compares it with the pin.
STAMP_FILE="${DEPLOYLAB_BOOTSTRAP_STAMP:-/var/lib/deploylab/bootstrap.sha256}"
HOST_KEY_FILE="${DEPLOYLAB_HOST_KEY_FILE:-/etc/ssh/ssh_host_ed25519_key}"
# The SHA-256 of an empty payload (a GET's); S3 requires x-amz-content-sha256 and curl < 7.86 does not send it.
readonly EMPTY_SHA256=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
IMDS_URL="http://169.254.169.254"
S3_URL=""
WORKDIR=""
REGION=""
AKID=""
SECRET=""
SESSION=""

log() { printf 'deploylab-s3: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
  if [[ -n "$WORKDIR" ]]; then rm -rf "${WORKDIR:?}"; fi
}

read_endpoints() {
  [[ -f "$ENDPOINTS_FILE" ]] || return 0
  local key value
  while IFS='=' read -r key value; do
    case "$key" in
      IMDS_URL) IMDS_URL="$value" ;;
      S3_URL) S3_URL="$value" ;;
      '' | '#'*) ;;
      *) die "$ENDPOINTS_FILE: unknown key $key (accepted: IMDS_URL, S3_URL)" ;;
    esac
  done <"$ENDPOINTS_FILE"
  log "endpoints from $ENDPOINTS_FILE: IMDS $IMDS_URL, S3 ${S3_URL:-AWS}"
}

# json_field prints one string field of the credentials document IMDS returns (one field per line).
json_field() {
  sed -n 's/^[[:space:]]*"'"$1"'"[[:space:]]*:[[:space:]]*"\([^"]*\)".*$/\1/p' <<<"$2"
}

# credentials sets REGION and the instance role's temporary credentials, from IMDSv2.
credentials() {
  read_endpoints
  local token role="" creds i
  token="$("$CURL" -fsS --retry 5 --retry-connrefused -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' "$IMDS_URL/latest/api/token")"
  imds() { "$CURL" -fsS --retry 5 --retry-connrefused -H "X-aws-ec2-metadata-token: $token" "$IMDS_URL/latest/$1"; }
  REGION="$(imds meta-data/placement/region)"
  [[ "$REGION" =~ ^[a-z0-9-]+$ ]] || die "unexpected region from the metadata service: $REGION"
  # The instance profile's credentials can lag the first seconds of a boot.
  for i in $(seq 1 30); do
    role="$(imds meta-data/iam/security-credentials/ 2>/dev/null | head -n 1 || true)"
    [[ -z "$role" ]] || break
    sleep 2
  done
  [[ -n "$role" ]] || die "no instance role credentials after ${i} tries (is the instance profile attached?)"
  creds="$(imds "meta-data/iam/security-credentials/$role")"
  AKID="$(json_field AccessKeyId "$creds")"
  SECRET="$(json_field SecretAccessKey "$creds")"
  SESSION="$(json_field Token "$creds")"
  [[ -n "$AKID" && -n "$SECRET" && -n "$SESSION" ]] || die "role $role: no AccessKeyId, SecretAccessKey and Token in the credentials"
}

# s3 METHOD BUCKET KEY FILE [optional]: one signed request, retried (a role created seconds before the instance can
# be refused while IAM propagates). GET writes FILE, PUT sends it. The secret goes to curl on stdin (-K -), never
# on a command line. Returns 3 for a missing object when optional.
s3() {
  local method="$1" bucket="$2" key="$3" file="$4" optional="${5:-}" base attempt code payload="$EMPTY_SHA256"
  local io=(-o "$file")
  if [[ "$method" == PUT ]]; then
    io=(-o /dev/null -T "$file")
    payload=UNSIGNED-PAYLOAD # S3 takes it over TLS; curl cannot hash a streamed body
  fi
  base="https://$bucket.s3.$REGION.amazonaws.com"
  if [[ -n "$S3_URL" ]]; then base="$S3_URL/$bucket"; fi
  for attempt in 1 2 3 4 5; do
    code="$("$CURL" -sS --proto '=https,http' -K - -X "$method" "${io[@]}" -w '%{http_code}' "$base/$key" <<CONFIG || true
aws-sigv4 = "aws:amz:$REGION:s3"
user = "$AKID:$SECRET"
header = "x-amz-security-token: $SESSION"
header = "x-amz-content-sha256: $payload"
CONFIG
)"
    case "$code" in
      200) return 0 ;;
      404) if [[ -n "$optional" ]]; then return 3; fi ;;
    esac
    log "$method s3://$bucket/$key: HTTP ${code:-none} (attempt $attempt of 5)"
    sleep $((attempt * 3))
  done
  die "$method s3://$bucket/$key failed"
}

bootstrap() {
  [[ $# -eq 3 || $# -eq 4 ]] || die "usage: deploylab-s3 bootstrap BUCKET FILES_KEY FILES_SHA256 [HOST_KEY_KEY]"
  local bucket="$1" files_key="$2" want="$3" host_key_key="${4:-}" got
  [[ "$want" =~ ^[0-9a-f]{64}$ ]] || die "FILES_SHA256 $want: want 64 hex digits"
  s3 GET "$bucket" "$files_key" "$WORKDIR/files.tar.gz"
  got="$("$SHA256SUM" "$WORKDIR/files.tar.gz" | cut -d' ' -f1)"
  [[ "$got" == "$want" ]] || die "s3://$bucket/$files_key has sha256 $got, the user data pins $want: refusing it"
  # Owners are names in the archive (the admin user exists by now); existing directories keep their metadata.
  "$TAR" --extract --gzip --file "$WORKDIR/files.tar.gz" --directory / --no-overwrite-dir
  log "unpacked s3://$bucket/$files_key (sha256 $got)"
  if [[ -n "$host_key_key" ]]; then
    s3 GET "$bucket" "$host_key_key" "$WORKDIR/host_key"
    chmod 0600 "$WORKDIR/host_key" # ssh-keygen ignores a private key others may read
    # ssh-keygen -y both proves it is a private key and derives the public half sshd serves beside it.
    "$SSH_KEYGEN" -y -f "$WORKDIR/host_key" >"$WORKDIR/host_key.pub" || die "s3://$bucket/$host_key_key is not an OpenSSH private key"
    install -m 0600 "$WORKDIR/host_key" "$HOST_KEY_FILE"
    install -m 0644 "$WORKDIR/host_key.pub" "$HOST_KEY_FILE.pub"
    log "installed the stack's SSH host key ($(cut -c1-60 "$WORKDIR/host_key.pub")…)"
  fi
  mkdir -p "$(dirname "$STAMP_FILE")"
  printf '%s\n' "$got" >"$STAMP_FILE"
}

main() {
  local cmd="${1:-}"
  shift || true
  trap cleanup EXIT
  WORKDIR="$(mktemp -d)"
  case "$cmd" in
    bootstrap)
      credentials
      bootstrap "$@"
      ;;
    get)
      [[ $# -eq 3 || ($# -eq 4 && "$4" == --optional) ]] || die "usage: deploylab-s3 get BUCKET KEY DEST [--optional]"
      credentials
      local rc=0
      s3 GET "$1" "$2" "$WORKDIR/object" "${4:-}" || rc=$?
      if [[ $rc -eq 0 ]]; then mv "$WORKDIR/object" "$3"; fi
      return "$rc"
      ;;
    put)
      [[ $# -eq 3 ]] || die "usage: deploylab-s3 put BUCKET KEY SRC"
      credentials
      s3 PUT "$1" "$2" "$3"
      ;;
    *) die "usage: deploylab-s3 bootstrap|get|put … (see the header of $0)" ;;
  esac
}

main "$@"
