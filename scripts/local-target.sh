#!/usr/bin/env bash
# A real Linux target for Ansible without a hypervisor: a debootstrapped Debian
# root, copied-on-write per run (overlayfs), with sshd as PID 1 of its own
# mount/PID/UTS/IPC namespaces, listening on 127.0.0.1:<port>. Ansible reaches
# it over real SSH, installs real packages (from Debian's archive) and starts
# real services (through their init scripts: there is no systemd).
#
#   scripts/local-target.sh check                 can this machine run a target? (exit 0/1, reason on stderr)
#   scripts/local-target.sh build                 create the cached root filesystem only
#   scripts/local-target.sh up   [options]        start a target, print KEY=VALUE lines
#   scripts/local-target.sh down [--state-dir D]  stop it (safe to call twice)
#   scripts/local-target.sh status [--state-dir D]
#
# Options (environment variable in brackets):
#   --port N          sshd port on 127.0.0.1 [ARGOS_TARGET_PORT], default 2222
#   --state-dir DIR   PID, key pair, ssh_config, overlay [ARGOS_TARGET_STATE_DIR],
#                     default .cache/local-target/run-<port>
#   --cache-dir DIR   cached root filesystem and apt caches [ARGOS_TARGET_CACHE_DIR],
#                     default .cache/local-target
#   --user NAME       login user with passwordless sudo [ARGOS_TARGET_USER], default ubuntu
#   --bind SRC:DST    bind-mount host path SRC read-only at DST inside the target
#                     (repeatable); git inside the target trusts DST (safe.directory)
#   --mirror URL      Debian mirror for debootstrap [ARGOS_TARGET_MIRROR]
#
# Every mount (overlay, /dev, /proc, /run, binds) is made inside the target's own
# mount namespace, so it disappears with the namespace: killing the namespace's
# PID 1 leaves no mount and no process behind on the machine.
set -euo pipefail

SELF="$(readlink -f "${BASH_SOURCE[0]}")"
REPO_ROOT="$(cd "$(dirname "$SELF")/.." && pwd)"
readonly SELF REPO_ROOT
readonly SUITE=bookworm
readonly TARGET_HOSTNAME=argos-target
# Bump when the recipe of the root filesystem changes: a new one is built next to
# the old one (which running targets may still use as their lower layer).
readonly ROOTFS_VERSION=2
# Downloaded .debs are seeded into each target and harvested back on `down`, so a
# package is downloaded once per machine, not once per run. The package index is
# not: it is the root filesystem's, refreshed by the roles' `apt update_cache`
# when older than cache_valid_time, as on a real server.
readonly APT_CACHE_DIRS=(var/cache/apt/archives)

PORT="${ARGOS_TARGET_PORT:-2222}"
STATE_DIR="${ARGOS_TARGET_STATE_DIR:-}"
CACHE_DIR="${ARGOS_TARGET_CACHE_DIR:-$REPO_ROOT/.cache/local-target}"
TARGET_USER="${ARGOS_TARGET_USER:-ubuntu}"
MIRROR="${ARGOS_TARGET_MIRROR:-http://deb.debian.org/debian}"
BINDS=()

log() { printf 'local-target: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/p' "$SELF" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2; }

