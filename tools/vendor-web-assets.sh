#!/usr/bin/env bash
# Refresh the browser assets the server serves itself (GraphiQL, Swagger UI, ReDoc and what
# they need), so that the developer tools work without any CDN. Every package comes from the
# npm registry at the version pinned below and is unpacked from its published tarball; each
# file kept is copied with the package's licence (and its package.json) into
# logistics/web/static/vendor/<package>-<version>/. To move to another version, change it
# here, run this script, and update the paths in logistics/web/assets.py.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENDOR=logistics/web/static/vendor

# package@version, then the files kept (paths inside the package).
PACKAGES=(
    "react@18.2.0 umd/react.production.min.js"
    "react-dom@18.2.0 umd/react-dom.production.min.js"
    "graphiql@3.8.3 graphiql.min.js graphiql.min.css"
    "@graphiql/plugin-explorer@1.0.2 dist/index.umd.js dist/style.css"
    "swagger-ui-dist@5.17.14 swagger-ui-bundle.js swagger-ui.css favicon-32x32.png"
    "redoc@2.1.5 bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt"
    "leaflet@1.9.4 dist/leaflet.js dist/leaflet.css dist/images/marker-icon.png dist/images/marker-icon-2x.png dist/images/marker-shadow.png dist/images/layers.png dist/images/layers-2x.png"
)

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rm -rf "$VENDOR"
mkdir -p "$VENDOR"
for entry in "${PACKAGES[@]}"; do
    read -r spec files <<<"$entry"
    name="${spec%@*}"
    version="${spec##*@}"
    dir="$VENDOR/${name//\//-}-$version"
    dir="${dir//@/}"
    tarball="$(cd "$work" && npm pack --silent "$spec")"
    mkdir -p "$work/$name" "$dir"
    tar xzf "$work/$tarball" -C "$work/$name"
    for file in $files; do
        mkdir -p "$dir/$(dirname "$file")"
        cp "$work/$name/package/$file" "$dir/$file"
    done
    # The licence file where the package has one; its package.json (name, version, "license")
    # in any case: @graphiql/plugin-explorer, for one, declares MIT there alone.
    cp "$work/$name/package/package.json" "$dir/"
    for licence in "$work/$name"/package/LICENSE* "$work/$name"/package/LICENCE*; do
        [ -e "$licence" ] && cp "$licence" "$dir/"
    done
    echo "$spec" >>"$VENDOR/VERSIONS"
done
# The one change made to a vendored file: ReDoc's sidebar shows Redocly's logo from their CDN,
# which offline is a failed request (the image hides itself); an empty inline image asks
# nothing of another host.
redoc="$VENDOR/redoc-2.1.5/bundles/redoc.standalone.js"
logo="https://cdn.redoc.ly/redoc/logo-mini.svg"
grep -q "$logo" "$redoc" || { echo "ReDoc no longer loads $logo: review this patch" >&2; exit 1; }
sed -i "s|$logo|data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg'/%3E|" "$redoc"
echo "patched: $redoc (Redocly's logo, inline)" >>"$VENDOR/VERSIONS"
echo "vendored into $VENDOR:"
cat "$VENDOR/VERSIONS"
