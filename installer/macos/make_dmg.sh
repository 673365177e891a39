#!/usr/bin/env bash
# Wrap dist/"MGIE Desktop.app" (built by PyInstaller from installer/mgie-desktop.spec on an
# Apple-silicon Mac, MGIE_TARGET_ARCH=arm64) into dist/MGIE-Desktop-<version>-arm64.dmg:
# the app and an /Applications link, for drag-and-drop install. Called by installer/build.sh.
#
# Signing: without MGIE_CODESIGN_IDENTITY the app is signed ad hoc (Apple silicon refuses
# unsigned code; Gatekeeper will still ask on first open). For distribution, set it to a
# "Developer ID Application: ..." identity and notarize the .dmg (MGIE_NOTARY_PROFILE, a
# profile stored with `xcrun notarytool store-credentials`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VERSION="${1:?usage: make_dmg.sh VERSION}"
APP="$ROOT/dist/MGIE Desktop.app"
DMG="$ROOT/dist/MGIE-Desktop-$VERSION-arm64.dmg"
[ -d "$APP" ] || { echo "make_dmg.sh: $APP is missing (run installer/build.sh on macOS)" >&2; exit 1; }

IDENTITY="${MGIE_CODESIGN_IDENTITY:--}"
codesign --force --deep --options runtime --timestamp=none --sign "$IDENTITY" "$APP"
codesign --verify --deep --strict "$APP"

# the bundled app must pass its own selftest before it is wrapped
(cd /tmp && QT_QPA_PLATFORM=offscreen "$APP/Contents/MacOS/mgie-desktop" --selftest)

STAGE="$ROOT/build/dmg"
rm -rf "$STAGE" "$DMG"
mkdir -p "$STAGE"
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
hdiutil create -volname "MGIE Desktop" -srcfolder "$STAGE" -fs APFS -format ULFO -ov "$DMG"
rm -rf "$STAGE"
if [ -n "${MGIE_NOTARY_PROFILE:-}" ]; then
  xcrun notarytool submit "$DMG" --keychain-profile "$MGIE_NOTARY_PROFILE" --wait
  xcrun stapler staple "$DMG"
fi
echo "disk image: $DMG $(du -sh "$DMG" | cut -f1)"
