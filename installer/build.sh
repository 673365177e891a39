#!/usr/bin/env bash
# Build MGIE Desktop's installer for this system.
#
#   installer/build.sh --torch cuda   Linux: the workstation build, with a CUDA 12 PyTorch. The app in
#                                     dist/cuda/mgie-desktop/ and the package mgie-desktop, whose NVIDIA
#                                     libraries travel in mgie-desktop-cuda-libs-N packages it depends
#                                     on (a release file may be at most 2 GiB).
#   installer/build.sh --torch cpu    Linux: the CPU build, dist/cpu/mgie-desktop/ and the package
#                                     mgie-desktop-cpu (same paths as mgie-desktop; they replace each
#                                     other). macOS: dist/MGIE Desktop.app and its .dmg (MPS).
#   --check                           Linux, as root (or with sudo): build, then install the packages
#                                     with apt (resolving their Depends), check nothing they need is
#                                     missing, run the installed app's --selftest from outside the source
#                                     tree (the CUDA build: it is CUDA 12.x, its CUDA libraries are in the
#                                     installed tree, and without a GPU it falls back to the CPU), purge
#                                     and check nothing is left. Exit 0 only if all of that worked.
#   --skip-build                      reuse the onedir (packaging and checking only)
#
# The build venv is build/venv-<cpu|cuda>, made here with the right torch when it is missing:
# the CUDA one from the package index's standard Linux wheel (its CUDA runtime comes as nvidia-*
# wheels), asked for with `pip --isolated` so that no local CPU wheel or pip setting can stand in.
# PYTHON may name a prepared venv instead (its torch must be of the flavour asked for); without
# --torch the flavour is that of PYTHON's torch (default .venv/bin/python), as before.
# Environment: MGIE_CUDA_TORCH (default torch==2.10.0, the newest release on the package index
# built with CUDA 12; later ones are CUDA 13 builds, which need driver 580+ and no longer run on
# pre-Turing GPUs), MGIE_CPU_TORCH (default torch==2.13.0), TORCH_CPU_INDEX (an index for the CPU
# wheel, where the default index's Linux wheel is a CUDA one), PYTHON_FOR_VENV (the Python that makes
# the build venv; default python3). Windows: installer/windows/build.ps1.
# Everything written goes under build/ and dist/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
APP=mgie-desktop
CHECK=0
SKIP_BUILD=0
FLAVOR=""
CUDA_MAJOR=12
CUDA_TORCH="${MGIE_CUDA_TORCH:-torch==2.10.0}"
CPU_TORCH="${MGIE_CPU_TORCH:-torch==2.13.0}"
PART_MB=2000  # installed size of one CUDA library package: its .deb is then under 2 GiB, however it compresses
RELEASE_LIMIT=$((2 * 1024 * 1024 * 1024))
while [ $# -gt 0 ]; do
  case "$1" in
    --check) CHECK=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --torch) FLAVOR="${2:-}"; shift ;;
    --torch=*) FLAVOR="${1#--torch=}" ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$FLAVOR" in
  ""|cpu|cuda) ;;
  *) echo "build.sh: --torch must be cpu or cuda, not '$FLAVOR'" >&2; exit 2 ;;
esac

mkdir -p build dist
LOG="$ROOT/build/installer-build${FLAVOR:+-$FLAVOR}.log"
exec > >(tee "$LOG") 2>&1
STARTED=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$*" "$(( $(date +%s) - STARTED ))"; }
fail() { printf '\nbuild.sh: FAILED: %s\n' "$*"; exit 1; }
human() { du -sh "$1" | cut -f1; }
OS="$(uname -s)"

# "cuda12" or "cpu": what a venv's torch was built for
torch_kind() {
  "$1" -c 'import torch; c = torch.version.cuda; print("cuda" + c.split(".")[0] if c else "cpu")' 2>/dev/null || true
}
wanted_kind() { [ "$1" = cuda ] && echo "cuda$CUDA_MAJOR" || echo cpu; }

