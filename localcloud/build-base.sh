#!/usr/bin/env bash
# Builds the local cloud's base machine root (the "base AMI"): Debian 12 minbase with
# systemd, sshd, python3, sudo, iproute2, ca-certificates, syspreped so that every
# overlay clone gets its own machine id and host keys, with the login user, the
# cloud-init stand-in (lc-user-data) and apt pointed at the namespace's proxy.
#
#   localcloud/build-base.sh DEST USER [MIRROR]
#
# Builds into DEST.tmp and renames it to DEST only when complete, so a killed build
# never leaves a half root that looks cached. Safe to run again: exits if DEST exists.
set -euo pipefail

DEST=${1:?usage: build-base.sh DEST USER [MIRROR]}
LOGIN=${2:?usage: build-base.sh DEST USER [MIRROR]}
MIRROR=${3:-http://deb.debian.org/debian}
# The address of the apt proxy relay inside the cloud namespace (see network.ts).
readonly APT_PROXY=http://172.31.0.1:3142

log() { printf 'localcloud: %s\n' "$*" >&2; }
[ -d "$DEST" ] && { log "base root $DEST present"; exit 0; }
[ "$(id -u)" = 0 ] || { log "building the base root needs root"; exit 1; }
[[ "$LOGIN" =~ ^[a-z_][a-z0-9_-]*$ ]] || { log "bad user name $LOGIN"; exit 1; }

B=$DEST.tmp
rm -rf "$B"
mkdir -p "$(dirname "$DEST")"
log "debootstrap bookworm into $B (about a minute)"
debootstrap --variant=minbase \
  --include=systemd,systemd-sysv,dbus,openssh-server,python3,sudo,iproute2,ca-certificates \
  bookworm "$B" "$MIRROR" > "$DEST.debootstrap.log" 2>&1 ||
  { log "debootstrap failed; see $DEST.debootstrap.log"; exit 1; }

# Sysprep: clones of one root all boot with the same machine id while these hold one.
: > "$B/etc/machine-id"; rm -f "$B/var/lib/dbus/machine-id"
echo localhost > "$B/etc/hostname"                        # debootstrap copied the host's
echo '127.0.0.1 localhost' > "$B/etc/hosts"
echo '# no DNS inside the local cloud' > "$B/etc/resolv.conf"
rm -f "$B"/etc/ssh/ssh_host_*                             # openssh's postinst made keys: per machine instead
rm -rf "$B"/var/cache/apt/*.bin "$B"/var/cache/apt/archives/*.deb "$B"/var/lib/apt/lists/*
# No package lists, and none fetched "recently": the lists directory's mtime is what Ansible's apt
# cache_valid_time reads when there is no update stamp, and a base built minutes ago would pass
# for a fresh cache, so an install on a machine from it would skip apt-get update and fail.
touch -d @0 "$B"/var/lib/apt/lists

chroot "$B" useradd -m -s /bin/bash -G sudo "$LOGIN"
chroot "$B" usermod -p '*' "$LOGIN"
install -d -m 700 "$B/home/$LOGIN/.ssh"
chroot "$B" chown "$LOGIN:$LOGIN" "/home/$LOGIN/.ssh"
echo "$LOGIN ALL=(ALL) NOPASSWD:ALL" > "$B/etc/sudoers.d/90-cloud-init-users"
chmod 440 "$B/etc/sudoers.d/90-cloud-init-users"
printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\n' > "$B/etc/ssh/sshd_config.d/50-localcloud.conf"
cat > "$B/etc/apt/apt.conf.d/90localcloud" <<CONF
Acquire::http::Proxy "$APT_PROXY";
Acquire::Check-Valid-Until "false";
APT::Install-Recommends "false";
CONF
install -d "$B/etc/localcloud" "$B/var/lib/localcloud"

cat > "$B/etc/systemd/system/lc-hostkeys.service" <<'UNIT'
[Unit]
Description=localcloud: generate SSH host keys (once per machine)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -A
[Install]
WantedBy=ssh.service
UNIT

cat > "$B/usr/local/sbin/lc-user-data" <<'SCRIPT'
#!/bin/sh
# cloud-init stand-in: runs /etc/localcloud/user-data once per instance id
# (/etc/localcloud/instance-id, written by the launcher like EC2 metadata).
id=$(cat /etc/localcloud/instance-id 2>/dev/null || echo i-unknown)
d=/var/lib/localcloud/instances/$id
mkdir -p "$d"; ln -sfn "$d" /var/lib/localcloud/instance
if [ -e "$d/user-data.done" ]; then
  echo "lc-user-data: already ran for $id, skipping"
else
  rc=0; [ -x /etc/localcloud/user-data ] && { /etc/localcloud/user-data >"$d/user-data.log" 2>&1 || rc=$?; }
  echo "$(date -u +%FT%TZ) rc=$rc" >> "$d/user-data.runs"
  echo "$rc" > "$d/user-data.done"
  echo "lc-user-data: ran user-data for $id rc=$rc"
fi
echo "$(date -u +%FT%TZ) boot=$(cat /proc/sys/kernel/random/boot_id)" > "$d/boot-finished"
SCRIPT
chmod 755 "$B/usr/local/sbin/lc-user-data"

cat > "$B/etc/systemd/system/lc-user-data.service" <<'UNIT'
[Unit]
Description=localcloud: run user-data once per instance (cloud-init stand-in)
Wants=network-online.target
After=network-online.target
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lc-user-data
StandardOutput=journal+console
[Install]
WantedBy=multi-user.target
UNIT

chroot "$B" systemctl enable -q systemd-networkd lc-hostkeys.service lc-user-data.service
chroot "$B" systemctl mask -q apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer console-getty.service
echo "$LOGIN" > "$B/etc/localcloud/login-user"
mv "$B" "$DEST"
log "base root ready: $DEST ($(du -sh "$DEST" | cut -f1))"
