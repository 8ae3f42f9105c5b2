#!/usr/bin/env bash
# deploy.sh: host-side blue/green deploys of one containerised app behind nginx (or an AWS ALB).
#
#   deploy.sh deploy IMAGE   pull IMAGE, start it (pinned by digest) in the idle colour, gate on health, switch,
#                            drain, remove the old colour
#   deploy.sh rollback       deploy the exact image (by digest) the last successful deploy replaced
#   deploy.sh status         print the live colour, its image, the previous image, the switch and the lock holder
#   deploy.sh restore        point the switch at the recorded live colour again and start it if it is stopped (run
#                            at boot: nft rules do not survive one); it never removes the live colour
#   deploy.sh ssh            the forced command of the CI deploy key (authorized_keys restrict,command="deploy.sh
#                            ssh"): runs SSH_ORIGINAL_COMMAND if it is one of the three above, never through a shell
#
# Configuration: the env file ${DEPLOYLAB_ENV_FILE:-/etc/deploylab/deploy.env}, KEY=VALUE lines (read, never
# sourced: it is data, not code; an unknown key is an error). A key the file leaves out is taken from the
# environment when set there (`env PULL=never deploy.sh deploy IMAGE`), else from its default:
#   APP_NAME             (required) compose project prefix: APP_NAME-blue, APP_NAME-green
#   BLUE_PORT=8081 GREEN_PORT=8082   host ports of the colours; APP_PORT=8080 the container port
#   PUBLISH_ADDRESS      address the colours are published on: 127.0.0.1 (nft, nginx: the switch is local); with
#                        alb 0.0.0.0, or the host's private address: where the ALB's health checks and traffic
#                        reach them (the security group admits only the ALB). Loopback is refused with alb.
#   HEALTH_PATH=/actuator/health/readiness   must answer 2xx, directly and through PUBLIC_URL
#   VERSION_PATH=        opt-in: PUBLIC_URL must answer this path byte for byte as the new colour does ("" skips)
#   PUBLIC_URL=http://127.0.0.1   where clients come in (with alb: the ALB's address, never loopback)
#   PUBLIC_INSECURE=0    1: the checks through PUBLIC_URL accept any TLS certificate. For an HTTPS ALB reached by
#                        its own DNS name, which the site's certificate never names: the check proves the switch
#                        took effect, not the certificate (an HTTP ALB listener only redirects to HTTPS)
#   SWITCH=nginx         nft, nginx or alb (below); SWITCH_PORT=8090 and NFT=nft for nft
#   NGINX_UPSTREAM_FILE=/etc/nginx/deploylab/upstream.conf NGINX_TEST_CMD="nginx -t" NGINX_RELOAD_CMD="nginx -s reload"
#   LISTENER_ARN TG_BLUE_ARN TG_GREEN_ARN   (required with alb)
#   HEALTH_OK_COUNT=3 HEALTH_TIMEOUT=90 HEALTH_INTERVAL=0.2 ALB_HEALTH_TIMEOUT=300   the health gates
#   DRAIN_SECONDS        least wait after the switch before the old colour's connections are counted: nft 0,
#                        nginx 1 (old workers), alb 5 (a listener change propagates)
#   STOP_TIMEOUT=30      cap on the wait for the old colour's connections to end, then docker stop's grace period
#   PULL=always          always: docker pull before each deploy (a failed pull fails it); never: local images only
#   SSH_IMAGE_REPOSITORY=   with it, `ssh` (the CI key's forced command) deploys only REPOSITORY@sha256:DIGEST
#   PRUNE=1              1: after a deploy, remove the deployed repository's images that are older than the
#                        previous one (rollback needs it), never the live one; 0 keeps them all
#   STATE_DIR=/var/lib/deploylab/APP_NAME   CONTAINER_ENV_FILE=   (an env_file for the app's containers)
# External binaries are overridable by environment: DOCKER, COMPOSE (shell words, e.g. "docker compose"), CURL,
# FLOCK, AWS_CLI (shell words, e.g. "aws --endpoint-url http://127.0.0.1:4566"), and NFT (shell words, e.g.
# "sudo -n /usr/sbin/nft"; the env file key NFT wins over the environment).
#
# Switches (SWITCH):
#   nft    nginx proxies to a fixed local port, SWITCH_PORT, and a kernel NAT rule of the app's own nftables
#          table (ip deploylab_APP_NAME) sends it on to the live colour. A switch replaces that rule in one
#          `nft -f` transaction: nginx is not reloaded, so no client keepalive connection is closed; connections
#          already established keep their conntrack mapping to the old colour while it drains, new ones go to the
#          new colour at once.
#   nginx  the upstream include is rewritten and nginx reloaded (nginx 1.22 closes idle keepalive connections on
#          reload: clients that do not retry see errors).
#   alb    wait until the ALB reports the colour's target group healthy (its own probes of PUBLISH_ADDRESS), then
#          forward the listener to it; verification goes through PUBLIC_URL, the ALB.
#
# The live colour is the one recorded at the last switch (STATE_DIR/live) whose containers exist (docker ps -a),
# never guessed from listening sockets: a live container that crash-loops or is stopped is still the live one.
#
# Exit status: 0 success, 1 deploy failed (the old colour still serves), 2 bad usage or configuration (or a
# command the ssh forced command refuses), 3 another deploy holds the lock.
set -o errexit -o nounset -o pipefail

readonly ENV_FILE="${DEPLOYLAB_ENV_FILE:-/etc/deploylab/deploy.env}"
DOCKER="${DOCKER:-docker}"
CURL="${CURL:-curl}"
FLOCK="${FLOCK:-flock}"
AWS_CLI="${AWS_CLI:-aws}"
NFT="${NFT:-nft}"
COMPOSE="${COMPOSE:-}"

# Deploy progress, read by cleanup to undo exactly what this run did.
PHASE=idle
LOCKED=0
NEW_COLOUR=""
OLD_COLOUR=""
UPSTREAM_SAVED=""
HEALTH_LOG=""
SWITCHED=0

# Timestamps with milliseconds, from builtins only: the log shows where a deploy's time goes. A log line that
# cannot be written (the SSH session that reads it is gone) is not itself an error: the PIPE trap decides.
log() {
  local now="$EPOCHREALTIME"
  TZ=UTC printf '%(%H:%M:%S)T.%s deploy.sh: %s\n' "${now%.*}" "${now:(-6):3}" "$*" >&2 || true
}
die() { log "error: $*"; exit 1; }
usage_error() {
  log "error: $*"
  printf 'usage: %s deploy IMAGE | rollback | status | restore | ssh\n' "${0##*/}" >&2 || true
  exit 2
}

# ---------------------------------------------------------------------------------------------- configuration