# ---- the build venv --------------------------------------------------------------------------------
if [ -z "$FLAVOR" ] || [ -n "${PYTHON:-}" ]; then
  PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
  [ -x "$PYTHON" ] || fail "no build venv python at $PYTHON (set PYTHON=..., or use --torch cpu|cuda)"
  kind="$(torch_kind "$PYTHON")"
  [ -n "$kind" ] || fail "the build venv $PYTHON has no working torch"
  [ -n "$FLAVOR" ] || FLAVOR=$([ "$kind" = cpu ] && echo cpu || echo cuda)
  [ "$kind" = "$(wanted_kind "$FLAVOR")" ] \
    || fail "--torch $FLAVOR needs a $(wanted_kind "$FLAVOR") torch, but $PYTHON has a $kind one"
else
  [ "$OS" != Darwin ] || [ "$FLAVOR" = cpu ] || fail "there is no CUDA on macOS: use --torch cpu (MPS)"
  VENV="$ROOT/build/venv-$FLAVOR"
  PYTHON="$VENV/bin/python"
  if [ "$(torch_kind "$PYTHON")" != "$(wanted_kind "$FLAVOR")" ]; then
    step "build venv $VENV with a $FLAVOR torch"
    rm -rf "$VENV"
    "${PYTHON_FOR_VENV:-python3}" -m venv "$VENV"
    t0=$(date +%s)
    if [ "$FLAVOR" = cuda ]; then
      # --isolated: the package index's standard wheel, whatever pip.conf or a local wheel offers
      "$VENV/bin/pip" --isolated install --progress-bar off "$CUDA_TORCH"
    else
      "$VENV/bin/pip" install --progress-bar off "$CPU_TORCH" ${TORCH_CPU_INDEX:+--index-url "$TORCH_CPU_INDEX"}
    fi
    echo "torch installed in $(( $(date +%s) - t0 )) s ($(human "$VENV"))"
    kind="$(torch_kind "$PYTHON")"
    [ "$kind" = "$(wanted_kind "$FLAVOR")" ] || fail "pip installed a $kind torch where $(wanted_kind "$FLAVOR") was \
wanted$([ "$FLAVOR" = cpu ] && echo ': set TORCH_CPU_INDEX to an index of CPU wheels')"
  fi
  "$VENV/bin/pip" install -q -e "$ROOT[installer]" 2>&1 | grep -v "^WARNING: Location" || true
fi
VERSION="$("$PYTHON" -c 'from mgie_desktop import __version__; print(__version__)')"
PKG=$([ "$FLAVOR" = cuda ] && echo "$APP" || echo "$APP-cpu")
DISTDIR=$([ "$OS" = Darwin ] && echo dist || echo "dist/$FLAVOR")
ONEDIR="$DISTDIR/$APP"

# ---- preflight ------------------------------------------------------------------------------------
step "preflight ($OS, $PKG $VERSION, $("$PYTHON" -V))"
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
  if [ "$FLAVOR" = cuda ]; then
    # The NVIDIA libraries come with licences of their own: collect the texts from this venv.
    MGIE_LICENSES="$ROOT/build/licenses-$FLAVOR"
    "$PYTHON" installer/collect_licenses.py --dest "$MGIE_LICENSES"
    export MGIE_LICENSES
  fi
  step "PyInstaller onedir (a clean build takes several minutes)"
  rm -rf "$ONEDIR" "dist/MGIE Desktop.app"
  t0=$(date +%s)
  "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$ROOT/$DISTDIR" --workpath "$ROOT/build/pyinstaller-$FLAVOR" "$ROOT/installer/$APP.spec" \
    2>&1 | grep -v -E 'DeprecationWarning|__import__\(name\)' || true
  [ -x "$ONEDIR/$APP" ] || fail "PyInstaller did not produce $ONEDIR/$APP (see $LOG)"
  echo "onedir built in $(( $(date +%s) - t0 )) s"