parse_options() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --port) PORT="${2:?--port needs a value}"; shift 2 ;;
      --state-dir) STATE_DIR="${2:?--state-dir needs a value}"; shift 2 ;;
      --cache-dir) CACHE_DIR="${2:?--cache-dir needs a value}"; shift 2 ;;
      --user) TARGET_USER="${2:?--user needs a value}"; shift 2 ;;
      --bind) BINDS+=("${2:?--bind needs SRC:DST}"); shift 2 ;;
      --mirror) MIRROR="${2:?--mirror needs a value}"; shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) die "unknown option: $1" ;;
    esac
  done
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "--port must be a number, got '$PORT'"
  [[ "$TARGET_USER" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "invalid user name '$TARGET_USER'"
  STATE_DIR="${STATE_DIR:-$CACHE_DIR/run-$PORT}"
  CACHE_DIR="$(realpath -m "$CACHE_DIR")"
  ROOTFS="$CACHE_DIR/rootfs-$SUITE-v$ROOTFS_VERSION"
}

# Prints why a target cannot run here (empty when it can).
capability_problem() {
  if [ "$(id -u)" -ne 0 ]; then echo "needs root (namespaces, mounts, chroot)"; return; fi
  local cmd
  for cmd in debootstrap unshare chroot mount ssh ssh-keygen flock setsid; do
    command -v "$cmd" >/dev/null 2>&1 || { echo "command '$cmd' not found (apt-get install debootstrap openssh-client util-linux)"; return; }
  done
  grep -qw overlay /proc/filesystems 2>/dev/null || modprobe overlay 2>/dev/null \
    || { echo "the kernel has no overlay filesystem"; return; }
  unshare --mount --pid --uts --ipc --fork true 2>/dev/null \
    || { echo "cannot create mount/PID namespaces (unshare failed: no CAP_SYS_ADMIN?)"; return; }
}

cmd_check() {
  local problem
  problem="$(capability_problem)"
  if [ -n "$problem" ]; then echo "$problem" >&2; return 1; fi
  echo "ok"
}

# Creates $ROOTFS once per machine: debootstrap + an EC2-like login user. Locked,
# so concurrent `up`s wait for one build instead of racing.
ensure_rootfs() {
  [ -e "$ROOTFS/.argos-ready" ] && return 0
  mkdir -p "$CACHE_DIR"
  exec 9>"$CACHE_DIR/rootfs.lock"
  flock 9
  if [ -e "$ROOTFS/.argos-ready" ]; then exec 9>&-; return 0; fi
  local tmp="$ROOTFS.tmp" started=$SECONDS
  if [ ! -e "$tmp/.argos-debootstrap-done" ]; then
    rm -rf "$tmp"
    log "debootstrap $SUITE into $tmp (once per machine)"
    debootstrap --variant=minbase --include=openssh-server,python3,python3-apt,sudo,ca-certificates \
      "$SUITE" "$tmp" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || die "debootstrap failed, see $CACHE_DIR/debootstrap.log"
    touch "$tmp/.argos-debootstrap-done"
  fi
  cat >"$tmp/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
  # Services are started by Ansible through their init scripts, never by dpkg
  # inside the chroot during the build.
  printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
  chmod 0755 "$tmp/usr/sbin/policy-rc.d"
  chroot "$tmp" apt-get update -q >/dev/null 2>&1 || die "apt-get update failed in $tmp"
  chroot "$tmp" apt-get install -y -q --no-install-recommends python3-apt >/dev/null 2>&1 \
    || die "could not install python3-apt into $tmp"
  rm -f "$tmp/usr/sbin/policy-rc.d"
  chroot "$tmp" /bin/sh -c "id -u '$TARGET_USER' >/dev/null 2>&1 || useradd -m -s /bin/bash '$TARGET_USER'"
  printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$TARGET_USER" >"$tmp/etc/sudoers.d/90-$TARGET_USER"
  chmod 0440 "$tmp/etc/sudoers.d/90-$TARGET_USER"
  printf '127.0.0.1 localhost\n127.0.1.1 %s\n::1 localhost ip6-localhost ip6-loopback\n' "$TARGET_HOSTNAME" >"$tmp/etc/hosts"
  echo "$TARGET_HOSTNAME" >"$tmp/etc/hostname"
  rm -f "$tmp"/etc/ssh/ssh_host_*
  chroot "$tmp" ssh-keygen -A >/dev/null
  chroot "$tmp" apt-get clean
  touch "$tmp/.argos-ready"
  mv "$tmp" "$ROOTFS"
  log "root filesystem ready in $((SECONDS - started)) s: $ROOTFS"
  exec 9>&-
}

# Copies (hard links where possible) files from $1 into $2 without overwriting.
link_tree() {
  local src="$1" dst="$2"
  [ -d "$src" ] || return 0
  mkdir -p "$dst"
  cp -al -n "$src/." "$dst/" 2>/dev/null || cp -a -n "$src/." "$dst/"
}

read_state() {
  UNSHARE_PID="" TARGET_PID=""
  [ -f "$STATE_DIR/unshare.pid" ] && UNSHARE_PID="$(cat "$STATE_DIR/unshare.pid")"
  [ -f "$STATE_DIR/target.pid" ] && TARGET_PID="$(cat "$STATE_DIR/target.pid")"
  return 0
}

# True if $1 is still the process this script started: same PID and same start
# time as recorded, so a reused PID is never signalled.
is_ours() {
  local pid="$1" file="$2"
  [ -n "$pid" ] && [ -e "/proc/$pid" ] && [ -f "$file" ] || return 1
  # A zombie has exited already; it only waits for its (adoptive) parent to reap it.
  [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ] || return 1
  [ "$(proc_start_time "$pid")" = "$(cat "$file")" ]
}

proc_start_time() { awk '{ print $22 }' "/proc/$1/stat" 2>/dev/null; }

cmd_up() {
  local problem
  problem="$(capability_problem)"
  [ -z "$problem" ] || die "cannot start a local target: $problem"
  mkdir -p "$STATE_DIR"
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
  read_state
  if is_ours "$TARGET_PID" "$STATE_DIR/target.start"; then
    die "a target is already running from $STATE_DIR (PID $TARGET_PID); run: $SELF down --state-dir $STATE_DIR"
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT on 127.0.0.1 is already in use; choose another with --port"
  fi
  local bind
  for bind in "${BINDS[@]+"${BINDS[@]}"}"; do
    [[ "$bind" == /*:/* ]] || die "--bind needs absolute SRC:DST, got '$bind'"
    [ -e "${bind%%:*}" ] || die "--bind source does not exist: ${bind%%:*}"
  done
  local started=$SECONDS
  ensure_rootfs
  local rootfs_seconds=$((SECONDS - started))

  rm -rf "$STATE_DIR/upper" "$STATE_DIR/work" "$STATE_DIR/root"
  mkdir -p "$STATE_DIR/upper" "$STATE_DIR/work" "$STATE_DIR/root"
  local dir
  for dir in "${APT_CACHE_DIRS[@]}"; do
    link_tree "$CACHE_DIR/apt/$dir" "$STATE_DIR/upper/$dir"
  done
  if [ ! -f "$STATE_DIR/id_ed25519" ]; then
    ssh-keygen -q -t ed25519 -N '' -C "argos-local-target" -f "$STATE_DIR/id_ed25519"
  fi
  chmod 0600 "$STATE_DIR/id_ed25519"
  : >"$STATE_DIR/known_hosts"
  cat >"$STATE_DIR/ssh_config" <<EOF
# Written by scripts/local-target.sh: every EC2-style host name reaches the local target.
Host *.amazonaws.com *.compute.internal 127.0.0.1 localhost $TARGET_HOSTNAME
  HostName 127.0.0.1
  Port $PORT
  User $TARGET_USER
  IdentityFile $STATE_DIR/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $STATE_DIR/known_hosts
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
EOF

  printf '%s\n' "${BINDS[@]+"${BINDS[@]}"}" >"$STATE_DIR/binds"
  echo "$CACHE_DIR" >"$STATE_DIR/cache-dir"
  # setsid: Ctrl-C in the caller's terminal must not reach the target directly;
  # the caller stops it with `down`.
  setsid unshare --mount --uts --ipc --pid --fork --propagation private \
    "$BASH" "$SELF" __inside "$ROOTFS" "$STATE_DIR" "$PORT" "$TARGET_USER" \
    </dev/null >"$STATE_DIR/target.log" 2>&1 &
  local unshare_pid=$!
  echo "$unshare_pid" >"$STATE_DIR/unshare.pid"
  proc_start_time "$unshare_pid" >"$STATE_DIR/unshare.start"

  # The namespace's PID 1 is unshare's only child.
  local target_pid="" i
  for i in $(seq 1 100); do
    target_pid="$(awk '{ print $1 }' "/proc/$unshare_pid/task/$unshare_pid/children" 2>/dev/null || true)"
    [ -n "$target_pid" ] && break
    kill -0 "$unshare_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$target_pid" ]; then
    cat "$STATE_DIR/target.log" >&2 || true
    cmd_down >/dev/null 2>&1 || true
    die "the target did not start (see above)"
  fi
  echo "$target_pid" >"$STATE_DIR/target.pid"
  proc_start_time "$target_pid" >"$STATE_DIR/target.start"

  for i in $(seq 1 150); do
    if ssh -F "$STATE_DIR/ssh_config" -o ConnectTimeout=2 127.0.0.1 true 2>/dev/null; then
      break
    fi
    if ! kill -0 "$target_pid" 2>/dev/null || [ "$i" -eq 150 ]; then
      cat "$STATE_DIR/target.log" >&2 || true
      cmd_down >/dev/null 2>&1 || true
      die "sshd did not answer on 127.0.0.1:$PORT (see above)"
    fi
    sleep 0.1
  done

  {
    echo "TARGET_HOST=127.0.0.1"
    echo "TARGET_PORT=$PORT"
    echo "TARGET_USER=$TARGET_USER"
    echo "TARGET_KEY=$STATE_DIR/id_ed25519"
    echo "TARGET_SSH_CONFIG=$STATE_DIR/ssh_config"
    echo "TARGET_KNOWN_HOSTS=$STATE_DIR/known_hosts"
    echo "TARGET_PID=$target_pid"
    echo "TARGET_STATE_DIR=$STATE_DIR"
    # The target's root as the machine sees it (valid while it runs).
    echo "TARGET_ROOT=/proc/$target_pid/root"
  } >"$STATE_DIR/target.env"
  cat "$STATE_DIR/target.env"
  log "up in $((SECONDS - started)) s (root filesystem: ${rootfs_seconds} s) on 127.0.0.1:$PORT, state in $STATE_DIR"
}

# Runs as PID 1 of the new namespaces (then execs sshd, which stays PID 1).
cmd_inside() {
  local rootfs="$1" state="$2" port="$3" user="$4"
  local root="$state/root"
  mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$state/upper,workdir=$state/work" "$root"
  mount -t proc proc "$root/proc"
  # A private /dev with just the usual nodes rather than the machine's whole /dev.
  mount -t tmpfs -o mode=0755,nosuid devtmp "$root/dev"
  local node
  for node in null zero full random urandom tty; do
    touch "$root/dev/$node"
    mount --bind "/dev/$node" "$root/dev/$node"
  done
  mkdir -p "$root/dev/pts" "$root/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm"
  ln -s /proc/self/fd "$root/dev/fd"
  mount -t tmpfs -o mode=0755,nosuid,nodev run "$root/run"
  mkdir -p "$root/run/sshd" "$root/run/lock"
  chmod 1777 "$root/run/lock"
  local bind src dst
  while IFS= read -r bind; do
    [ -n "$bind" ] || continue
    src="${bind%%:*}" dst="${bind#*:}"
    if [ -d "$src" ]; then mkdir -p "$root$dst"; else mkdir -p "$(dirname "$root$dst")"; touch "$root$dst"; fi
    mount --bind "$src" "$root$dst"
    mount -o remount,bind,ro "$root$dst"
    # The machine's root owns what is bound in; git (>= 2.35.2) refuses to read a
    # repository another user owns unless it is marked safe.
    printf '[safe]\n\tdirectory = %s\n' "$dst" >>"$root/etc/gitconfig"
  done <"$state/binds"
  hostname "$TARGET_HOSTNAME"
  # The cached root has the default user; another one is added to this run only.
  if ! chroot "$root" getent passwd "$user" >/dev/null; then
    chroot "$root" useradd -m -s /bin/bash "$user"
    printf '%s ALL=(ALL) NOPASSWD:ALL\n' "$user" >"$root/etc/sudoers.d/90-$user"
    chmod 0440 "$root/etc/sudoers.d/90-$user"
  fi
  local home
  home="$(chroot "$root" getent passwd "$user" | cut -d: -f6)"
  install -d -m 0700 "$root$home/.ssh"
  install -m 0600 "$state/id_ed25519.pub" "$root$home/.ssh/authorized_keys"
  chroot "$root" chown -R "$user:" "$home/.ssh"
  exec chroot "$root" /usr/sbin/sshd -D -e -p "$port" -o ListenAddress=127.0.0.1 \
    -o PasswordAuthentication=no -o UseDNS=no
}

cmd_down() {
  [ -d "$STATE_DIR" ] || { log "no state in $STATE_DIR: nothing to stop"; return 0; }
  STATE_DIR="$(cd "$STATE_DIR" && pwd)"
  read_state
  if is_ours "$TARGET_PID" "$STATE_DIR/target.start"; then
    # unshare --fork ignores SIGTERM while it waits: kill the namespace's PID 1,
    # which takes every process of the namespace (and its mounts) with it.
    kill -KILL "$TARGET_PID" 2>/dev/null || true
  fi
  local i
  if is_ours "$UNSHARE_PID" "$STATE_DIR/unshare.start"; then
    for i in $(seq 1 100); do
      is_ours "$UNSHARE_PID" "$STATE_DIR/unshare.start" || break
      # PID 1 may not have been forked yet if `up` died early.
      [ "$i" -eq 50 ] && kill -KILL "$UNSHARE_PID" 2>/dev/null
      sleep 0.1
    done
    is_ours "$UNSHARE_PID" "$STATE_DIR/unshare.start" && die "unshare PID $UNSHARE_PID did not exit"
  fi
  rm -f "$STATE_DIR/target.pid" "$STATE_DIR/target.start" "$STATE_DIR/unshare.pid" "$STATE_DIR/unshare.start" "$STATE_DIR/target.env"
  # Harvest into the cache this target was started from.
  [ -f "$STATE_DIR/cache-dir" ] && CACHE_DIR="$(cat "$STATE_DIR/cache-dir")"
  if [ -d "$STATE_DIR/upper" ]; then
    local dir
    for dir in "${APT_CACHE_DIRS[@]}"; do
      if [ -d "$STATE_DIR/upper/$dir" ]; then
        mkdir -p "$CACHE_DIR/apt/$dir"
        find "$STATE_DIR/upper/$dir" -maxdepth 1 -type f ! -name lock \
          -exec cp -al -n -t "$CACHE_DIR/apt/$dir/" {} + 2>/dev/null \
          || find "$STATE_DIR/upper/$dir" -maxdepth 1 -type f ! -name lock -exec cp -a -n -t "$CACHE_DIR/apt/$dir/" {} + || true
      fi
    done
  fi
  rm -rf "$STATE_DIR/upper" "$STATE_DIR/work" "$STATE_DIR/root"
  log "down: $STATE_DIR"
}

cmd_status() {
  read_state
  if is_ours "$TARGET_PID" "$STATE_DIR/target.start"; then
    cat "$STATE_DIR/target.env" 2>/dev/null || echo "TARGET_PID=$TARGET_PID"
  else
    echo "not running" >&2
    return 1
  fi
}

main() {
  local command="${1:-}"
  [ $# -gt 0 ] && shift
  case "$command" in
    __inside) cmd_inside "$@" ;;
    check) parse_options "$@"; cmd_check ;;
    build) parse_options "$@"; ensure_rootfs; echo "ROOTFS=$ROOTFS" ;;
    up) parse_options "$@"; cmd_up ;;
    down) parse_options "$@"; cmd_down ;;
    status) parse_options "$@"; cmd_status ;;
    -h|--help|help) usage ;;
    *) usage; exit 2 ;;
  esac
}

main "$@"