CONFIG_KEYS=" APP_NAME BLUE_PORT GREEN_PORT APP_PORT HEALTH_PATH NGINX_UPSTREAM_FILE NGINX_TEST_CMD"
CONFIG_KEYS+=" NGINX_RELOAD_CMD PUBLIC_URL SWITCH LISTENER_ARN TG_BLUE_ARN TG_GREEN_ARN HEALTH_OK_COUNT HEALTH_TIMEOUT"
CONFIG_KEYS+=" HEALTH_INTERVAL ALB_HEALTH_TIMEOUT DRAIN_SECONDS STOP_TIMEOUT STATE_DIR VERSION_PATH CONTAINER_ENV_FILE"
CONFIG_KEYS+=" SWITCH_PORT NFT PUBLISH_ADDRESS PULL PUBLIC_INSECURE SSH_IMAGE_REPOSITORY PRUNE "
readonly CONFIG_KEYS

# read_env_file sets the known keys from the env file; unknown keys are an error so a typo is not silently ignored.
read_env_file() {
  [[ -r "$ENV_FILE" ]] || usage_error "env file $ENV_FILE is missing or unreadable (set DEPLOYLAB_ENV_FILE)"
  local line key value n=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    [[ "$line" =~ ^(export[[:space:]]+)?([A-Z_][A-Z0-9_]*)=(.*)$ ]] ||
      usage_error "$ENV_FILE:$n: want KEY=VALUE, got: $line"
    key="${BASH_REMATCH[2]}"
    value="${BASH_REMATCH[3]}"
    [[ "$CONFIG_KEYS" == *" $key "* ]] || usage_error "$ENV_FILE:$n: unknown key $key (accepted:$CONFIG_KEYS)"
    # One level of matching quotes is stripped, nothing is expanded.
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value="${BASH_REMATCH[1]}"; fi
    printf -v "$key" '%s' "$value"
  done <"$ENV_FILE"
}

load_config() {
  read_env_file
  APP_NAME="${APP_NAME:-}"
  BLUE_PORT="${BLUE_PORT:-8081}"
  GREEN_PORT="${GREEN_PORT:-8082}"
  APP_PORT="${APP_PORT:-8080}"
  # Spring Boot's readiness group: down while the app warms up or cannot reach what it needs. Off the cloud it
  # needs management.endpoint.health.probes.enabled=true (enabled by itself only on Kubernetes).
  HEALTH_PATH="${HEALTH_PATH:-/actuator/health/readiness}"
  NGINX_UPSTREAM_FILE="${NGINX_UPSTREAM_FILE:-/etc/nginx/deploylab/upstream.conf}"
  NGINX_TEST_CMD="${NGINX_TEST_CMD:-nginx -t}"
  NGINX_RELOAD_CMD="${NGINX_RELOAD_CMD:-nginx -s reload}"
  PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1}"
  PUBLIC_INSECURE="${PUBLIC_INSECURE:-0}"
  SSH_IMAGE_REPOSITORY="${SSH_IMAGE_REPOSITORY:-}"
  PRUNE="${PRUNE:-1}"
  SWITCH="${SWITCH:-nginx}"
  SWITCH_PORT="${SWITCH_PORT:-8090}"
  LISTENER_ARN="${LISTENER_ARN:-}"
  TG_BLUE_ARN="${TG_BLUE_ARN:-}"
  TG_GREEN_ARN="${TG_GREEN_ARN:-}"
  # An ALB reaches the instance on its private address, never on loopback; 0.0.0.0 needs no address in the env
  # file (the host's private address is known only once it runs) and the security group admits only the ALB.
  if [[ "$SWITCH" == alb ]]; then PUBLISH_ADDRESS="${PUBLISH_ADDRESS:-0.0.0.0}"; else PUBLISH_ADDRESS="${PUBLISH_ADDRESS:-127.0.0.1}"; fi
  HEALTH_OK_COUNT="${HEALTH_OK_COUNT:-3}"   # consecutive healthy answers needed
  HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-90}"    # seconds for the whole gate (Spring Boot starts slowly)
  # Seconds between probes (fractions allowed). Short, so readiness is seen within 0.2 s; the timeout above, not
  # the spacing, is what gives a slow app its time.
  HEALTH_INTERVAL="${HEALTH_INTERVAL:-0.2}"
  ALB_HEALTH_TIMEOUT="${ALB_HEALTH_TIMEOUT:-300}"
  # The least wait after the switch before the old colour's open connections are counted (drain): nft moves new
  # connections at once; after a reload nginx's new workers take over within moments; an ALB listener change
  # takes a few seconds to reach every ALB node.
  case "$SWITCH" in
    nft) DRAIN_SECONDS="${DRAIN_SECONDS:-0}" ;;
    nginx) DRAIN_SECONDS="${DRAIN_SECONDS:-1}" ;;
    *) DRAIN_SECONDS="${DRAIN_SECONDS:-5}" ;;
  esac
  STOP_TIMEOUT="${STOP_TIMEOUT:-30}"        # cap on the drain, then docker stop's grace period
  VERSION_PATH="${VERSION_PATH:-}"          # opt-in final check: PUBLIC_URL answers it like the new colour
  PULL="${PULL:-always}"
  CONTAINER_ENV_FILE="${CONTAINER_ENV_FILE:-}"
  STATE_DIR="${STATE_DIR:-/var/lib/deploylab/${APP_NAME}}"
  validate_config
}

