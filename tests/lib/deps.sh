#!/usr/bin/env bash
# Installs the Debian packages the build, the tests, the demo and the
# benchmarks need, when they are missing and we are root. Idempotent.
set -eu
PKGS="build-essential pkg-config time librdkafka-dev libpq-dev libcurl4-openssl-dev libpcre2-dev libyaml-dev
postgresql nginx-light openssl python3 default-jre-headless maven kcat wrk debootstrap
prometheus-blackbox-exporter curl procps psmisc iproute2"
missing=()
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "missing Debian packages: ${missing[*]}" >&2
	echo "install them with: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
