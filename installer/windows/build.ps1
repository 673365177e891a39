# Build MGIE Desktop's Windows installer: PyInstaller one-folder app, then Inno Setup.
#
#   powershell -ExecutionPolicy Bypass -File installer\windows\build.ps1 [-Check]
#
# Needs: the build venv (.venv, or $env:PYTHON) with `pip install -e .[installer]` and the
# torch to ship (CPU from PyPI, or CUDA from https://download.pytorch.org/whl/cu128), and
# Inno Setup 6 (iscc.exe on PATH, e.g. `choco install innosetup`). -Check runs the frozen
# app's --selftest (through mgie-desktop-cli.exe, which has a console), then installs the setup
# silently for this user, runs the installed copy's selftest and uninstalls it again.
param([switch]$Check)
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..\..")
Set-Location $Root
$Python = if ($env:PYTHON) { $env:PYTHON } else { Join-Path $Root ".venv\Scripts\python.exe" }
$Version = & $Python -c "from mgie_desktop import __version__; print(__version__)"
$Flavor = & $Python -c "import torch; print('cuda' if torch.version.cuda else 'cpu')"
Write-Host "== MGIE Desktop $Version ($Flavor torch)"

& $Python -m PyInstaller --noconfirm --clean --log-level WARN --distpath dist --workpath build\pyinstaller `
    installer\mgie-desktop.spec
if ($LASTEXITCODE -ne 0) { throw "PyInstaller failed" }
$Size = (Get-ChildItem dist\mgie-desktop -Recurse | Measure-Object Length -Sum).Sum / 1MB
Write-Host ("onedir: dist\mgie-desktop {0:N0} MB" -f $Size)

if ($Check) {
    Push-Location $env:TEMP
    & "$Root\dist\mgie-desktop\mgie-desktop-cli.exe" --selftest
    $rc = $LASTEXITCODE
    Pop-Location
    if ($rc -ne 0) { throw "the frozen app's --selftest failed ($rc)" }
}

iscc /Qp "/DAppVersion=$Version" "/DFlavor=$Flavor" installer\windows\mgie-desktop.iss
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
$Setup = Get-Item "dist\MGIE-Desktop-$Version-$Flavor-setup.exe"
Write-Host ("installer: {0} {1:N0} MB" -f $Setup.FullName, ($Setup.Length / 1MB))

if ($Check) {
    $Dir = Join-Path $env:LOCALAPPDATA "Programs\MGIE Desktop"
    Start-Process $Setup.FullName -ArgumentList "/VERYSILENT", "/SUPPRESSMSGBOXES", "/CURRENTUSER", "/NORESTART" -Wait
    Push-Location $env:TEMP
    & "$Dir\mgie-desktop-cli.exe" --selftest
    $rc = $LASTEXITCODE
    Pop-Location
    Start-Process "$Dir\unins000.exe" -ArgumentList "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART" -Wait
    Start-Sleep -Seconds 3  # the uninstaller finishes from a copy of itself
    if ($rc -ne 0) { throw "the installed app's --selftest failed ($rc)" }
    if (Test-Path $Dir) { throw "the uninstaller left $Dir behind" }
    Write-Host "check passed: installed, selftest OK, uninstalled"
}
