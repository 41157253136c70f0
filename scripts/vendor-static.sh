#!/bin/sh
# Vendor the map's JavaScript into the app's own static files (no CDN): the
# pinned npm packages' dist files are copied into bot/admin/static/vendor/
# and committed, so a clean clone needs no npm. Run `make vendor` to refresh
# them after changing a version here; VERSIONS records what was copied.
set -eu

LEAFLET=1.9.4
MARKERCLUSTER=1.5.3

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/bot/admin/static/vendor"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm init -y >/dev/null
npm install --no-audit --no-fund --ignore-scripts --save-exact \
    "leaflet@$LEAFLET" "leaflet.markercluster@$MARKERCLUSTER" >/dev/null

rm -rf "$DEST"
mkdir -p "$DEST/leaflet/images" "$DEST/markercluster"
L=node_modules/leaflet
M=node_modules/leaflet.markercluster
cp "$L/dist/leaflet.js" "$L/dist/leaflet.css" "$DEST/leaflet/"
cp "$L"/dist/images/*.png "$DEST/leaflet/images/"
cp "$L/LICENSE" "$DEST/leaflet/LICENSE"
cp "$M/dist/leaflet.markercluster.js" "$M/dist/MarkerCluster.css" \
   "$M/dist/MarkerCluster.Default.css" "$DEST/markercluster/"
cp "$M/MIT-LICENCE.txt" "$DEST/markercluster/LICENSE"
find "$DEST" -type f -exec chmod 644 {} +

version() { node -p "require('./node_modules/$1/package.json').version"; }
license() { node -p "require('./node_modules/$1/package.json').license"; }
{
    echo "# Copied by scripts/vendor-static.sh (make vendor) from npm; do not edit by hand."
    echo "leaflet $(version leaflet) $(license leaflet)"
    echo "leaflet.markercluster $(version leaflet.markercluster) $(license leaflet.markercluster)"
} > "$DEST/VERSIONS"
cat "$DEST/VERSIONS"
