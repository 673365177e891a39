#!/usr/bin/env bash
# Build MGIE Desktop's installer for this system from the build venv.
#
#   installer/build.sh            Linux: dist/mgie-desktop/ (onedir) and dist/mgie-desktop_<ver>_<arch>.deb
#                                 macOS: dist/MGIE Desktop.app and dist/MGIE-Desktop-<ver>-arm64.dmg
#   installer/build.sh --check    Linux, as root (or with sudo): build, then install the .deb with
#                                 apt (resolving its Depends), check nothing it needs is missing,
#                                 run the installed app's --selftest from outside the source tree,
#                                 purge it and check nothing is left. Exit 0 only if all of that worked.
#   --skip-build                  reuse dist/mgie-desktop/ (packaging and checking only)
#
# Environment: PYTHON (default .venv/bin/python) is the build venv: its torch is the torch the
# installer ships (CPU here; install CUDA torch in it for a CUDA installer, see installer/README.md).
# Windows: installer/windows/build.ps1. Everything written goes under build/ and dist/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
APP=mgie-desktop
CHECK=0
SKIP_BUILD=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p build dist
LOG="$ROOT/build/installer-build.log"
exec > >(tee "$LOG") 2>&1
STARTED=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - STARTED ))"; }
fail() { printf '\nbuild.sh: FAILED: %s\n' "$*"; exit 1; }
human() { du -sh "$1" | cut -f1; }

[ -x "$PYTHON" ] || fail "no build venv python at $PYTHON (set PYTHON=...)"
VERSION="$("$PYTHON" -c 'from mgie_desktop import __version__; print(__version__)')"
OS="$(uname -s)"

# ---- preflight ------------------------------------------------------------------------------------
step "preflight ($OS, version $VERSION, $("$PYTHON" -V))"
"$PYTHON" -m PyInstaller --version >/dev/null 2>&1 \
  || fail "PyInstaller is not installed in the build venv: $PYTHON -m pip install -e '.[installer]'"
# A second Qt binding in the venv makes PyInstaller abort half-way; say so up front.
others="$("$PYTHON" -c 'import importlib.util as u; print(" ".join(m for m in ("PyQt5","PyQt6","PySide2") if u.find_spec(m)))')"
[ -z "$others" ] || fail "the build venv has another Qt binding ($others) besides PySide6: uninstall it"
"$PYTHON" - <<'EOF'
import torch
cuda = torch.version.cuda
print(f"torch {torch.__version__}: {'CUDA ' + cuda + ' installer' if cuda else 'CPU-only installer'}")
EOF
if [ "$OS" = Linux ]; then
  echo "glibc $(ldd --version | head -1 | grep -oE '[0-9]+\.[0-9]+$'): the oldest system the result runs on has this glibc or newer"
fi

# ---- PyInstaller onedir -------------------------------------------------------------------------
if [ "$SKIP_BUILD" = 0 ]; then
  step "PyInstaller onedir (a clean build takes several minutes)"
  rm -rf "dist/$APP" "dist/MGIE Desktop.app"
  t0=$(date +%s)
  "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/build/pyinstaller" "$ROOT/installer/$APP.spec" \
    2>&1 | grep -v -E 'DeprecationWarning|__import__\(name\)' || true
  [ -x "dist/$APP/$APP" ] || fail "PyInstaller did not produce dist/$APP/$APP (see $LOG)"
  echo "onedir built in $(( $(date +%s) - t0 )) s"
