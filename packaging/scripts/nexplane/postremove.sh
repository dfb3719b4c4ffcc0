#!/bin/sh
# nexplane postremove: removal keeps /etc/nexplane and /var/lib/nexplane (the
# database, its backups and the SECRET_KEY); a Debian purge removes them and
# the nexplane user.
# .deb: remove | purge | upgrade NEW | failed-upgrade | abort-install | abort-upgrade | disappear
# .rpm: $1 = 0 on erase, 1 on upgrade
set -e

UNIT=nexplane.service

if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || true
fi

case "$1" in
remove)
	# As dh_installsystemd does: mask, so the dangling enablement symlinks
	# do nothing until a reinstall unmasks them.
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper mask "$UNIT" >/dev/null || true
	fi
	echo "nexplane: removed; configuration in /etc/nexplane and data in /var/lib/nexplane are kept (purge removes them)"
	;;
purge)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper purge "$UNIT" >/dev/null || true
		deb-systemd-helper unmask "$UNIT" >/dev/null || true
	fi
	data_dir=$(sed -n 's/^[[:space:]]*NEXPLANE_DATA_DIR[[:space:]]*=[[:space:]]*//p' /etc/nexplane/nexplane.env 2>/dev/null | tail -n 1 |
		sed -e 's/[[:space:]]*$//' -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/")
	rm -rf /etc/nexplane /var/lib/nexplane
	# A custom data dir is removed only when it is clearly ours.
	case "$data_dir" in
	"" | / | /var/lib/nexplane) ;;
	*) [ -f "$data_dir/nexplane.db" ] && [ "$(stat -c %U "$data_dir" 2>/dev/null)" = nexplane ] && rm -rf "$data_dir" ;;
	esac
	if getent passwd nexplane >/dev/null 2>&1; then
		userdel nexplane >/dev/null 2>&1 || echo "nexplane: could not remove the user nexplane (a process still running as it?)" >&2
	fi
	if getent group nexplane >/dev/null 2>&1; then
		groupdel nexplane >/dev/null 2>&1 || true
	fi
	;;
0)
	echo "nexplane: removed; configuration in /etc/nexplane and data in /var/lib/nexplane are kept"
	;;
esac
exit 0
