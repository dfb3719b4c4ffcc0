#!/bin/sh
# nexplane-agent preinstall: nothing to prepare. The agent runs as root (it
# manages local users), so unlike the server it needs no system user.
# .deb: install | upgrade OLD | abort-upgrade NEW; .rpm: $1 = 1 or 2+.
exit 0
