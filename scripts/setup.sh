#!/usr/bin/env bash
# Installs everything argos's tests need on a fresh Debian/Ubuntu machine, and
# only what is missing: Debian packages (Ansible, linters, debootstrap for the
# local test target, systemd-nspawn for the local cloud), the moto AWS emulator,
# the npm packages, and the local cloud's cached base root (localcloud/).
# Usage: scripts/setup.sh        (safe to run again: it skips what is there)
set -euo pipefail

cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: %s\n' "$*" >&2; exit 1; }

# ---- Node.js 20 or newer
command -v node >/dev/null || fail "Node.js 20 or newer is required: install it first (https://nodejs.org or your package manager)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || fail "Node.js $node_major found; argos needs 20 or newer"

# ---- Debian packages: command -> package
declare -A wanted=(
  [ansible-playbook]=ansible-core
  [ansible-lint]=ansible-lint
  [shellcheck]=shellcheck
  [debootstrap]=debootstrap
  [systemd-nspawn]=systemd-container
  [ssh]=openssh-client
  [ssh-keygen]=openssh-client
  [git]=git
  [unshare]=util-linux
  [curl]=curl
)
missing=()
for command in "${!wanted[@]}"; do
  command -v "$command" >/dev/null || missing+=("${wanted[$command]}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  say "installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null; then sudo=(sudo); else
    fail "missing packages ${missing[*]}: install them as root (apt-get install ${missing[*]})"
  fi
  command -v apt-get >/dev/null || fail "no apt-get here: install ${missing[*]} with your package manager"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  say "Debian packages present"
fi

# ---- moto, the AWS emulator the integration tests run against (never real AWS)
if command -v moto_server >/dev/null; then
  say "moto_server present"
else
  say "installing moto[server] with pip"
  python3 -m pip install --quiet 'moto[server]' ||
    fail "could not install moto[server]: install it with python3 -m pip install 'moto[server]' (Python 3.10+)"
fi

# ---- npm packages (npm ci also builds the CLI through the prepare script)
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages"
  npm ci --no-audit --no-fund
else
  say "npm packages present"
  npm run --silent build
fi
# ---- the local cloud's base machine root (Debian 12 with systemd; about a minute, once) and its
#      PostgreSQL layer (RDS instances' machines: postgresql installed through the cloud's apt proxy, ~40 s once)
if [ "$(id -u)" -eq 0 ]; then
  npx tsx localcloud/cli.ts build-base --user "${LOCALCLOUD_USER:-ubuntu}"
else
  say "not root: the local cloud's base root is built on its first start as root (npx tsx localcloud/cli.ts build-base)"
fi
say "done"
