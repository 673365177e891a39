"""Models › Engine…: edit with this computer's models, or with a server's (``mgie-desktop serve``).

The choice and the server's address live in the app's settings; the token lives in a file only
its owner can read, never in the settings file."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import sentence
from mgie_desktop.core.errors import InputError, MgieError
from mgie_desktop.remote import require_aiohttp
from mgie_desktop.remote.security import save_client_token, saved_client_token

if TYPE_CHECKING:
    from mgie_desktop.ui.edit_runner import EditRunner

KIND_SETTING, ADDRESS_SETTING = "engine/kind", "engine/address"


class EngineDialog(QDialog):
    def __init__(self, remote: bool, address: str, token: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Engine")
        self.local_button = QRadioButton("This computer")
        self.remote_button = QRadioButton("Remote: a computer running mgie-desktop serve")
        group = QButtonGroup(self)
        for button in (self.local_button, self.remote_button):
            group.addButton(button)
        (self.remote_button if remote else self.local_button).setChecked(True)
        self.address = QLineEdit(address)
        self.address.setPlaceholderText("http://workstation:8765")
        self.token = QLineEdit(token)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText(
            "from the server's token file (found by itself for this computer's own server)"
        )
        form = QFormLayout()
        form.addRow("Address", self.address)
        form.addRow("Token", self.token)
        hint = QLabel(
            "On the GPU computer run <code>mgie-desktop serve --host 0.0.0.0</code>; it says where "
            "its token file is, and every client needs that token. A server on this computer "
            "needs one too, and it is found here by itself: leave the token empty. Photos go "
            "to that computer for each edit and come back; your history and sessions stay here."
        )
        hint.setWordWrap(True)
        self.problem = QLabel()
        self.problem.setObjectName("problem")
        self.problem.setWordWrap(True)
        self.problem.hide()
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        for widget in (self.local_button, self.remote_button):
            layout.addWidget(widget)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.remote_button.toggled.connect(self._follow_choice)
        self._follow_choice(remote)
        self.resize(520, self.sizeHint().height())

    def _follow_choice(self, remote: bool) -> None:
        self.address.setEnabled(remote)
        self.token.setEnabled(remote)

    def accept(self) -> None:
        if self.remote_button.isChecked():
            try:
                load("mgie_desktop.remote.client", "check_url")(self.address.text().strip())
            except MgieError as exc:
                self.problem.setText(sentence(str(exc)))
                self.problem.show()
                return
        super().accept()


class EngineSettings:
    """Which engine edits: remembered, offered in the dialog, and handed to the EditRunner."""

    def __init__(self, settings: QSettings, runner: EditRunner, canvas: QWidget):
        self.settings, self.runner = settings, runner
        self.canvas = canvas  # the dialog opens over the photo

    @property
    def remote(self) -> bool:
        return self.settings.value(KIND_SETTING, "local") == "remote"

    @property
    def address(self) -> str:
        return str(self.settings.value(ADDRESS_SETTING, ""))

    def start(self) -> None:
        """At start-up: the engine chosen last time (a remote one needs aiohttp, else this computer's)."""
        if self.remote and self._remote_available():
            self.runner.use_engine(self._remote_engine(self.address, self._token()))
        else:
            self.runner.start_engine()

    def choose(self) -> None:
        dialog = EngineDialog(self.remote, self.address, self._token(), self.canvas)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply(
            dialog.remote_button.isChecked(), dialog.address.text().strip(), dialog.token.text().strip()
        )

    def apply(self, remote: bool, address: str = "", token: str = "") -> None:
        """Remember the choice and switch to it now."""
        if remote and not self._remote_available():
            return
        self.settings.setValue(KIND_SETTING, "remote" if remote else "local")
        if remote:
            self.settings.setValue(ADDRESS_SETTING, address)
            save_client_token(token)
            self.runner.use_engine(self._remote_engine(address, token))
        else:
            self.runner.use_engine(self.runner.local)

    def _remote_engine(self, address: str, token: str):
        RemoteEngine = load("mgie_desktop.ui.remote_engine", "RemoteEngine")

        return RemoteEngine(address, token or None, self.canvas)

    def _token(self) -> str:
        return saved_client_token()

    def _remote_available(self) -> bool:
        try:
            require_aiohttp()
        except InputError as exc:
            hint = str(exc)
            self.runner.panel.show_notice(f"{sentence(hint).removesuffix('.')}, then restart the app.")
            return False
        return True