validate_config() {
  local errs=() key
  [[ "$APP_NAME" =~ ^[a-z0-9][a-z0-9_-]{0,40}$ ]] ||
    errs+=("APP_NAME=\"$APP_NAME\": want lowercase letters, digits, '-' or '_' (a compose project name), 1-41 chars")
  for key in BLUE_PORT GREEN_PORT APP_PORT; do
    [[ "${!key}" =~ ^[0-9]{1,5}$ ]] && ((${!key} >= 1 && ${!key} <= 65535)) ||
      errs+=("$key=\"${!key}\": want a port 1-65535")
  done
  [[ "$BLUE_PORT" != "$GREEN_PORT" ]] || errs+=("BLUE_PORT=GREEN_PORT=\"$BLUE_PORT\": want two different ports")
  [[ "$HEALTH_PATH" =~ ^/[^[:space:]]*$ ]] || errs+=("HEALTH_PATH=\"$HEALTH_PATH\": want a path starting with /")
  [[ -z "$VERSION_PATH" || "$VERSION_PATH" =~ ^/[^[:space:]]*$ ]] ||
    errs+=("VERSION_PATH=\"$VERSION_PATH\": want a path starting with / or empty")
  for key in HEALTH_OK_COUNT HEALTH_TIMEOUT ALB_HEALTH_TIMEOUT STOP_TIMEOUT; do
    [[ "${!key}" =~ ^[1-9][0-9]*$ ]] || errs+=("$key=\"${!key}\": want a positive integer")
  done
  for key in HEALTH_INTERVAL DRAIN_SECONDS; do
    [[ "${!key}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || errs+=("$key=\"${!key}\": want a number of seconds, e.g. 1 or 0.5")
  done
  [[ "$PUBLIC_URL" =~ ^https?://[^[:space:]]+$ ]] || errs+=("PUBLIC_URL=\"$PUBLIC_URL\": want an http(s) URL")
  [[ "$PUBLIC_INSECURE" == 0 || "$PUBLIC_INSECURE" == 1 ]] || errs+=("PUBLIC_INSECURE=\"$PUBLIC_INSECURE\": want 0 or 1")
  [[ "$PRUNE" == 0 || "$PRUNE" == 1 ]] || errs+=("PRUNE=\"$PRUNE\": want 0 or 1")
  [[ "$STATE_DIR" == /* ]] || errs+=("STATE_DIR=\"$STATE_DIR\": want an absolute path")
  [[ "$PULL" == always || "$PULL" == never ]] || errs+=("PULL=\"$PULL\": want always or never")
  [[ "$PUBLISH_ADDRESS" =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ ]] ||
    errs+=("PUBLISH_ADDRESS=\"$PUBLISH_ADDRESS\": want an IPv4 address, e.g. 0.0.0.0 or the host's private address")
  case "$SWITCH" in
    nft | nginx)
      if [[ "$SWITCH" == nft ]]; then
        [[ "$SWITCH_PORT" =~ ^[0-9]{1,5}$ ]] && ((SWITCH_PORT >= 1 && SWITCH_PORT <= 65535)) ||
          errs+=("SWITCH_PORT=\"$SWITCH_PORT\": want a port 1-65535")
        [[ "$SWITCH_PORT" != "$BLUE_PORT" && "$SWITCH_PORT" != "$GREEN_PORT" ]] ||
          errs+=("SWITCH_PORT=\"$SWITCH_PORT\": want a port other than BLUE_PORT and GREEN_PORT")
        [[ -n "$NFT" ]] || errs+=("NFT is empty: want a command, e.g. nft or sudo -n /usr/sbin/nft")
      fi
      [[ "$PUBLISH_ADDRESS" == 127.0.0.1 ]] ||
        errs+=("PUBLISH_ADDRESS=\"$PUBLISH_ADDRESS\": want 127.0.0.1 with SWITCH=$SWITCH (nginx proxies on loopback)")
      [[ "$NGINX_UPSTREAM_FILE" == /* ]] ||
        errs+=("NGINX_UPSTREAM_FILE=\"$NGINX_UPSTREAM_FILE\": want an absolute path")
      [[ -n "$NGINX_TEST_CMD" ]] || errs+=("NGINX_TEST_CMD is empty: want a command, e.g. nginx -t")
      [[ -n "$NGINX_RELOAD_CMD" ]] || errs+=("NGINX_RELOAD_CMD is empty: want a command, e.g. nginx -s reload")
      ;;
    alb)
      for key in LISTENER_ARN TG_BLUE_ARN TG_GREEN_ARN; do
        [[ "${!key}" =~ ^arn:aws[a-z-]*:elasticloadbalancing: ]] ||
          errs+=("$key=\"${!key}\": want an elasticloadbalancing ARN (required with SWITCH=alb)")
      done
      [[ "$PUBLISH_ADDRESS" != 127.* ]] ||
        errs+=("PUBLISH_ADDRESS=\"$PUBLISH_ADDRESS\": the ALB health-checks the host's private address, never loopback: want 0.0.0.0 or that address")
      [[ ! "$PUBLIC_URL" =~ ^https?://(127\.|localhost|\[::1\]) ]] ||
        errs+=("PUBLIC_URL=\"$PUBLIC_URL\": with SWITCH=alb the check must go through the ALB: want its address, e.g. http://NAME.elb.amazonaws.com")
      ;;
    *) errs+=("SWITCH=\"$SWITCH\": want nft, nginx or alb") ;;
  esac
  if ((${#errs[@]})); then
    log "error: invalid configuration in $ENV_FILE:"
    printf '  %s\n' "${errs[@]}" >&2
    exit 2
  fi
}

# valid_image_ref accepts a docker image reference: [registry[:port]/]name[/name...][:tag][@algo:hex].
valid_image_ref() {
  local host='([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
  local comp='[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*'
  local re="^(${host}(\\.${host})*(:[0-9]+)?/)?${comp}(/${comp})*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
  [[ ${#1} -le 255 && "$1" =~ $re ]]
}

# ---------------------------------------------------------------------------------------------- colours

port_of() { if [[ "$1" == blue ]]; then echo "$BLUE_PORT"; else echo "$GREEN_PORT"; fi; }
other() { if [[ "$1" == blue ]]; then echo green; else echo blue; fi; }
project() { echo "${APP_NAME}-$1"; }

# colour_url COLOUR PATH: the colour itself, where it is published (0.0.0.0 is reached on loopback).
colour_url() { echo "http://${PUBLISH_ADDRESS/#0.0.0.0/127.0.0.1}:$(port_of "$1")$2"; }

# colour_ids COLOUR [FILTER...]: the colour's containers, running or not, found by the compose project label.
colour_ids() { "$DOCKER" ps -aq --filter "label=com.docker.compose.project=$(project "$1")" "${@:2}"; }

# upstream_port prints the port the nginx upstream include points at, or nothing.
upstream_port() {
  [[ -r "$NGINX_UPSTREAM_FILE" ]] || return 0
  sed -n 's/^ *server 127\.0\.0\.1:\([0-9]*\);.*/\1/p' "$NGINX_UPSTREAM_FILE" | head -n1
}

record_live() { printf '%s\n' "$1" >"$STATE_DIR/live"; }

# live_colour: the colour recorded at the last switch whose containers exist, running or not (docker ps -a): a
# live container that crash-loops while its database is down, or is stopped, is still the live one, and is never
# taken for "nothing live" (the listening sockets the seed went by would have lost it). Without a record (state
# written by an older deploy.sh) the one colour that exists decides, and with both the switch's own pointer.
live_colour() {
  local recorded blue=0 green=0 up="" ids
  recorded="$(cat "$STATE_DIR/live" 2>/dev/null || true)"
  # Docker not answering is not "nothing live": that guess would remove the live colour.
  ids="$(colour_ids blue)" || die "docker ps failed: cannot tell which colour is live"
  [[ -z "$ids" ]] || blue=1
  ids="$(colour_ids green)" || die "docker ps failed: cannot tell which colour is live"
  [[ -z "$ids" ]] || green=1
  if [[ "$recorded" == blue && $blue == 1 || "$recorded" == green && $green == 1 ]]; then echo "$recorded"; return; fi
  if ((blue && !green)); then echo blue; return; fi
  if ((green && !blue)); then echo green; return; fi
  if ((!blue && !green)); then echo none; return; fi
  case "$SWITCH" in
    nginx) up="$(upstream_port)" ;;
    nft) up="$(nft_rule_port)" ;;
  esac
  if [[ "$up" == "$GREEN_PORT" ]]; then echo green; else echo blue; fi
}

compose_cmd() {
  if [[ -z "$COMPOSE" ]]; then
    if "$DOCKER" compose version >/dev/null 2>&1; then
      COMPOSE="$DOCKER compose"
    elif command -v docker-compose >/dev/null; then
      COMPOSE=docker-compose
    else
      die "neither 'docker compose' nor docker-compose is installed (or set COMPOSE)"
    fi
  fi
  # COMPOSE holds shell words ("docker compose"), so it is split on purpose.
  # shellcheck disable=SC2086
  $COMPOSE "$@"
}

compose_file() { echo "$STATE_DIR/$1.compose.yml"; }

write_compose_file() { # COLOUR IMAGE
  local env_line=""
  [[ -z "$CONTAINER_ENV_FILE" ]] || env_line="    env_file: [\"$CONTAINER_ENV_FILE\"]"
  cat >"$(compose_file "$1").tmp" <<EOC
# Written by deploy.sh for the $1 colour of $APP_NAME.
services:
  app:
    image: "$2"
    restart: unless-stopped
    # The default bridge: compose creates no per-project network, so starting is faster and stopping the colour
    # with plain docker stop/rm leaves nothing behind.
    network_mode: bridge
    ports: ["$PUBLISH_ADDRESS:$(port_of "$1"):$APP_PORT"]
$env_line
EOC
  mv -f "$(compose_file "$1").tmp" "$(compose_file "$1")"
}

# remove_colour COLOUR: stop (SIGTERM, then the grace period) and remove the colour's containers, found by the
# compose project label: docker stop/rm take a fraction of a second where `docker-compose down` (python compose
# v1) takes seconds, and a run killed before the compose file existed is recovered the same way.
remove_colour() {
  local ids
  ids="$(colour_ids "$1")"
  if [[ -n "$ids" ]]; then
    # One id per line; word splitting passes them as separate arguments.
    # shellcheck disable=SC2086
    "$DOCKER" stop --time "$STOP_TIMEOUT" $ids >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    "$DOCKER" rm -f $ids >/dev/null 2>&1 || true
  fi
  rm -f "$(compose_file "$1")"
}

# pin IMAGE: pull IMAGE (PULL=always; compose never re-pulls a tag it already has, docker/compose#3574) and print
# the exact reference to run: NAME@sha256:DIGEST from the registry, or the image ID for an image that was never
# pushed. A tag moved later (a re-pushed :latest) then changes neither the running colour nor a rollback.
pin() {
  local digests d repo
  if [[ "$PULL" == always && "$1" != sha256:* ]]; then
    log "pulling $1"
    "$DOCKER" pull -q "$1" >/dev/null || die "docker pull $1 failed (PULL=never deploys local images only)"
  fi
  digests="$("$DOCKER" image inspect -f '{{join .RepoDigests " "}}' "$1" 2>/dev/null)" ||
    die "image $1 is not on this host"
  repo="$(image_repository "$1")"
  for d in $digests; do
    [[ "${d%@*}" != "$repo" ]] || { echo "$d"; return; }
  done
  "$DOCKER" image inspect -f '{{.Id}}' "$1"
}

# image_repository IMAGE: IMAGE without its digest and tag (a registry's :port stays).
image_repository() {
  local repo="${1%%@*}"
  [[ "${repo##*/}" != *:* ]] || repo="${repo%:*}"
  printf '%s\n' "$repo"
}

# prune_images REPOSITORY: with PRUNE=1, removes REPOSITORY's images created before the previous one, except the
# live one (after a rollback it is the older): an app host's disk is small and every deploy brings an image. Images
# newer than the previous one stay (one pulled or built for a later deploy), and so does every other repository.
# A tag moved by a pull leaves the old image listed as REPOSITORY <none>, so it goes too. Never fails a deploy.
prune_images() {
  [[ "$PRUNE" == 1 ]] || return 0
  local keep=" " ref id tagged digested previous
  previous="$("$DOCKER" image inspect -f '{{.Id}}' "$(state previous_image)" 2>/dev/null)" || return 0
  for ref in "$(state current_image)" "$(state previous_image)"; do
    keep+="$("$DOCKER" image inspect -f '{{.Id}}' "$ref" 2>/dev/null) "
  done
  while read -r id tagged digested; do
    [[ -n "$id" && "$keep" != *" $id "* ]] || continue
    [[ "$tagged" != *:"<none>" ]] || tagged="$digested"
    [[ "$tagged" != *@"<none>" ]] || tagged="$id"
    if "$DOCKER" image rm "$tagged" >/dev/null 2>&1; then log "pruned $tagged"; fi
  done < <("$DOCKER" image ls --no-trunc --filter "before=$previous" --filter "reference=$1" \
    --format '{{.ID}} {{.Repository}}:{{.Tag}} {{.Repository}}@{{.Digest}}' 2>/dev/null || true)
}

print_diagnostics() { # COLOUR
  if [[ -s "$HEALTH_LOG" ]]; then
    log "health answers of $1 (last 10):"
    tail -n 10 "$HEALTH_LOG" | sed 's/^/  /' >&2
  fi
  local id
  for id in $(colour_ids "$1"); do
    log "container logs of $1 ($id, last 50 lines):"
    "$DOCKER" logs --tail 50 "$id" 2>&1 | sed 's/^/  /' >&2 || true
  done
}

# ---------------------------------------------------------------------------------------------- health and switch

# elapsed START: seconds since START (an EPOCHREALTIME value), with milliseconds.
elapsed() {
  local now="$EPOCHREALTIME"
  printf '%d.%03d' $(((${now/./} - ${1/./}) / 1000000)) $((((${now/./} - ${1/./}) / 1000) % 1000))
}

# pause SECONDS: sleep in the background so a TERM is handled at once, not after the sleep.
pause() { sleep "$1" & wait $!; }

# micros SECONDS: "1.5" -> 1500000, in integer arithmetic (the value is validated as N or N.N).
micros() {
  local int="${1%%.*}" frac=""
  [[ "$1" != *.* ]] || frac="${1#*.}"
  frac="${frac}000000"
  echo $((10#$int * 1000000 + 10#${frac:0:6}))
}

# pause_rest START SECONDS: sleep until SECONDS have passed since START (an EPOCHREALTIME value).
pause_rest() {
  # The command substitution is not nested in the arithmetic: bash 5.2 could report a parse error ("unexpected EOF
  # while looking for matching `)'") when a signal's trap ran while it expanded the nested form.
  local want left
  want="$(micros "$2")"
  left=$((want - (${EPOCHREALTIME/./} - ${1/./})))
  ((left > 0)) || return 0
  pause "$(printf '%d.%06d' $((left / 1000000)) $((left % 1000000)))"
}

# http_get URL [CURL_ARG...]: prints "CODE BODY" (body on one line); never fails.
http_get() {
  local out
  out="$("$CURL" -sS --max-time 3 "${@:2}" -o - -w ' HTTP %{http_code}' "$1" 2>&1)" || true
  printf '%s' "${out//$'\n'/ }"
}

health_gate() { # COLOUR BEGUN
  local url ok=0 answer probed deadline=$((SECONDS + HEALTH_TIMEOUT)) first=1
  url="$(colour_url "$1" "$HEALTH_PATH")"
  log "waiting for $HEALTH_OK_COUNT consecutive healthy answers from $url (timeout ${HEALTH_TIMEOUT}s)"
  while ((SECONDS < deadline)); do
    probed="$EPOCHREALTIME"
    answer="$(http_get "$url")"
    TZ=UTC printf '%(%H:%M:%S)T %s\n' -1 "$answer" >>"$HEALTH_LOG"
    if [[ "$answer" =~ HTTP\ 2[0-9][0-9]\ *$ ]]; then
      # Logged for the benchmark: the deploy's overhead is what it spends beyond the app's own readiness.
      ((first == 0)) || log "first healthy answer from $1 at $(elapsed "$2")s"
      first=0
      ok=$((ok + 1))
      ((ok >= HEALTH_OK_COUNT)) && return 0
    else
      ok=0
    fi
    pause_rest "$probed" "$HEALTH_INTERVAL" # probes start HEALTH_INTERVAL apart, however long one takes
  done
  return 1
}

# upstream_conf PORT: the upstream include. internal/nginxsite.Upstream renders the same text (a test holds
# them together).
upstream_conf() { printf 'upstream deploylab_app {\n    server 127.0.0.1:%s;\n}\n' "$1"; }

run_words() { # CMD: the configured commands are shell words, split on purpose
  # shellcheck disable=SC2086
  $1 >&2
}

# nginx_switch PORT: write the new include beside the old, swap it in atomically, test, reload. nginx -t runs
# after the swap because it reads the include from its real path; the running nginx only sees the new file on
# reload, so a failed test is undone by swapping the saved copy back before anything served it.
nginx_switch() {
  local dir new
  dir="$(dirname "$NGINX_UPSTREAM_FILE")"
  mkdir -p "$dir"
  new="$(mktemp "$dir/.upstream.new.XXXXXX")"
  upstream_conf "$1" >"$new"
  chmod 0644 "$new"
  UPSTREAM_SAVED="$STATE_DIR/upstream.saved"
  if [[ -f "$NGINX_UPSTREAM_FILE" ]]; then cp -p "$NGINX_UPSTREAM_FILE" "$UPSTREAM_SAVED"; else : >"$UPSTREAM_SAVED"; fi
  PHASE=swapped
  mv -f "$new" "$NGINX_UPSTREAM_FILE"
  run_words "$NGINX_TEST_CMD" || die "nginx config test failed ($NGINX_TEST_CMD): not switching"
  PHASE=reloaded
  run_words "$NGINX_RELOAD_CMD" || die "nginx reload failed ($NGINX_RELOAD_CMD)"
}

# restore_upstream: put the saved include back and reload, so nginx keeps proxying to the old colour.
restore_upstream() {
  [[ -n "$UPSTREAM_SAVED" && -f "$UPSTREAM_SAVED" ]] || return 0
  local dir tmp
  dir="$(dirname "$NGINX_UPSTREAM_FILE")"
  if [[ -s "$UPSTREAM_SAVED" ]]; then
    tmp="$(mktemp "$dir/.upstream.new.XXXXXX")"
    cp "$UPSTREAM_SAVED" "$tmp"
    chmod 0644 "$tmp"
    mv -f "$tmp" "$NGINX_UPSTREAM_FILE"
  else
    rm -f "$NGINX_UPSTREAM_FILE"
  fi
  if [[ "$PHASE" == reloaded ]]; then run_words "$NGINX_RELOAD_CMD" || log "warning: reload after restore failed"; fi
  rm -f "$UPSTREAM_SAVED"
}

tg_arn() { if [[ "$1" == blue ]]; then echo "$TG_BLUE_ARN"; else echo "$TG_GREEN_ARN"; fi; }

aws_words() { # ARGS...: AWS_CLI holds shell words ("aws --endpoint-url URL"), split on purpose
  # shellcheck disable=SC2086
  $AWS_CLI "$@"
}

# alb_forward COLOUR: forward the listener to the colour's target group.
alb_forward() {
  aws_words elbv2 modify-listener --listener-arn "$LISTENER_ARN" \
    --default-actions "Type=forward,TargetGroupArn=$(tg_arn "$1")" >/dev/null
}

# alb_switch COLOUR: wait until the ALB's own health checks (of PUBLISH_ADDRESS:port, from the ALB's network)
# report every target of the colour's group healthy, then forward the listener to it.
alb_switch() {
  local tg states deadline=$((SECONDS + ALB_HEALTH_TIMEOUT))
  tg="$(tg_arn "$1")"
  log "waiting for the ALB to report $tg healthy"
  while :; do
    states="$(aws_words elbv2 describe-target-health --target-group-arn "$tg" \
      --query 'TargetHealthDescriptions[].TargetHealth.State' --output text)" || states="error"
    printf '%s alb %s\n' "$(date -u +%H:%M:%S)" "$states" >>"$HEALTH_LOG"
    # Every target of the group must be healthy (and there must be at least one).
    [[ "$(tr -s '[:space:]' '\n' <<<"$states" | sed '/^$/d' | sort -u)" == healthy ]] && break
    ((SECONDS < deadline)) || die "the ALB did not report $tg healthy within ${ALB_HEALTH_TIMEOUT}s (last: $states)"
    pause "$HEALTH_INTERVAL"
  done
  PHASE=reloaded
  alb_forward "$1" || die "modify-listener failed"
}

# nft_table: the app's own table, so deploy.sh never touches rules it did not write (docker's, the admin's).
nft_table() { echo "deploylab_$APP_NAME"; }

nft_words() { # ARGS...: NFT holds shell words ("sudo -n /usr/sbin/nft"), split on purpose
  # shellcheck disable=SC2086
  $NFT "$@"
}

# nft_rule_port prints the colour port the app's rule sends SWITCH_PORT to, or nothing (no table or no rule).
nft_rule_port() {
  { nft_words list chain ip "$(nft_table)" out 2>/dev/null || true; } |
    sed -n "s/.* tcp dport $SWITCH_PORT dnat to 127\.0\.0\.1:\([0-9]*\).*/\1/p" | head -n1
}

# nft_point COLOUR: send new connections to SWITCH_PORT on to the colour. One transaction: the table and chain
# are created if missing (first deploy, after a reboot), the chain is flushed and the new rule added; the kernel
# applies all of it or nothing, so there is never a moment without a rule. Established connections keep the
# mapping conntrack gave them, so requests in flight to the old colour finish there.
nft_point() {
  local t
  t="$(nft_table)"
  printf 'table ip %s {\n\tchain out { type nat hook output priority -100; policy accept; }\n}\n' "$t" >"$STATE_DIR/switch.nft"
  printf 'flush chain ip %s out\nadd rule ip %s out ip daddr 127.0.0.1 tcp dport %s dnat to 127.0.0.1:%s\n' \
    "$t" "$t" "$SWITCH_PORT" "$(port_of "$1")" >>"$STATE_DIR/switch.nft"
  nft_words -f "$STATE_DIR/switch.nft" >&2
}

# nft_include: nginx proxies to SWITCH_PORT. The include is rewritten, tested and nginx reloaded only if it points
# elsewhere (the first deploy with nft), never on a switch.
nft_include() {
  [[ "$(upstream_port)" != "$SWITCH_PORT" ]] || return 0
  log "pointing the nginx upstream at the switch port $SWITCH_PORT (once)"
  nginx_switch "$SWITCH_PORT"
}

# version_of COLOUR: what the colour itself answers on VERSION_PATH ("" when VERSION_PATH is empty).
version_of() {
  [[ -z "$VERSION_PATH" ]] || http_get "$(colour_url "$1" "$VERSION_PATH")"
}

# wait_public WANT: PUBLIC_URL must answer VERSION_PATH as the new colour does (WANT), which proves the switch
# took effect; with VERSION_PATH empty (the default) HEALTH_PATH must answer 2xx through it, which any app does.
wait_public() {
  local want="$1" got i url="${PUBLIC_URL%/}${VERSION_PATH:-$HEALTH_PATH}" tls=()
  [[ "$PUBLIC_INSECURE" == 0 ]] || tls=(--insecure)
  for i in {1..50}; do
    got="$(http_get "$url" "${tls[@]}")"
    if [[ "$got" =~ HTTP\ 2[0-9][0-9]\ *$ ]] && [[ -z "$want" || "$got" == "$want" ]]; then return 0; fi
    ((i < 50)) && pause 0.2
  done
  log "PUBLIC_URL $url answered: $got${want:+; the new colour answers: $want}"
  return 1
}

# established PORT TABLE...: TCP connections in state ESTABLISHED (01) whose local port is PORT, counted in
# /proc/net/tcp-format tables (world-readable: no root needed).
established() {
  local port="$1" tables=() f
  shift
  for f in "$@"; do [[ ! -r "$f" ]] || tables+=("$f"); done
  ((${#tables[@]})) || { echo 0; return; }
  awk -v p="$(printf ':%04X' "$port")" '$4 == "01" && substr($2, length($2) - 4) == p { n++ } END { print n + 0 }' "${tables[@]}"
}

# open_connections COLOUR: connections still open to the colour: inside its containers to APP_PORT (every client,
# whichever way it came) and on the host to its published port (docker-proxy relays loopback clients and holds
# their connection before it has connected on).
open_connections() {
  local n pid
  n="$(established "$(port_of "$1")" /proc/net/tcp /proc/net/tcp6)"
  # shellcheck disable=SC2046 # one container id per word
  for pid in $("$DOCKER" inspect -f '{{.State.Pid}}' $(colour_ids "$1") 2>/dev/null); do
    local inside
    ((pid == 0)) || inside="$(established "$APP_PORT" "/proc/$pid/net/tcp" "/proc/$pid/net/tcp6")"
    ((pid == 0)) || n=$((n + inside))
  done
  echo "$n"
}

# drain COLOUR SWITCHED: wait until no connection is open to the old colour (seen twice, 0.1 s apart), at least
# DRAIN_SECONDS and at most STOP_TIMEOUT after the switch; only then is it stopped, so an app that exits at once
# on SIGTERM loses nothing. kamal-proxy counts the requests in flight per target and waits for them on a switch
# (basecamp/kamal-proxy internal/server/target.go); deploy.sh is not in the request path, so it counts the
# kernel's established connections: nginx opens one upstream connection per request (no upstream keepalive), so
# an open connection is a request in flight. An idle keepalive connection (an ALB's) is waited for up to the cap.
drain() {
  local n quiet=0 cap
  cap="$(micros "$STOP_TIMEOUT")"
  pause_rest "$2" "$DRAIN_SECONDS"
  while :; do
    n="$(open_connections "$1")"
    if ((n == 0)); then quiet=$((quiet + 1)); else quiet=0; fi
    ((quiet < 2)) || break
    if ((${EPOCHREALTIME/./} - ${2/./} >= cap)); then
      log "$n connections still open to $1 ${STOP_TIMEOUT}s after the switch (STOP_TIMEOUT): stopping it anyway"
      break
    fi
    pause 0.1
  done
  log "drained $1 $(elapsed "$2")s after the switch"
}

# ---------------------------------------------------------------------------------------------- lock and cleanup

# refuse_root ARGS...: the state directory and its lock belong to the admin; files a root run left there would
# lock the admin, the Jenkins key and the boot-time restore out (nginx then serves 502 after a reboot). So root
# is refused where the state directory, or its nearest existing parent, belongs to another user.
refuse_root() {
  ((EUID == 0)) || return 0
  local d="$STATE_DIR"
  while [[ ! -e "$d" ]]; do d="$(dirname "$d")"; done
  [[ "$(stat -c %u "$d")" != 0 ]] || return 0
  usage_error "not as root: $d belongs to $(stat -c %U "$d"), whose runs (and the restore at boot) root-owned" \
    "files there would lock out; run: sudo -u $(stat -c %U "$d") $0 $*"
}

lock() { # IMAGE
  mkdir -p "$STATE_DIR"
  exec 9>>"$STATE_DIR/deploy.lock"
  if ! "$FLOCK" -n 9; then
    local holder pid
    holder="$(cat "$STATE_DIR/deploy.holder" 2>/dev/null || echo 'holder unknown')"
    pid="$(sed -n 's/^pid=\([0-9]*\) .*/\1/p' <<<"$holder")"
    # The commands a run starts inherit the lock's descriptor: when the run itself was killed, one of them
    # (docker, curl) may hold the lock for a moment longer. Only a live holder means another deploy.
    if [[ -z "$pid" || -d "/proc/$pid" ]] || ! "$FLOCK" -w 30 9; then
      log "error: another deploy is running: $holder"
      exit 3
    fi
  fi
  # flock is released by the kernel when its holder dies, even by SIGKILL: a holder file left behind names a
  # dead run, whose leftovers recover() cleans up.
  if [[ -s "$STATE_DIR/deploy.holder" ]]; then
    log "recovering after an interrupted run: $(cat "$STATE_DIR/deploy.holder")"
  fi
  printf 'pid=%s image=%s started=%s\n' "$$" "$1" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$STATE_DIR/deploy.holder"
  LOCKED=1
  trap cleanup EXIT
  trap 'exit 143' TERM
  trap 'exit 130' INT
  trap 'exit 129' HUP
  # A dropped SSH session closes the pipes the log goes to: the next write raises SIGPIPE, which by default
  # ends bash with an EXIT trap that saw status 0 (no rollback). Trapped, it is a failure like any other.
  trap 'exit 141' PIPE
}

cleanup() {
  local rc=$?
  trap - EXIT TERM INT HUP
  trap '' PIPE     # the session may be gone: writes fail quietly and the cleanup goes on
  set +o errexit   # undo step by step, whatever one step says
  if ((rc != 0)) && [[ -n "$NEW_COLOUR" && "$PHASE" == old-stopping ]]; then
    log "failed (exit $rc) while stopping $OLD_COLOUR: $NEW_COLOUR serves, removing $OLD_COLOUR"
    remove_colour "$OLD_COLOUR"
  elif ((rc != 0)) && [[ -n "$NEW_COLOUR" && "$PHASE" != finished ]]; then
    log "deploy failed (exit $rc) in phase $PHASE: keeping $OLD_COLOUR serving, removing $NEW_COLOUR"
    print_diagnostics "$NEW_COLOUR"
    case "$SWITCH" in
      nginx) restore_upstream ;;
      nft)
        restore_upstream
        if ((SWITCHED)) && [[ "$OLD_COLOUR" != none ]]; then
          nft_point "$OLD_COLOUR" || log "warning: pointing the nft rule back at $OLD_COLOUR failed"
        fi
        ;;
      alb)
        if [[ "$PHASE" == reloaded && "$OLD_COLOUR" != none ]]; then
          alb_forward "$OLD_COLOUR" || log "warning: restoring the listener failed"
        fi
        ;;
    esac
    if ((SWITCHED)); then
      if [[ "$OLD_COLOUR" != none ]]; then record_live "$OLD_COLOUR"; else rm -f "$STATE_DIR/live"; fi
    fi
    remove_colour "$NEW_COLOUR"
  fi
  [[ -z "$HEALTH_LOG" ]] || rm -f "$HEALTH_LOG"
  ((LOCKED == 0)) || rm -f "${STATE_DIR:?}/deploy.holder"
  exit "$rc"
}

# recover: make the state consistent before a deploy (and at boot), whatever a killed run or a reboot left. The
# live colour keeps serving and the switch is made to point at it; the idle colour's containers and half-written
# files are removed. The live colour itself is never removed, running or not.
recover() { # LIVE
  local dir
  if [[ "$SWITCH" != alb ]]; then
    dir="$(dirname "$NGINX_UPSTREAM_FILE")"
    find "$dir" -maxdepth 1 -name '.upstream.new.*' -delete 2>/dev/null || true
  fi
  if [[ "$1" != none ]]; then
    case "$SWITCH" in
      nginx)
        if [[ "$(upstream_port)" != "$(port_of "$1")" ]]; then
          log "recovering: nginx upstream does not point at live $1, pointing it back"
          nginx_switch "$(port_of "$1")"
        fi
        ;;
      nft)
        if [[ "$(nft_rule_port)" != "$(port_of "$1")" ]]; then
          log "recovering: the nft rule does not send port $SWITCH_PORT to live $1, pointing it back"
          nft_point "$1" || die "nft failed to point port $SWITCH_PORT at $1 ($NFT -f $STATE_DIR/switch.nft)"
        fi
        nft_include
        ;;
    esac
    record_live "$1"
    PHASE=idle
  fi
  rm -f "$STATE_DIR/upstream.saved"
  remove_colour "$(other "${1/none/blue}")"
  [[ "$1" != none ]] || remove_colour blue
}

# ---------------------------------------------------------------------------------------------- commands

# state NAME: a one-line record of STATE_DIR ("" when absent).
state() { cat "$STATE_DIR/$1" 2>/dev/null || true; }

cmd_deploy() { # IMAGE [TAG]: TAG is what IMAGE was asked as (a rollback deploys a pinned reference)
  local image="$1" tag="${2:-$1}" live ref want switched begun="$EPOCHREALTIME"
  lock "$tag"
  live="$(live_colour)"
  recover "$live"
  ref="$(pin "$image")"
  OLD_COLOUR="$live"
  NEW_COLOUR="$(other "${live/none/green}")"
  local shown="$live"
  [[ "$live" == none ]] || shown+=" ($(state current_tag))"
  log "live: $shown; deploying $tag ($ref) to $NEW_COLOUR on port $(port_of "$NEW_COLOUR")"

  HEALTH_LOG="$(mktemp)"
  PHASE=starting
  write_compose_file "$NEW_COLOUR" "$ref"
  compose_cmd -p "$(project "$NEW_COLOUR")" -f "$(compose_file "$NEW_COLOUR")" up -d --remove-orphans >&2 ||
    die "could not start $tag as $NEW_COLOUR"
  log "$NEW_COLOUR up at $(elapsed "$begun")s"
  PHASE=gating
  local started="$EPOCHREALTIME"
  health_gate "$NEW_COLOUR" "$begun" || die "$tag did not become healthy on port $(port_of "$NEW_COLOUR")"
  log "$NEW_COLOUR ready after $(elapsed "$started")s"
  want="$(version_of "$NEW_COLOUR")"

  log "switching to $NEW_COLOUR"
  SWITCHED=1
  case "$SWITCH" in
    nft)
      nft_point "$NEW_COLOUR" || die "nft failed to point port $SWITCH_PORT at $NEW_COLOUR ($NFT -f $STATE_DIR/switch.nft)"
      switched="$EPOCHREALTIME"
      nft_include
      ;;
    nginx) nginx_switch "$(port_of "$NEW_COLOUR")" ;;
    alb) alb_switch "$NEW_COLOUR" ;;
  esac
  record_live "$NEW_COLOUR"
  [[ -n "${switched:-}" ]] || switched="$EPOCHREALTIME"
  wait_public "$want" || die "PUBLIC_URL does not answer with the new version after the switch"

  if [[ "$live" != none ]]; then
    log "draining $live: waiting until no connection is open to it (at most ${STOP_TIMEOUT}s after the switch)"
    drain "$live" "$switched"
  fi
  # From here the old colour is going away: a failure can no longer fall back to it.
  PHASE=old-stopping
  if [[ "$live" != none ]]; then
    printf '%s\n' "$(state current_image)" >"$STATE_DIR/previous_image"
    printf '%s\n' "$(state current_tag)" >"$STATE_DIR/previous_tag"
  fi
  printf '%s\n' "$ref" >"$STATE_DIR/current_image"
  printf '%s\n' "$tag" >"$STATE_DIR/current_tag"
  if [[ "$live" != none ]]; then
    log "stopping $live (SIGTERM, up to ${STOP_TIMEOUT}s)"
    remove_colour "$live"
  fi
  wait_public "$want" || die "PUBLIC_URL stopped answering after removing $live"
  rm -f "$STATE_DIR/upstream.saved"
  PHASE=finished
  log "deployed $tag as $NEW_COLOUR in $(elapsed "$begun")s"
  [[ "$tag" == sha256:* ]] || prune_images "$(image_repository "$tag")"
}

