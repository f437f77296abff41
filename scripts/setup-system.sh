#!/usr/bin/env bash
# Install the Debian packages Linli needs, only those missing. Idempotent and quiet when nothing is missing.
set -euo pipefail

packages=(postgresql-15 postgresql-15-postgis-3 postgresql-contrib gdal-bin libgdal-dev gettext
          chromium fonts-noto-cjk nodejs npm python3-venv)

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from elsewhere (nodesource, nvm): a working `node`/`npm` is enough.
  if [[ $p == nodejs ]] && command -v node >/dev/null; then continue; fi
  if [[ $p == npm ]] && command -v npm >/dev/null; then continue; fi
  # python3-venv is only needed when the interpreter cannot make a venv by itself.
  if [[ $p == python3-venv ]] && python3 -c 'import venv, ensurepip' 2>/dev/null; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then exit 0; fi

if [[ $(id -u) -ne 0 ]]; then
  echo "Missing Debian packages: ${missing[*]}" >&2
  echo "Run as root, or: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi

echo "Installing Debian packages: ${missing[*]}"
# Do not let the postgresql package create and start its default 'main' cluster: we run our own.
mkdir -p /etc/postgresql-common
if [[ ! -f /etc/postgresql-common/createcluster.conf ]] || ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
  echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
