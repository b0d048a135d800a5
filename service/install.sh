#!/usr/bin/env bash
# Installs segstream as a systemd service: the binary, the bundled models, docs/serve.md, the unit and the example
# configuration. Idempotent: run it again after an upgrade; an existing configuration or credentials file is
# never overwritten (the new example goes next to it as segstream.yaml.dist when they differ).
#
#   swift build -c release --product segstream
#   sudo service/install.sh [--binary PATH] [--prefix /usr/local] [--destdir DIR]
#   sudoedit /etc/segstream/segstream.yaml /etc/segstream/segstream.env
#   segstream serve --check-config /etc/segstream/segstream.yaml
#   sudo systemctl enable --now segstream
#
# --destdir stages everything under DIR (packaging, tests) and skips systemctl.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
destdir=""
binary=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --destdir) destdir="${2:?--destdir needs a directory}"; shift 2 ;;
        --binary) binary="${2:?--binary needs a file}"; shift 2 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
    esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 64 ;; esac

if [ -z "$binary" ]; then
    for candidate in .build/release/segstream .build/debug/segstream; do
        if [ -x "$candidate" ]; then binary="$candidate"; break; fi
    done
fi
if [ -z "$binary" ] || [ ! -x "$binary" ]; then
    echo "install.sh: no segstream binary; build one with 'swift build -c release --product segstream' or pass --binary" >&2
    exit 66
fi

bindir="$destdir$prefix/bin"
sharedir="$destdir$prefix/share/segstream"
docdir="$destdir$prefix/share/doc/segstream"
etcdir="$destdir/etc/segstream"
unitdir="$destdir/etc/systemd/system"

install -d -m 0755 "$bindir" "$sharedir/models" "$docdir" "$etcdir" "$unitdir"
install -m 0755 "$binary" "$bindir/segstream"
# The binary finds its default model in ../share/segstream/models (README, "Models").
install -m 0644 models/*.safetensors "$sharedir/models/"
install -m 0644 docs/serve.md "$docdir/serve.md"

# The unit, pointing at this prefix.
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed -e "s|^ExecStart=/usr/local/bin/segstream|ExecStart=$prefix/bin/segstream|" \
    -e "s|^Documentation=file:///usr/local/share/doc/segstream/serve.md|Documentation=file://$prefix/share/doc/segstream/serve.md|" \
    service/segstream.service > "$unit_tmp"
install -m 0644 "$unit_tmp" "$unitdir/segstream.service"

# The configuration: kept when present; the shipped example beside it when it differs.
if [ ! -e "$etcdir/segstream.yaml" ]; then
    install -m 0644 service/segstream.yaml "$etcdir/segstream.yaml"
    echo "installed the example configuration $etcdir/segstream.yaml: edit its sources"
elif ! cmp -s service/segstream.yaml "$etcdir/segstream.yaml"; then
    install -m 0644 service/segstream.yaml "$etcdir/segstream.yaml.dist"
    echo "kept $etcdir/segstream.yaml; the current example is $etcdir/segstream.yaml.dist"
fi
# Credentials for ${NAME} in the configuration, root-only (the unit's EnvironmentFile=).
if [ ! -e "$etcdir/segstream.env" ]; then
    (umask 077; printf '# NAME=value lines for ${NAME} in segstream.yaml, e.g.\n# FRONT_PASSWORD=...\n' > "$etcdir/segstream.env")
fi

if [ -z "$destdir" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "installed; start with: systemctl enable --now segstream"
else
    echo "installed under ${destdir:-/}"
fi
