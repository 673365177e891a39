"""Choose among several renders of one instruction (one LLM pass, several seeds, or a guidance
sweep's grid).

Each variation is shown large, fitted to the window, with the canvas's zoom; a strip of
thumbnails (or Left/Right) moves between them; a sweep's thumbnails stand in its grid beside the
canvas, rows of text guidance across image guidance, each labelled with its values (Up/Down move
between rows). Holding ``\\`` shows the photo before the edit. Any number can be kept (Space
marks one): each becomes a branch from the step the edit started from."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QGridLayout,
    QHBoxLayout,
    QPushButton,
    QToolButton,
    QVBoxLayout,
)

from mgie_desktop.ui.canvas import Canvas
from mgie_desktop.ui.plain_text import plain_label

THUMB = 120
KEPT_STYLE = "QToolButton { border: 3px solid palette(highlight); border-radius: 4px; }"


class VariationsPicker(QDialog):
    chosen = Signal(list)  # the indices kept, the one on screen first

    def __init__(
        self,
        views: list,
        thumbs: list,
        seeds: list[int],
        instruction: str,
        before,
        parent=None,
        labels: list[str] | None = None,
        columns: int = 0,
    ):
        """``labels``: what each render is called (default: its seed); ``columns``: a sweep's,
        its renders in reading order (0: one strip)."""
        super().__init__(parent)
        self.sweep = columns > 0
        self.setWindowTitle(
            "Choose cells of the sweep to keep" if self.sweep else "Choose variations to keep"
        )
        self.setModal(False)
        self._views, self._before, self.seeds = views, before, seeds
        self.labels = labels or [f"seed {seed}" for seed in seeds]
        self.columns = columns or len(views)
        self.shown = 0
        self.marked: set[int] = set()
        self.comparing = False

        self.canvas = Canvas()
        self.caption = plain_label("")
        self.keep_box = QCheckBox("Keep this one (Space)")
        self.keep_box.toggled.connect(self._mark_shown)
        strip = QGridLayout()
        self.buttons: list[QToolButton] = []
        # The icon as wide as THUMB and as tall as the photo's shape: no band of blank above the label.
        icon = QSize(THUMB, THUMB)
        if thumbs and thumbs[0].width() > thumbs[0].height():
            icon.setHeight(max(1, round(THUMB * thumbs[0].height() / thumbs[0].width())))
        for i, (thumb, label) in enumerate(zip(thumbs, self.labels, strict=True)):
            button = QToolButton()
            button.setIcon(QIcon(QPixmap.fromImage(thumb)))
            button.setIconSize(icon)
            button.setText(label)
            button.setCheckable(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.clicked.connect(lambda _=False, index=i: self.show_variation(index))
            strip.addWidget(button, *divmod(i, self.columns))
            self.buttons.append(button)
        if self.sweep:  # every cell as wide as the widest label, ticked: the grid's columns line up
            metrics = self.fontMetrics()
            width = max(THUMB, *(metrics.horizontalAdvance(f"✓ {label}") for label in self.labels)) + 16
            for button in self.buttons:
                button.setFixedWidth(width)
        else:
            strip.setColumnStretch(self.columns, 1)
        self.keep_button = QPushButton()
        self.keep_button.setDefault(True)
        self.keep_button.clicked.connect(self.keep)
        discard = QPushButton("Discard all")
        discard.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        moves = "Arrow keys" if self.sweep else "←/→"
        what = (
            f"a guidance sweep of {len(views)} renders ({len(views) // self.columns} text × "
            f"{self.columns} image guidance)"
            if self.sweep
            else f"{len(seeds)} variations"
        )
        layout.addWidget(
            plain_label(
                f"“{instruction}”: {what}. {moves} to compare, hold \\ for the photo before, Space to "
                "mark, Enter to keep."
            )
        )
        if self.sweep:  # the grid beside the picture: the picture keeps the window's height
            view = QVBoxLayout()
            view.addWidget(self.canvas, 1)
            view.addWidget(self.caption)
            side = QVBoxLayout()
            side.addLayout(strip)
            side.addStretch(1)
            row = QHBoxLayout()
            row.addLayout(view, 1)
            row.addLayout(side)
            layout.addLayout(row, 1)
        else:
            layout.addWidget(self.canvas, 1)
            layout.addWidget(self.caption)
            layout.addLayout(strip)
        actions = QHBoxLayout()
        actions.addWidget(self.keep_box)
        actions.addStretch(1)
        actions.addWidget(discard)
        actions.addWidget(self.keep_button)
        layout.addLayout(actions)

        for key, slot in (
            ("Left", lambda: self.show_variation(self.shown - 1)),
            ("Right", lambda: self.show_variation(self.shown + 1)),
            ("Up", lambda: self.show_variation(self.shown - self.columns)),
            ("Down", lambda: self.show_variation(self.shown + self.columns)),
            ("Space", self.keep_box.toggle),
            ("Ctrl+0", self.canvas.fit),
            ("Ctrl+1", self.canvas.actual_size),
            ("Ctrl++", self.canvas.zoom_in),
            ("Ctrl+-", self.canvas.zoom_out),
        ):
            QShortcut(QKeySequence(key), self, slot)
        if self.sweep:  # the grid beside the picture needs room: most of the screen
            self.resize(self.screen().availableGeometry().size() * 0.85)
        elif parent is not None:
            self.resize(parent.size() * 0.85)
        self.show_variation(0)

    def show_variation(self, index: int) -> None:
        self.shown = index % len(self._views)
        self.canvas.show_image(self._views[self.shown], keep_view=True)
        for i, button in enumerate(self.buttons):
            button.setChecked(i == self.shown)
        self.keep_box.blockSignals(True)
        self.keep_box.setChecked(self.shown in self.marked)
        self.keep_box.blockSignals(False)
        self._update_text()

    def _mark_shown(self, keep: bool) -> None:
        (self.marked.add if keep else self.marked.discard)(self.shown)
        self._update_text()

    def _update_text(self) -> None:
        noun = "Cell" if self.sweep else "Variation"
        self.caption.setText(f"{noun} {self.shown + 1} of {len(self._views)} · {self.labels[self.shown]}")
        for i, button in enumerate(self.buttons):
            # A sweep's label is long already: its mark is the tick and the frame.
            mark = ("✓ " if self.sweep else "✓ keep · ") if i in self.marked else ""
            button.setText(f"{mark}{self.labels[i]}")
            # Marked ones framed, so which are kept shows at a glance, not only in the text.
            button.setStyleSheet(KEPT_STYLE if i in self.marked else "")
        count = len(self.marked)
        self.keep_button.setText(
            f"Keep {count} marked" if count > 1 else "Keep marked" if count else "Keep this one"
        )

    def kept(self) -> list[int]:
        """The marked variations (or the one on screen when none is), the one on screen first."""
        if not self.marked:
            return [self.shown]
        return sorted(self.marked, key=lambda i: (i != self.shown, i))

    def keep(self) -> None:
        self.chosen.emit(self.kept())
        self.accept()

    # ---- hold \ to see the photo before the edit --------------------------------------------
    def keyPressEvent(self, event):  # noqa: N802 (Qt override)
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            self.comparing = True
            self.canvas.show_image(self._before, keep_view=True)
        elif event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.keep()
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event):  # noqa: N802
        if event.key() == Qt.Key.Key_Backslash and not event.isAutoRepeat():
            self.comparing = False
            self.canvas.show_image(self._views[self.shown], keep_view=True)
        else:
            super().keyReleaseEvent(event)
