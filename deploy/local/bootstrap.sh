#!/usr/bin/env bash
# Installs what `make` needs from Debian when it is missing: python3 venv support, Node.js/npm,
# Chromium for the browser tests and nginx for the many-nodes test. Idempotent; quiet when everything is there.
set -euo pipefail
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
updated=0
apt_install() {
  if [ "$updated" = 0 ]; then as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq; updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
case "${1:-}" in
  python)
    command -v python3 >/dev/null 2>&1 || apt_install python3
    python3 -c 'import venv, ensurepip' 2>/dev/null || apt_install python3-venv
    ;;
  node)
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    ;;
  browser)
    [ -x /usr/bin/chromium ] || apt_install chromium
    ;;
  nginx)
    [ -x /usr/sbin/nginx ] || apt_install nginx
    ;;
  *) echo "usage: $0 python|node|browser|nginx" >&2; exit 2 ;;
esac
