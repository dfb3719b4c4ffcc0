#!/bin/sh
# nexplane-agent postinstall: directories, then enable the service and
# (re)start it. Until the host is enrolled the unit's
# ConditionPathExists=/var/lib/nexplane-agent/agent.json makes a start a
# no-op, so an unenrolled agent never restarts in a loop.
# .deb: configure [OLD] | abort-*; .rpm: $1 = 1 on install, 2+ on upgrade
set -e

UNIT=nexplane-agent.service
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
[0-9]*) [ "$1" -lt 2 ] || action=upgrade ;;
*)
	format=deb
	action=other
	;;
esac

# Local policy (agent.conf) and optional environment (agent.env); state: the
# key, certificates and enrollment, root only.
install -d -m 0755 -o root -g root /etc/nexplane-agent
install -d -m 0700 -o root -g root /var/lib/nexplane-agent

if [ "$format" = deb ]; then
	[ "$action" != other ] || exit 0
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
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		if [ "$action" = upgrade ]; then verb=restart; else verb=start; fi
		if command -v deb-systemd-invoke >/dev/null 2>&1; then
			deb-systemd-invoke "$verb" "$UNIT" >/dev/null || true
		else
			systemctl "$verb" "$UNIT" || true
		fi
	fi
else
	if command -v systemctl >/dev/null 2>&1; then
		[ "$action" != install ] || systemctl --no-reload preset "$UNIT" >/dev/null 2>&1 || true
		if [ -d /run/systemd/system ]; then
			systemctl --system daemon-reload >/dev/null 2>&1 || true
			[ "$action" != upgrade ] || systemctl try-restart "$UNIT" || true
		fi
	fi
fi
if [ ! -f /var/lib/nexplane-agent/agent.json ]; then
	echo "nexplane-agent: not enrolled yet: nexplane-agent enroll --server https://HOST:8444 --token TOKEN --ca-sha256 FINGERPRINT, then systemctl start nexplane-agent"
fi
exit 0