cmd_rollback() {
  local previous
  previous="$(state previous_image)"
  [[ -n "$previous" ]] || die "no previous image recorded in $STATE_DIR/previous_image: nothing to roll back to"
  log "rolling back to $(state previous_tag) ($previous)"
  cmd_deploy "$previous" "$(state previous_tag)"
}

# cmd_status reads only: it never takes the lock (a deploy starting meanwhile must not be refused). A deploy
# in progress is the holder file of a process that still exists.
cmd_status() {
  local live rule holder pid
  live="$(live_colour)"
  printf 'app:      %s\n' "$APP_NAME"
  if [[ "$live" == none ]]; then
    printf 'live:     none\n'
  else
    printf 'live:     %s (port %s)\nimage:    %s (%s)\n' "$live" "$(port_of "$live")" "$(state current_tag)" "$(state current_image)"
  fi
  if [[ -n "$(state previous_image)" ]]; then
    printf 'previous: %s (%s)\n' "$(state previous_tag)" "$(state previous_image)"
  else
    printf 'previous: none\n'
  fi
  case "$SWITCH" in
    nft)
      rule="$(nft_rule_port)"
      printf 'switch:   nft 127.0.0.1:%s -> %s\n' "$SWITCH_PORT" "${rule:-no rule (run deploy.sh restore)}"
      ;;
    nginx) printf 'switch:   nginx upstream -> %s\n' "$(upstream_port)" ;;
    alb) printf 'switch:   alb -> %s\n' "$(state live)" ;;
  esac
  holder="$(state deploy.holder)"
  pid="${holder#pid=}"
  pid="${pid%% *}"
  if [[ "$pid" =~ ^[0-9]+$ && -d "/proc/$pid" ]]; then printf 'deploying: %s\n' "$holder"; fi
}

