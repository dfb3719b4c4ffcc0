#!/bin/sh
# nexplane preremove: stop the service when the package goes away (not on
# upgrade: the new package's postinstall backs up, then restarts it).
# .deb: remove | upgrade NEW | deconfigure | failed-upgrade OLD
# .rpm: $1 = 0 on erase, 1 on upgrade
set -e

UNIT=nexplane.service
case "$1" in
remove | deconfigure | 0) ;;
*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	if command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop "$UNIT" >/dev/null || true
	else
		systemctl stop "$UNIT" >/dev/null 2>&1 || true
	fi
fi
if [ "$1" = 0 ] && command -v systemctl >/dev/null 2>&1; then
	# RPM erase: drop the enablement symlinks (works without a running systemd).
	systemctl --no-reload disable "$UNIT" >/dev/null 2>&1 || true
fi
exit 0
