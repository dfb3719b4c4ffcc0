#!/bin/sh
# nexplane-agent preremove: stop the agent when the package goes away (an
# upgrade restarts it from the new package's postinstall instead).
# .deb: remove | upgrade NEW | deconfigure | failed-upgrade; .rpm: $1 = 0 erase, 1 upgrade
set -e

UNIT=nexplane-agent.service
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
	systemctl --no-reload disable "$UNIT" >/dev/null 2>&1 || true
fi
exit 0
