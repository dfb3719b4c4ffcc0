#!/bin/sh
# nexplane postinstall: directories, the env file with a fresh SECRET_KEY
# (first install only), a backup of the database before an upgrade lets the
# new binary migrate it, then enable and (re)start the service.
#
# .deb: configure [MOST-RECENTLY-CONFIGURED-VERSION] | abort-upgrade | ...
# .rpm: $1 = 1 on install, 2 or more on upgrade
set -e

ENV_FILE=/etc/nexplane/nexplane.env
TEMPLATE=/usr/share/nexplane/nexplane.env
UNIT=nexplane.service

format=rpm
action=install
case "$1" in
configure)
	format=deb
	[ -z "$2" ] || action=upgrade
	;;
abort-upgrade | abort-remove | abort-deconfigure)
	format=deb
	action=abort
	;;
[0-9]*)
	[ "$1" -lt 2 ] || action=upgrade
	;;
*)
	format=deb
	action=other
	;;
esac

systemd_running() { [ -d /run/systemd/system ]; }

# env_value KEY: the last KEY=VALUE of the env file, surrounding quotes removed
# (the subset of systemd's EnvironmentFile syntax the package relies on).
env_value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" "$ENV_FILE" 2>/dev/null | tail -n 1 |
		sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/"
}

# 1. Configuration: /etc/nexplane 0750 root:nexplane; the env file is made
#    once, never overwritten, so an upgrade keeps the key and every setting.
install -d -m 0750 -o root -g nexplane /etc/nexplane
if [ ! -e "$ENV_FILE" ]; then
	key=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
	tmp=$(umask 077 && mktemp /etc/nexplane/.nexplane.env.XXXXXX)
	sed "s|^SECRET_KEY=.*\$|SECRET_KEY=$key|" "$TEMPLATE" >"$tmp"
	chown root:nexplane "$tmp"
	chmod 0640 "$tmp"
	mv "$tmp" "$ENV_FILE"
	echo "nexplane: created $ENV_FILE with a new SECRET_KEY (back it up with the database)"
fi

# 2. Data: /var/lib/nexplane 0750 nexplane:nexplane (systemd's StateDirectory=
#    would make it too, but the CLI may run before the service ever starts).
data_dir=$(env_value NEXPLANE_DATA_DIR)
[ -n "$data_dir" ] || data_dir=/var/lib/nexplane
install -d -m 0750 -o nexplane -g nexplane /var/lib/nexplane
[ -d "$data_dir" ] || install -d -m 0750 -o nexplane -g nexplane "$data_dir"

# 3. Upgrade: back the database up before the new binary starts and migrates
#    it. This runs the NEW binary (already unpacked) while the old server may
#    still be running: `nexplane backup` never migrates, and VACUUM INTO copies
#    one consistent instant even while the old server writes. Only the restart
#    below lets the new server migrate, so the backup always comes first.
if [ "$action" = upgrade ]; then
	db_url=$(env_value DATABASE_URL)
	if [ -n "$db_url" ]; then
		echo "nexplane: DATABASE_URL is set (PostgreSQL): no automatic backup; the service restarts and migrates now, so keep your pg_dump backups current"
	elif [ -f "$data_dir/nexplane.db" ]; then
		backup_dir="$data_dir/backups"
		install -d -m 0750 -o nexplane -g nexplane "$backup_dir"
		target="$backup_dir/pre-upgrade-$(date -u +%Y%m%dT%H%M%SZ).db"
		if runuser -u nexplane -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin NEXPLANE_DATA_DIR="$data_dir" \
			/usr/bin/nexplane backup --to "$target"; then
			echo "nexplane: database backed up to $target before the upgrade"
		else
			echo "nexplane: the backup before the upgrade FAILED; the service was not restarted, so the database was not migrated." >&2
			echo "nexplane: fix the cause (disk space? permissions of $data_dir?) and run: dpkg --configure -a (or reinstall the rpm)" >&2
			exit 1
		fi
	fi
fi

# 4. The service.
if [ "$format" = deb ]; then
	# What dh_installsystemd generates: enable on first install (also
	# without a running systemd: it only makes the symlinks), keep the
	# admin's choice on upgrade.
	if [ "$action" != other ]; then
		if command -v deb-systemd-helper >/dev/null 2>&1; then
			deb-systemd-helper unmask "$UNIT" >/dev/null || true
			if deb-systemd-helper --quiet was-enabled "$UNIT"; then
				deb-systemd-helper enable "$UNIT" >/dev/null || true
			else
				deb-systemd-helper update-state "$UNIT" >/dev/null || true
			fi
		elif command -v systemctl >/dev/null 2>&1; then
			systemctl enable "$UNIT" >/dev/null 2>&1 || true
		fi
		if systemd_running; then
			systemctl --system daemon-reload >/dev/null || true
			if [ "$action" = upgrade ]; then verb=restart; else verb=start; fi
			if command -v deb-systemd-invoke >/dev/null 2>&1; then
				deb-systemd-invoke "$verb" "$UNIT" >/dev/null ||
					echo "nexplane: $UNIT did not $verb; see: journalctl -u nexplane" >&2
			else
				systemctl "$verb" "$UNIT" ||
					echo "nexplane: $UNIT did not $verb; see: journalctl -u nexplane" >&2
			fi
		else
			echo "nexplane: systemd is not running; start the server with: runuser -u nexplane -- sh -c 'set -a; . $ENV_FILE; exec nexplane serve'"
		fi
	fi
else
	# RPM: enabled or not per the distribution's presets (Fedora and RHEL
	# presets leave third-party services disabled: systemctl enable --now
	# nexplane). Upgrades restart a running service.
	if command -v systemctl >/dev/null 2>&1; then
		if [ "$action" = install ]; then
			systemctl --no-reload preset "$UNIT" >/dev/null 2>&1 || true
		fi
		if systemd_running; then
			systemctl --system daemon-reload >/dev/null 2>&1 || true
			if [ "$action" = upgrade ]; then
				systemctl try-restart "$UNIT" ||
					echo "nexplane: $UNIT did not restart; see: journalctl -u nexplane" >&2
			fi
		fi
	fi
fi
exit 0