fi
[ -d "dist/$APP" ] || fail "dist/$APP is missing (run without --skip-build)"
echo "onedir: dist/$APP $(human "dist/$APP") ($(find "dist/$APP" -type f | wc -l) files)"
echo "  largest parts:"
du -sh "dist/$APP/_internal"/* 2>/dev/null | sort -h | tail -6 | sed 's/^/    /'
"dist/$APP/$APP" --version || fail "the frozen app does not start"

# ---- packages ---------------------------------------------------------------------------------------
if [ "$OS" = Darwin ]; then
  step "macOS disk image"
  "$ROOT/installer/macos/make_dmg.sh" "$VERSION"
  exit 0
fi
[ "$OS" = Linux ] || fail "use installer/windows/build.ps1 on Windows"

step "Debian package"
ARCH="$(dpkg --print-architecture)"
DEB="dist/${APP}_${VERSION}_${ARCH}.deb"
STAGE="build/deb/root"
rm -rf build/deb "$DEB"
mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" "$STAGE/DEBIAN" \
         "$STAGE/usr/share/doc/$APP" "$STAGE/usr/share/icons/hicolor/scalable/apps"
cp -a "dist/$APP" "$STAGE/opt/$APP"
install -m 0755 installer/linux/launcher.sh "$STAGE/usr/bin/$APP"
install -m 0644 resources/mgie-desktop.desktop "$STAGE/usr/share/applications/$APP.desktop"
install -m 0644 resources/icons/mgie-desktop.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/$APP.svg"
for png in resources/icons/mgie-desktop-*.png; do
  size="$(basename "$png" .png)"; size="${size##*-}"
  install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/$APP.png"
done
install -m 0644 installer/linux/copyright "$STAGE/usr/share/doc/$APP/copyright"
install -m 0755 installer/linux/postrm "$STAGE/DEBIAN/postrm"
DEPENDS="$("$PYTHON" installer/linux/deb_depends.py "dist/$APP")"
INSTALLED_KB="$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@INSTALLED_SIZE@/$INSTALLED_KB/" \
    -e "s/@DEPENDS@/$DEPENDS/" installer/linux/control.in > "$STAGE/DEBIAN/control"
echo "Depends: $DEPENDS"
COMPRESS=xz
dpkg-deb --help 2>/dev/null | grep -q zstd && COMPRESS=zstd
t0=$(date +%s)
dpkg-deb --root-owner-group -Z"$COMPRESS" --build "$STAGE" "$DEB" >/dev/null
echo "package: $DEB $(human "$DEB") ($COMPRESS, ${INSTALLED_KB} KB installed, built in $(( $(date +%s) - t0 )) s)"
rm -rf build/deb  # 900 MB of staging copy

[ "$CHECK" = 1 ] || { step "done"; exit 0; }

# ---- check: install, selftest, purge ---------------------------------------------------------------
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
APT=(env DEBIAN_FRONTEND=noninteractive $SUDO apt-get -y -q -o Dpkg::Use-Pty=0)
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

step "check: install $DEB with apt (resolving its dependencies)"
if dpkg-query -W -f='${Status}' "$APP" 2>/dev/null | grep -q "ok installed"; then
  echo "an earlier $APP is installed: purging it first"
  "${APT[@]}" purge "$APP" >/dev/null
fi
if ! "${APT[@]}" install "./$DEB"; then
  echo "install failed; refreshing the package lists and trying again"
  "${APT[@]}" update && "${APT[@]}" install "./$DEB" || fail "apt-get could not install $DEB"
fi
for f in /usr/bin/$APP /opt/$APP/$APP /usr/share/applications/$APP.desktop \
         /usr/share/icons/hicolor/256x256/apps/$APP.png /usr/share/icons/hicolor/scalable/apps/$APP.svg; do
  [ -e "$f" ] || fail "the package did not install $f"
done
"$PYTHON" installer/linux/deb_depends.py --missing "/opt/$APP" \
  || fail "the installed app needs libraries that its dependencies did not bring (listed above)"
echo "every library the installed app links against is present"

step "check: the installed app's --selftest, from /tmp with a clean environment"
found="$(cd /tmp && env -i PATH="$CLEAN_PATH" sh -c "command -v $APP")"
[ "$found" = "/usr/bin/$APP" ] || fail "mgie-desktop on PATH is '$found', not /usr/bin/$APP"
SELFTEST_HOME="$(mktemp -d /tmp/mgie-selftest-home.XXXXXX)"
set +e
(cd /tmp && env -i PATH="$CLEAN_PATH" HOME="$SELFTEST_HOME" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
   timeout 600 "$APP" --selftest)
rc=$?
set -e
rm -rf "$SELFTEST_HOME"
[ "$rc" = 0 ] || fail "the installed app's --selftest exited with $rc"

step "check: purge"
"${APT[@]}" purge "$APP" >/dev/null || fail "apt-get purge failed"
if dpkg-query -W -f='${Status}' "$APP" 2>/dev/null | grep -q installed; then fail "$APP is still installed"; fi
leftovers=$(ls -d /opt/$APP /usr/bin/$APP /usr/share/applications/$APP.desktop /usr/share/doc/$APP \
            /usr/share/icons/hicolor/*/apps/$APP.* 2>/dev/null || true)
[ -z "$leftovers" ] || fail "left behind after purge: $leftovers"
echo "purged: nothing of $APP is left under /opt, /usr/bin or /usr/share"

step "check passed: onedir $(human "dist/$APP"), $DEB $(human "$DEB"), $(( $(date +%s) - STARTED )) s in all"