# cmd_restore: point the switch at the live colour again and start it if it is stopped. nft rules live in the
# kernel and are gone after a reboot; docker restarts a colour by itself (restart: unless-stopped) unless it was
# stopped. The live colour is kept whatever its state: a colour that cannot start yet (its database is down)
# keeps restarting and is served as soon as it answers.
cmd_restore() {
  local live ids
  lock "(restore)"
  live="$(live_colour)"
  recover "$live"
  if [[ "$live" != none ]]; then
    ids="$(colour_ids "$live" --filter status=exited --filter status=created)"
    if [[ -n "$ids" ]]; then
      log "starting the stopped live colour $live"
      # shellcheck disable=SC2086 # one id per word
      "$DOCKER" start $ids >/dev/null || die "live $live is kept but could not be started (docker start $ids)"
    fi
  fi
  log "restored: live $live (switch $SWITCH)"
}

# cmd_ssh: the forced command of the CI deploy key. SSH_ORIGINAL_COMMAND is split into words by read -a and
# never reaches a shell: no quote, glob, variable or substitution in it means anything. Only deploy IMAGE,
# rollback and status pass, optionally after deploy.sh or this script's path.
cmd_ssh() {
  local cmd="${SSH_ORIGINAL_COMMAND:-}" words=()
  if [[ -n "$cmd" && ! "$cmd" =~ [^[:print:]] ]]; then
    read -r -a words <<<"$cmd"
    if [[ "${words[0]:-}" == deploy.sh || "${words[0]:-}" == "$0" || "${words[0]:-}" == /usr/local/bin/deploy.sh ]]; then
      words=("${words[@]:1}")
    fi
    case "${words[0]:-} ${#words[@]}" in
      "deploy 2")
        ssh_image_allowed "${words[1]}" && main "${words[@]}"
        return
        ;;
      "rollback 1" | "status 1")
        main "${words[@]}"
        return
        ;;
    esac
  fi
  [[ -z "$cmd" ]] || cmd="$(printf '%q' "$cmd")"
  log "error: refused: this key may only run deploy IMAGE, rollback or status; got ${cmd:-an interactive login}"
  exit 2
}

