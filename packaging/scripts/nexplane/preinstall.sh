#!/bin/sh
# nexplane preinstall: make the system user and group before any file is
# unpacked. Runs for .deb (install | upgrade OLD | abort-upgrade NEW) and
# .rpm ($1 = 1 on install, 2 or more on upgrade).
set -e

if ! getent group nexplane >/dev/null 2>&1; then
	groupadd --system nexplane
fi
if ! getent passwd nexplane >/dev/null 2>&1; then
	nologin=/usr/sbin/nologin
	[ -x "$nologin" ] || nologin=/sbin/nologin
	[ -x "$nologin" ] || nologin=/bin/false
	useradd --system --gid nexplane --no-create-home --home-dir /var/lib/nexplane \
		--shell "$nologin" --comment "Nexplane server" nexplane
fi
exit 0