fi
[ -d "$ONEDIR" ] || fail "$ONEDIR is missing (run without --skip-build)"
echo "onedir: $ONEDIR $(human "$ONEDIR") ($(find "$ONEDIR" -type f | wc -l) files)"
echo "  largest parts:"
du -sh "$ONEDIR/_internal"/* 2>/dev/null | sort -h | tail -6 | sed 's/^/    /'
"$ONEDIR/$APP" --version || fail "the frozen app does not start"

# ---- packages ---------------------------------------------------------------------------------------
if [ "$OS" = Darwin ]; then
  step "macOS disk image"
  "$ROOT/installer/macos/make_dmg.sh" "$VERSION"
  exit 0
fi
[ "$OS" = Linux ] || fail "use installer/windows/build.ps1 on Windows"

step "Debian packages"
ARCH="$(dpkg --print-architecture)"
COMPRESS=xz
dpkg-deb --help 2>/dev/null | grep zstd >/dev/null && COMPRESS=zstd  # not grep -q: with pipefail, SIGPIPE would say no
rm -rf build/deb "dist/${PKG}_${VERSION}_${ARCH}.deb"
[ "$FLAVOR" = cpu ] || rm -f "dist/${APP}-cuda-libs-"*"_${VERSION}_${ARCH}.deb"  # the other flavour's stay
DEBS=()
PACKAGES=()

# make_deb NAME STAGE CONTROL-TEMPLATE DEPENDS RELATIONS DESCRIPTION-LINE
make_deb() {
  local name="$1" stage="$2" template="$3" depends="$4" relations="$5" summary="$6"
  local deb="dist/${name}_${VERSION}_${ARCH}.deb" kb t0
  install -D -m 0644 installer/linux/copyright "$stage/usr/share/doc/$name/copyright"
  kb="$(du -sk --exclude=DEBIAN "$stage" | cut -f1)"
  mkdir -p "$stage/DEBIAN"
  VERSION="$VERSION" ARCH="$ARCH" KB="$kb" NAME="$name" DEPENDS="$depends" RELATIONS="$relations" \
  SUMMARY="$summary" "$PYTHON" - "$template" > "$stage/DEBIAN/control" <<'EOF'
import os, sys
text = open(sys.argv[1], encoding="utf-8").read()
for key, env in {"@PACKAGE@": "NAME", "@VERSION@": "VERSION", "@ARCH@": "ARCH", "@INSTALLED_SIZE@": "KB",
                 "@DEPENDS@": "DEPENDS", "@SUMMARY@": "SUMMARY"}.items():
    text = text.replace(key, os.environ[env])
relations = os.environ["RELATIONS"]
text = text.replace("@RELATIONS@\n", relations + "\n" if relations else "")
sys.stdout.write(text)
EOF
  t0=$(date +%s)
  dpkg-deb --root-owner-group -Z"$COMPRESS" --build "$stage" "$deb" >/dev/null
  echo "package: $deb $(human "$deb") ($COMPRESS, ${kb} KB installed, built in $(( $(date +%s) - t0 )) s)"
  [ "$(stat -c %s "$deb")" -le "$RELEASE_LIMIT" ] || fail "$deb is larger than 2 GiB, the release host's limit"
  DEBS+=("$deb")
  PACKAGES+=("$name")
  rm -rf "$stage"  # gigabytes of staging copy
}

STAGE="build/deb/$PKG"
mkdir -p "$STAGE/opt" "$STAGE/usr/bin" "$STAGE/usr/share/applications" \
         "$STAGE/usr/share/icons/hicolor/scalable/apps"
cp -a "$ONEDIR" "$STAGE/opt/$APP"
install -m 0755 installer/linux/launcher.sh "$STAGE/usr/bin/$APP"
install -m 0644 resources/mgie-desktop.desktop "$STAGE/usr/share/applications/$APP.desktop"
install -m 0644 resources/icons/mgie-desktop.svg "$STAGE/usr/share/icons/hicolor/scalable/apps/$APP.svg"
for png in resources/icons/mgie-desktop-*.png; do
  size="$(basename "$png" .png)"; size="${size##*-}"
  install -D -m 0644 "$png" "$STAGE/usr/share/icons/hicolor/${size}x${size}/apps/$APP.png"
done
install -D -m 0755 installer/linux/postrm "$STAGE/DEBIAN/postrm"
# Depends from the whole folder, NVIDIA libraries included, before any of it moves to another package.
DEPENDS="$("$PYTHON" installer/linux/deb_depends.py "$ONEDIR")"
RELATIONS="Conflicts: $APP, $APP-cuda-libs
Replaces: $APP"
if [ "$FLAVOR" = cuda ]; then
  # torch's CUDA libraries (nvidia/<library>/lib, ~4 GB) go into packages of their own, each at most
  # PART_MB installed (first fit, largest first: linux/deb_parts.py).
  NVIDIA="$STAGE/opt/$APP/_internal/nvidia"
  [ -d "$NVIDIA" ] || fail "the CUDA build has no _internal/nvidia: torch's CUDA libraries were not collected"
  placement="$("$PYTHON" installer/linux/deb_parts.py "$NVIDIA" "$PART_MB")" || fail "cannot share out $NVIDIA"
  parts=0
  while read -r part dir; do
    mkdir -p "build/deb/libs-$part/opt/$APP/_internal/nvidia"
    mv "$NVIDIA/$dir" "build/deb/libs-$part/opt/$APP/_internal/nvidia/"
    [ "$part" -le "$parts" ] || parts=$part
  done <<< "$placement"
  rmdir "$NVIDIA" 2>/dev/null || fail "files left directly in _internal/nvidia: $(ls "$NVIDIA")"
  for ((i = 1; i <= parts; i++)); do
    make_deb "$APP-cuda-libs-$i" "build/deb/libs-$i" installer/linux/control-cuda-libs.in "" \
      "Provides: $APP-cuda-libs" \
      "NVIDIA CUDA libraries for MGIE Desktop ($(ls "build/deb/libs-$i/opt/$APP/_internal/nvidia" | tr '\n' ' ' | sed 's/ $//'))"
    DEPENDS="$DEPENDS, $APP-cuda-libs-$i (= $VERSION)"
  done
  RELATIONS="Conflicts: $APP-cpu
Replaces: $APP-cpu"
fi
echo "Depends: $DEPENDS"
SUMMARY=$([ "$FLAVOR" = cuda ] && echo "instruction-based photo editor running Apple's MGIE on NVIDIA GPUs" \
          || echo "instruction-based photo editor running Apple's MGIE (CPU build)")
make_deb "$PKG" "$STAGE" installer/linux/control.in "$DEPENDS" "$RELATIONS" "$SUMMARY"
DOWNLOAD_MB=$(( $(du -cb "${DEBS[@]}" | tail -1 | cut -f1) / 1048576 ))
echo "packages: ${#DEBS[@]}, ${DOWNLOAD_MB} MiB to download in all"
rm -rf build/deb

[ "$CHECK" = 1 ] || { step "done"; exit 0; }

# ---- check: install, selftest, purge ---------------------------------------------------------------
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
APT=(env DEBIAN_FRONTEND=noninteractive $SUDO apt-get -y -q -o Dpkg::Use-Pty=0)
CLEAN_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

installed_ours() {
  dpkg-query -W -f='${Package} ${Status}\n' "$APP" "$APP-cpu" "$APP-cuda-libs-*" 2>/dev/null \
    | awk '$NF == "installed" { print $1 }' || true  # dpkg-query fails when none matches
}

step "check: install ${DEBS[*]} with apt (resolving their dependencies)"
earlier="$(installed_ours | tr '\n' ' ')"
if [ -n "$earlier" ]; then
  echo "already installed: $earlier- purging first"
  "${APT[@]}" purge $earlier >/dev/null
fi
t0=$(date +%s)
if ! "${APT[@]}" install "${DEBS[@]/#/./}"; then
  echo "install failed; refreshing the package lists and trying again"
  "${APT[@]}" update && "${APT[@]}" install "${DEBS[@]/#/./}" || fail "apt-get could not install ${DEBS[*]}"
fi
echo "installed in $(( $(date +%s) - t0 )) s: $(du -sh /opt/$APP | cut -f1) under /opt/$APP"
for f in /usr/bin/$APP /opt/$APP/$APP /usr/share/applications/$APP.desktop \
         /usr/share/icons/hicolor/256x256/apps/$APP.png /usr/share/icons/hicolor/scalable/apps/$APP.svg; do
  [ -e "$f" ] || fail "the package did not install $f"
done
"$PYTHON" installer/linux/deb_depends.py --missing "/opt/$APP" \
  || fail "the installed app needs libraries that its dependencies did not bring (listed above)"
echo "every library the installed app links against is present"
if [ "$FLAVOR" = cuda ]; then
  # Every CUDA library torch links must resolve inside the installed tree, never to the host's.
  cuda_libs="$(ldd "/opt/$APP/_internal/torch/lib/libtorch_cuda.so" | grep -E '^\s*lib(cu|nv|nccl)')"
  echo "$cuda_libs" | sed 's/^\s*/    /'
  echo "$cuda_libs" | grep -q 'libcudart.so' || fail "libtorch_cuda.so does not link a CUDA runtime"
  outside="$(echo "$cuda_libs" | grep -v "=> /opt/$APP/" || true)"
  [ -z "$outside" ] || fail "CUDA libraries resolved outside /opt/$APP: $outside"
  echo "torch's CUDA libraries ($(echo "$cuda_libs" | wc -l)) all resolve inside /opt/$APP"