# ssh_image_allowed IMAGE: with SSH_IMAGE_REPOSITORY set, the CI key deploys only that repository's images, by
# digest, so holding the key is not enough to make the host run an image from elsewhere.
ssh_image_allowed() {
  load_config
  [[ -z "$SSH_IMAGE_REPOSITORY" ]] && return 0
  [[ "$1" =~ ^(.+)@sha256:[0-9a-f]{64}$ && "${BASH_REMATCH[1]}" == "$SSH_IMAGE_REPOSITORY" ]] && return 0
  log "error: refused: this key deploys only $SSH_IMAGE_REPOSITORY@sha256:DIGEST; got $(printf '%q' "$1")"
  exit 2
}

main() {
  (($# >= 1)) || usage_error "missing command"
  case "$1" in
    deploy)
      (($# == 2)) || usage_error "deploy takes exactly one IMAGE"
      valid_image_ref "$2" ||
        usage_error "IMAGE \"$2\" is not a docker image reference: want [registry[:port]/]name[:tag][@sha256:digest]"
      load_config
      refuse_root "$@"
      cmd_deploy "$2"
      ;;
    rollback | status | restore)
      (($# == 1)) || usage_error "$1 takes no arguments"
      load_config
      [[ "$1" == status ]] || refuse_root "$@"
      "cmd_$1"
      ;;
    ssh)
      (($# == 1)) || usage_error "ssh takes no arguments (the command is SSH_ORIGINAL_COMMAND)"
      cmd_ssh
      ;;
    *) usage_error "unknown command \"$1\": want deploy, rollback, status, restore or ssh" ;;
  esac
}

main "$@"
