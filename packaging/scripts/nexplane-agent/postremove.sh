#!/bin/sh
# nexplane-agent postremove: removal keeps the enrollment (key, certificates)
# and the local policy; a Debian purge removes them. Revoke the agent on the
# control plane as well.
# .deb: remove | purge | upgrade | ...; .rpm: $1 = 0 erase, 1 upgrade
set -e

UNIT=nexplane-agent.service
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null 2>&1 || true
fi
case "$1" in
remove)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper mask "$UNIT" >/dev/null || true
	fi
	;;
purge)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper purge "$UNIT" >/dev/null || true
		deb-systemd-helper unmask "$UNIT" >/dev/null || true
	fi
	rm -rf /etc/nexplane-agent /var/lib/nexplane-agent
	;;
esac
exit 0
