; Inno Setup 6 script for MGIE Desktop on Windows: a per-user install (no administrator
; rights), a Start-menu entry, an optional desktop shortcut, and an uninstaller in
; "Apps & features". Built by installer/windows/build.ps1 after PyInstaller has written
; dist\mgie-desktop\ (one folder: mgie-desktop.exe, the windowed app, and
; mgie-desktop-cli.exe, its console twin for `edit`, `models` and `--selftest`).
;
;   iscc /DAppVersion=0.1.0 installer\windows\mgie-desktop.iss
;
; Models are never bundled: the app downloads them into the user's data folder on first run,
; and the uninstaller leaves them there (they are large and the user's to delete).

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#ifndef Flavor
  #define Flavor "cpu"
#endif
#define AppName "MGIE Desktop"
#define AppExe "mgie-desktop.exe"
; paths are relative to this file: the repository root is two folders up
#define Repo "..\.."

[Setup]
AppId={{6E4A3C1B-7E0F-4C69-9B1D-2A7F3E5C8D41}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=MGIE Desktop contributors
AppPublisherURL=https://github.com/apple/ml-mgie
; per-user: installs under %LOCALAPPDATA%\Programs, no UAC prompt; an administrator may
; still choose "install for all users" in the dialog
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName}
SetupIconFile={#Repo}\resources\icons\mgie-desktop.ico
OutputDir={#Repo}\dist
OutputBaseFilename=MGIE-Desktop-{#AppVersion}-{#Flavor}-setup
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
WizardStyle=modern
; ~900 MB of files (CPU); a CUDA build is 3+ GB, past what one setup .exe can hold, so the
; installer spans into setup-*.bin files next to it
Compression=lzma2/fast
SolidCompression=no
#if Flavor == "cuda"
DiskSpanning=yes
DiskSliceSize=max
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Repo}\dist\mgie-desktop\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Edit photos by describing the change"
Name: "{group}\Uninstall {#AppName}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; anything the app wrote inside its own folder (caches); the user's models stay where they are
Type: filesandordirs; Name: "{app}"