fi

step "check: the installed app's --selftest, from /tmp with a clean environment"
found="$(cd /tmp && env -i PATH="$CLEAN_PATH" sh -c "command -v $APP")"
[ "$found" = "/usr/bin/$APP" ] || fail "mgie-desktop on PATH is '$found', not /usr/bin/$APP"
SELFTEST_HOME="$(mktemp -d /tmp/mgie-selftest-home.XXXXXX)"
SELFTEST_OUT="$(mktemp /tmp/mgie-selftest-out.XXXXXX)"
set +e
(cd /tmp && env -i PATH="$CLEAN_PATH" HOME="$SELFTEST_HOME" LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
   timeout 600 "$APP" --selftest) | tee "$SELFTEST_OUT"
rc=${PIPESTATUS[0]}
set -e
rm -rf "$SELFTEST_HOME"
[ "$rc" = 0 ] || fail "the installed app's --selftest exited with $rc"
if [ "$FLAVOR" = cuda ]; then
  grep -qE "^selftest: torch [^ ]+: CUDA $CUDA_MAJOR\.[0-9]+ runtime" "$SELFTEST_OUT" \
    || fail "the installed app's torch is not a CUDA $CUDA_MAJOR.x build"
  grep -qE "^selftest: GPU: " "$SELFTEST_OUT" || fail "the selftest did not name the GPU or why there is none"
else
  grep -qE "^selftest: torch [^ ]+: CPU only" "$SELFTEST_OUT" || fail "the installed app's torch is not the CPU build"
fi
rm -f "$SELFTEST_OUT"

step "check: purge"
"${APT[@]}" purge "${PACKAGES[@]}" >/dev/null || fail "apt-get purge failed"
[ -z "$(installed_ours)" ] || fail "still installed: $(installed_ours | tr '\n' ' ')"
leftovers=$(ls -d /opt/$APP /usr/bin/$APP /usr/share/applications/$APP.desktop /usr/share/doc/$APP* \
            /usr/share/icons/hicolor/*/apps/$APP.* 2>/dev/null || true)
[ -z "$leftovers" ] || fail "left behind after purge: $leftovers"
echo "purged: nothing of ${PACKAGES[*]} is left under /opt, /usr/bin or /usr/share"

step "check passed: $PKG, onedir $(human "$ONEDIR"), ${#DEBS[@]} package(s) of ${DOWNLOAD_MB} MiB, $(( $(date +%s) - STARTED )) s in all"
