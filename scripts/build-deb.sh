#!/usr/bin/env bash
# Build ganger_<version>_amd64.deb offline with Debian's own tools (dpkg-deb, dpkg-shlibdeps):
#
#   /usr/bin/ganger                          the release binary (Swift runtime static), stripped
#   /usr/share/man/man1/ganger*.1.gz         from the command line's definitions (swift-argument-
#                                            parser's generate-manual tool run on the binary)
#   /usr/share/man/man5/ganger.yml.5.gz      docs/configuration.md through pandoc
#   bash, zsh and fish completions           `ganger --generate-completion-script SHELL`
#   /etc/ganger/ganger.yml                   a conffile: deploy/debian/ganger.yml (all loopback)
#   /lib/systemd/system/ganger.{service,socket}   deploy/systemd/
#
#   scripts/build-deb.sh                     `make deb`: static release build (minutes) -> dist/
#   GANGER_BIN=.build/debug/ganger OUT=/tmp/x scripts/build-deb.sh
#                                            from an existing binary (the package test: a debug
#                                            binary, whose Swift libraries the package does not
#                                            carry, so it installs only where the toolchain is)
#
# Env: SWIFT (default swift), GANGER_BIN, OUT (default dist), LINTIAN=0 to skip lintian.
# Prints the .deb's path on stdout; lintian's findings on stderr (an error fails the build).
# Needs dpkg-dev, pandoc, chrpath, fakeroot, lintian (scripts/test-deps.sh installs them).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
log() { printf 'build-deb.sh: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SWIFT="${SWIFT:-swift}"
OUT="${OUT:-dist}"
for tool in dpkg-deb dpkg-shlibdeps pandoc gzip strip readelf chrpath fakeroot; do
    command -v "$tool" >/dev/null || die "no $tool (scripts/test-deps.sh installs dpkg-dev, pandoc, chrpath, fakeroot)"
done
version=$(sed -n 's/.*static let string = "\(.*\)".*/\1/p' Sources/GangerCore/Version.swift)
[[ -n $version ]] || die "no version in Sources/GangerCore/Version.swift"
arch=$(dpkg --print-architecture)

if [[ -n ${GANGER_BIN:-} ]]; then
    bin=$GANGER_BIN
    [[ -x $bin ]] || die "GANGER_BIN=$bin is not an executable (swift build first)"
else
    log "swift build -c release --static-swift-stdlib --product ganger (several minutes on 2 cores)"
    "$SWIFT" build -c release --static-swift-stdlib --product ganger --scratch-path .build/static >&2
    bin=.build/static/release/ganger
fi
# The man page generator of swift-argument-parser (the tool behind its generate-manual plugin),
# run on the binary itself: it reads the command tree from `ganger --experimental-dump-help`.
# A scratch path of its own: the package test runs this while `swift test` holds .build's lock.
"$SWIFT" build --product generate-manual --scratch-path .build/tools >&2
manual_tool=$("$SWIFT" build --product generate-manual --scratch-path .build/tools --show-bin-path)/generate-manual
[[ -x $manual_tool ]] || die "no $manual_tool after swift build --product generate-manual"

work=$(mktemp -d "${TMPDIR:-/tmp}/ganger-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
pkg=$work/ganger
install -d "$pkg/DEBIAN" "$pkg/usr/bin" "$pkg/usr/share/man/man1" "$pkg/usr/share/man/man5" \
    "$pkg/usr/share/doc/ganger" "$pkg/usr/share/bash-completion/completions" \
    "$pkg/usr/share/zsh/vendor-completions" "$pkg/usr/share/fish/vendor_completions.d" \
    "$pkg/etc/ganger" "$pkg/lib/systemd/system"
install -m 0755 "$bin" "$pkg/usr/bin/ganger"
strip --strip-all --remove-section=.comment --remove-section=.note "$pkg/usr/bin/ganger"
# The static-stdlib build keeps RUNPATH=$ORIGIN, where nothing is in /usr/bin: dropped (lintian's
# custom-library-search-path). A debug binary's RUNPATH (the toolchain's libraries) stays.
if [[ $(readelf -d "$pkg/usr/bin/ganger" | sed -n 's/.*R.*PATH.*\[\(.*\)\]/\1/p') == '$ORIGIN' ]]; then
    chrpath -d "$pkg/usr/bin/ganger" >&2
fi
ganger=$pkg/usr/bin/ganger

# Man pages: ganger(1) and one per subcommand (ganger.run(1), ...), dated by the last commit
# so that the same tree builds the same pages.
date=$(git log -1 --format=%cs 2>/dev/null || date -u +%F)
mkdir -p "$work/man1"
"$manual_tool" "$ganger" --multi-page --section 1 --date "$date" --authors "The Ganger authors" \
    --output-directory "$work/man1" >&2
for page in "$work"/man1/*.1; do
    gzip -9n <"$page" >"$pkg/usr/share/man/man1/$(basename "$page").gz"
done
[[ -f $pkg/usr/share/man/man1/ganger.1.gz ]] || die "generate-manual made no ganger.1"
# ganger.yml(5): the configuration reference, its title replaced by the NAME section man and
# whatis read. Its links to other guides become plain text.
{
    printf '# NAME\n\nganger.yml - the configuration file of ganger(1)\n\n# DESCRIPTION\n\n'
    sed '1{/^# /d}' docs/configuration.md
} | pandoc --standalone --from gfm --to man \
    --metadata title=GANGER.YML --metadata section=5 --metadata date="$date" \
    --metadata header="File Formats" --metadata footer="ganger $version" \
    | gzip -9n >"$pkg/usr/share/man/man5/ganger.yml.5.gz"

# bash-completion sources the file: no #! line.
"$ganger" --generate-completion-script bash | sed '1{/^#!/d}' >"$pkg/usr/share/bash-completion/completions/ganger"
"$ganger" --generate-completion-script zsh >"$pkg/usr/share/zsh/vendor-completions/_ganger"
"$ganger" --generate-completion-script fish >"$pkg/usr/share/fish/vendor_completions.d/ganger.fish"

install -m 0644 deploy/debian/ganger.yml "$pkg/etc/ganger/ganger.yml"
install -m 0644 deploy/systemd/ganger.service deploy/systemd/ganger.socket "$pkg/lib/systemd/system/"
install -m 0644 deploy/debian/copyright "$pkg/usr/share/doc/ganger/copyright"
sed "s/@VERSION@/$version/; s/@DATE@/$(date -u -R -d "$date")/" deploy/debian/changelog \
    | gzip -9n >"$pkg/usr/share/doc/ganger/changelog.gz"
install -m 0755 deploy/debian/postinst deploy/debian/postrm "$pkg/DEBIAN/"
printf '/etc/ganger/ganger.yml\n' >"$pkg/DEBIAN/conffiles"
chmod 0644 "$pkg/DEBIAN/conffiles"

# Depends: the shared libraries the binary links (libc6, libssl3, libyaml-0-2, libstdc++6, ...),
# as dpkg-shlibdeps derives them. A debug binary's Swift libraries belong to no package.
mkdir -p "$work/src/debian"
printf 'Source: ganger\n\nPackage: ganger\nArchitecture: any\n' >"$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O --ignore-missing-info -e "$ganger" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[[ -n $depends ]] || die "dpkg-shlibdeps found no dependencies for $ganger"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
sed "s/@VERSION@/$version/; s/@ARCH@/$arch/; s/@DEPENDS@/$depends/; s/@SIZE@/$size/" \
    deploy/debian/control >"$pkg/DEBIAN/control"
(cd "$pkg" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z | xargs -0 md5sum) \
    >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"

mkdir -p "$OUT"
deb=$OUT/ganger_${version}_${arch}.deb
fakeroot dpkg-deb --build -Zxz "$pkg" "$deb" >&2
if [[ ${LINTIAN:-1} != 0 ]]; then
    command -v lintian >/dev/null || die "no lintian (scripts/test-deps.sh installs it; LINTIAN=0 skips)"
    # lintian exits non-zero on an error (E:); warnings are listed and let through. A binary
    # that finds the Swift runtime by RUNPATH (GANGER_BIN=a debug build) is a test package:
    # that one error is expected of it and let through, said so here; a release build has none.
    suppress=()
    if readelf -d "$ganger" | grep -q 'R.*PATH'; then
        log "$bin finds its Swift libraries by RUNPATH: lintian's custom-library-search-path let through (test package)"
        suppress=(--suppress-tags custom-library-search-path)
    fi
    lintian --tag-display-limit 0 "${suppress[@]}" "$deb" >&2 || die "lintian reports errors on $deb"
fi
log "built $deb ($(du -k "$deb" | cut -f1) KiB)"
printf '%s\n' "$deb"
