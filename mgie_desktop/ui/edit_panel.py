"""The right-hand panel: instruction box, the engine that edits, MGIE's reading of the
instruction, settings, apply/cancel."""

from __future__ import annotations

import random
from dataclasses import replace

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QKeyEvent, QKeySequence, QTextCursor, QTextOption
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mgie_desktop.core.params import (
    DEFAULT_PRESET,
    IMAGE_GUIDANCE,
    PIXEL_BUDGET,
    PRESETS,
    SCHEDULERS,
    SEED,
    STEPS,
    TEXT_GUIDANCE,
    VARIATIONS,
    EditParams,
)
from mgie_desktop.core.step_params import KLEIN_STEPS, StepKind
from mgie_desktop.core.sweep import Sweep, Varies, around
from mgie_desktop.ui.engine_choice import EngineChoice
from mgie_desktop.ui.expressive_box import ExpressiveBox
from mgie_desktop.ui.seed_box import SeedBox

VARIES_NAMES = {
    Varies.SEEDS: "Seeds",
    Varies.TEXT: "Text guidance",
    Varies.IMAGE: "Image guidance",
    Varies.BOTH: "Text × image",
}
VARIES_TIP = (
    "What the variations change: the seed, or the text and image guidance around the values "
    "set below (one reading of the instruction, a grid of renders to pick from)"
)
CUSTOM = "custom"  # the preset's name once a setting differs from every preset
# FLUX.2 [klein] is distilled: it takes its own few steps and no guidance whatever the boxes say.
KLEIN_SETTINGS = (
    f"FLUX.2 [klein] renders its own {KLEIN_STEPS} steps with no guidance: steps, text guidance "
    "and image guidance do not apply to it (they are kept for MGIE and InstructPix2Pix)."
)
KLEIN_VARIES = "FLUX.2 [klein] takes no guidance: its variations change the seed"
EXAMPLES = (
    "Describe the edit, e.g.\n“make the sky a sunset”\n“remove the people in the background”\n“more contrast”"
)


class InstructionBox(QPlainTextEdit):
    """Multi-line; Ctrl+Enter submits; Up/Down at the first/last line recall recent instructions.

    Right after an edit, Ctrl+Z belongs to the history, not to the typing: until the text is
    changed again the box lets the window's Undo/Redo shortcuts through."""

    submitted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setPlaceholderText(EXAMPLES)
        self.setTabChangesFocus(True)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.recent: list[str] = []
        self._recall = 0
        self.undo_goes_to_history = False
        self.textChanged.connect(self._typed)

    def mark_applied(self) -> None:
        """An edit of this text just landed: Ctrl+Z now undoes the edit."""
        self.undo_goes_to_history = True

    def _typed(self) -> None:
        self.undo_goes_to_history = False

    def event(self, event) -> bool:
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and self.undo_goes_to_history
            and (event.matches(QKeySequence.StandardKey.Undo) or event.matches(QKeySequence.StandardKey.Redo))
        ):
            event.ignore()  # not ours: the window's Undo/Redo action takes it
            return True
        return super().event(event)

    def remember(self, text: str) -> None:
        if text in self.recent:
            self.recent.remove(text)
        self.recent.append(text)
        self._recall = len(self.recent)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt override)
        key, mods = event.key(), event.modifiers()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and mods & Qt.KeyboardModifier.ControlModifier:
            self.submitted.emit()
            return
        cursor = self.textCursor()
        if key == Qt.Key.Key_Up and self.recent and cursor.blockNumber() == 0:
            self._show_recent(self._recall - 1)
            return
        if (
            key == Qt.Key.Key_Down
            and self.recent
            and cursor.blockNumber() == self.document().blockCount() - 1
        ):
            self._show_recent(self._recall + 1)
            return
        super().keyPressEvent(event)

    def _show_recent(self, index: int) -> None:
        self._recall = max(0, min(len(self.recent), index))
        self.setPlainText(self.recent[self._recall] if self._recall < len(self.recent) else "")
        self.moveCursor(QTextCursor.MoveOperation.End)


STRENGTH_TIP = "Blend the current edit with the image it started from (no new render; Ctrl+Z undoes it)"


class EditPanel(QWidget):
    apply_requested = Signal()
    rerender_requested = Signal()
    variations_requested = Signal()
    compare_requested = Signal()
    cancel_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.instruction = InstructionBox()
        self.instruction.setMaximumHeight(110)
        self.apply_button = QPushButton("Apply edit")
        self.apply_button.setDefault(True)
        self.apply_button.setToolTip("Apply the instruction to the current image (Ctrl+Enter)")
        self.rerender_button = QPushButton("Re-render")
        self.rerender_button.setToolTip(
            "Render the last instruction again with these settings (no second LLM pass)"
        )
        self.variations_button = QPushButton("Variations")
        self.variations_button.setToolTip("Render several seeds of the instruction at once and pick one")
        # Which engine edits, of those installed; Compare sets the second one beside it (EditJob.versus).
        self.engines = EngineChoice(self)
        self.compare_button = QPushButton("Compare with")
        self.settings_note = QLabel()  # why some settings are greyed for the chosen engine
        self.settings_note.setObjectName("settingsNote")
        self.settings_note.setWordWrap(True)
        italic = self.settings_note.font()
        italic.setItalic(True)
        self.settings_note.setFont(italic)
        self.settings_note.hide()
        self._varies_before_klein: Varies | None = None  # the person's choice while klein forces seeds
        self.variation_count = QSpinBox(
            minimum=max(2, int(VARIATIONS.low)), maximum=int(VARIATIONS.high), value=4
        )
        self.variation_count.setToolTip("How many variations")
        # What Variations changes: the seed, or the guidance on a grid about the values set below.
        self.varies = QComboBox()
        for varies, name in VARIES_NAMES.items():
            self.varies.addItem(name, varies)
        self.varies.setToolTip(VARIES_TIP)
        self.grid_size = QLabel()  # a sweep's shape, where the seed count would be
        self.grid_size.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.grid_size.hide()
        self.varies.currentIndexChanged.connect(self._show_varies)
        self.expressive = ExpressiveBox()
        self.meter = QLabel()  # how much of the instruction the model can read
        self.meter.setObjectName("meter")
        self.meter.setWordWrap(True)
        self.meter.hide()
        self.instruction_limit = None  # core.instruction.InstructionLimit, once the models are loaded
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setObjectName("notice")
        self.notice.hide()

        self.preset = QComboBox()
        self.preset.addItems([*PRESETS, CUSTOM])
        self.preset.setCurrentText(DEFAULT_PRESET)
        # every range is the core's (core.params), as for the CLI, recipes and the server
        self.steps = QSpinBox(minimum=int(STEPS.low), maximum=int(STEPS.high))
        self.seed = SeedBox()
        self.dice = QToolButton(text="⚄")
        self.dice.setToolTip("New random seed")
        self.random_seed = QCheckBox("New seed each edit")
        self.text_guidance = QDoubleSpinBox(
            minimum=TEXT_GUIDANCE.low, maximum=TEXT_GUIDANCE.high, singleStep=0.5, decimals=1
        )
        self.image_guidance = QDoubleSpinBox(
            minimum=IMAGE_GUIDANCE.low, maximum=IMAGE_GUIDANCE.high, singleStep=0.05, decimals=2
        )
        self.image_guidance.setToolTip(
            "How closely the result keeps the photo (1.0 = loosest; the reference uses 1.5)"
        )
        self.export_quality = QSpinBox(minimum=50, maximum=100, value=95)
        self.export_quality.setToolTip("JPEG and WebP export quality (PNG and TIFF are lossless)")

        # How much of the current edit shows over its source (live; no render).
        self.strength = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=100)
        self.strength.setToolTip(STRENGTH_TIP)
        self.strength_label = QLabel("Strength 100 %")
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText(f"Strength {v} %"))
        # Shown while cropping.
        self.crop_bar = QWidget()
        self.crop_ratio = QComboBox()
        self.crop_apply = QPushButton("Crop")
        self.crop_apply.setToolTip("Crop to the rectangle (Enter)")
        self.crop_cancel = QPushButton("Cancel")
        self.crop_cancel.setToolTip("Leave the photo as it is (Esc)")
        crop_row = QHBoxLayout(self.crop_bar)
        crop_row.setContentsMargins(0, 0, 0, 0)
        crop_row.addWidget(QLabel("Ratio"))
        crop_row.addWidget(self.crop_ratio, 1)
        crop_row.addWidget(self.crop_apply)
        crop_row.addWidget(self.crop_cancel)
        self.crop_bar.hide()

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.hide()
        # What is under way, in words that wrap; the bar itself says only how far (it cannot wrap).
        self.progress_text = QLabel()
        self.progress_text.setWordWrap(True)
        self.progress_text.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running edit (Esc)")
        self.cancel_button.hide()

        self._layout()
        # The settings FLUX.2 [klein] does not take, with their own tooltips (klein's replaces them).
        self._own_tips = [
            (box, box.toolTip()) for box in (self.steps, self.text_guidance, self.image_guidance)
        ]
        self._base = PRESETS[DEFAULT_PRESET]  # what the controls do not show (scheduler, pixel budget)
        self._load_preset(DEFAULT_PRESET)
        self.preset.currentTextChanged.connect(self._load_preset)
        for box in (self.steps, self.text_guidance, self.image_guidance):
            box.valueChanged.connect(self._name_preset)
        for box in (self.text_guidance, self.image_guidance):  # the grid's values follow them
            box.valueChanged.connect(self._show_varies)
        self.instruction.textChanged.connect(self.update_meter)
        self.dice.clicked.connect(self.roll_seed)
        self.apply_button.clicked.connect(self.apply_requested)
        self.instruction.submitted.connect(self.apply_requested)
        self.rerender_button.clicked.connect(self.rerender_requested)
        self.expressive.edited_changed.connect(self._name_rerender)
        self.variations_button.clicked.connect(self.variations_requested)
        self.compare_button.clicked.connect(self.compare_requested)
        self.engines.changed.connect(self._follow_engine)
        self.engines.versus_changed.connect(
            lambda: self.compare_button.setToolTip(self.engines.compare_tip())
        )
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.show_strength(100, adjustable=False)  # until an edit is the current step
        self.busy = False
        self.can_rerender = False  # the window says: is there a step (not the original) to render again?
        self.set_busy(False)
        self.compare_button.setToolTip(self.engines.compare_tip())
        self._follow_engine()

    def _layout(self) -> None:
        outer = QVBoxLayout(self)
        outer.addWidget(QLabel("<b>Instruction</b>"))
        outer.addWidget(self.instruction)
        outer.addWidget(self.meter)
        engine_row = QHBoxLayout()
        engine_label = QLabel("Engine")
        engine_label.setBuddy(self.engines.engine_box)
        engine_row.addWidget(engine_label)
        engine_row.addWidget(self.engines.engine_box, 1)
        outer.addLayout(engine_row)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button, 2)
        buttons.addWidget(self.rerender_button, 1)
        outer.addLayout(buttons)
        more = QHBoxLayout()
        more.addWidget(self.variations_button, 2)
        more.addWidget(self.varies, 2)
        more.addWidget(self.variation_count, 1)
        more.addWidget(self.grid_size, 1)
        outer.addLayout(more)
        compare = QHBoxLayout()
        compare.addWidget(self.compare_button, 2)
        compare.addWidget(self.engines.versus_box, 3)
        outer.addLayout(compare)
        outer.addWidget(self.notice)
        outer.addWidget(self.progress_text)
        outer.addWidget(self.progress)
        outer.addWidget(self.cancel_button)
        outer.addWidget(self.crop_bar)
        understood = QGroupBox("Expressive instruction")
        box = QVBoxLayout(understood)
        box.addWidget(self.expressive)
        strength_row = QHBoxLayout()
        strength_row.addWidget(self.strength_label)
        strength_row.addWidget(self.strength, 1)
        box.addLayout(strength_row)
        outer.addWidget(understood)
        settings = QGroupBox("Settings")
        form = self._form = QFormLayout(settings)
        form.addRow(self.settings_note)
        form.addRow("Preset", self.preset)
        form.addRow("Steps", self.steps)
        seed_row = QHBoxLayout()
        seed_row.addWidget(self.seed, 1)
        seed_row.addWidget(self.dice)
        form.addRow("Seed", seed_row)
        form.addRow("", self.random_seed)
        form.addRow("Text guidance", self.text_guidance)
        form.addRow("Image guidance", self.image_guidance)
        outer.addWidget(settings)
        export = QGroupBox("Export")
        QFormLayout(export).addRow("JPEG/WebP quality", self.export_quality)
        outer.addWidget(export)
        outer.addStretch(1)

    def _load_preset(self, name: str) -> None:
        if name == CUSTOM:  # chosen by hand: keep the settings as they are
            return
        self._show_params(PRESETS[name])

    def _show_params(self, p: EditParams) -> None:
        self._base = p
        for box, value in (
            (self.steps, p.steps),
            (self.seed, p.seed),
            (self.text_guidance, p.text_guidance),
            (self.image_guidance, p.image_guidance),
        ):
            box.blockSignals(True)
            try:
                box.setValue(value)
            finally:
                box.blockSignals(False)
        self._name_preset()
        self._show_varies()  # the grid follows the guidance shown

    def load_params(self, params: EditParams) -> None:
        """Show a history step's settings (its seed, steps, guidance and sampler). One the window no
        longer offers (a session from an older version, or a damaged one) becomes the nearest it
        does: each number into its range (Qt's boxes take 32 bits), an unknown sampler the one shown."""
        scheduler = params.scheduler if params.scheduler in SCHEDULERS else self._base.scheduler
        self._show_params(
            replace(
                params,
                scheduler=scheduler,
                pixel_budget=int(PIXEL_BUDGET.nearest(params.pixel_budget)),
                steps=int(STEPS.nearest(params.steps)),
                seed=int(SEED.nearest(params.seed)),
                text_guidance=TEXT_GUIDANCE.nearest(params.text_guidance),
                image_guidance=IMAGE_GUIDANCE.nearest(params.image_guidance),
            )
        )

    def _name_preset(self) -> None:
        """The preset whose settings these are, or "custom" (the seed belongs to no preset)."""
        current = self.params()
        name = next((n for n, p in PRESETS.items() if replace(p, seed=current.seed) == current), CUSTOM)
        self.preset.blockSignals(True)
        self.preset.setCurrentText(name)
        self.preset.blockSignals(False)

    def varies_choice(self) -> Varies:
        varies = self.varies.currentData()
        assert isinstance(varies, Varies), "the items hold Varies members"
        return varies

    def choose_varies(self, varies: Varies) -> None:
        self.varies.setCurrentIndex(self.varies.findData(varies))

    def sweep(self) -> Sweep | None:
        """The guidance grid Variations renders, about the settings shown; None for seeds (always
        for FLUX.2 [klein], which takes no guidance)."""
        varies = self.varies_choice()
        if varies is Varies.SEEDS or self.engines.engine() == StepKind.KLEIN.value:
            return None
        return around(self.params(), varies)

    def _show_varies(self) -> None:
        sweep = self.sweep()
        self.variation_count.setVisible(sweep is None)
        self.grid_size.setVisible(sweep is not None)
        if sweep is not None:
            self.grid_size.setText(f"{sweep.rows} × {sweep.columns}")
            self.grid_size.setToolTip(
                "Text guidance "
                + ", ".join(f"{t:g}" for t in sweep.text or (self.params().text_guidance,))
                + " by image guidance "
                + ", ".join(f"{i:g}" for i in sweep.image or (self.params().image_guidance,))
            )
        self.variations_button.setToolTip(
            "Render several seeds of the instruction at once and pick one"
            if sweep is None
            else "Render the instruction on a grid of guidance values (one reading of it) and pick one"
        )

    def _follow_engine(self) -> None:
        """The settings the chosen engine does not take are greyed, and the panel says why."""
        engine = self.engines.engine()
        klein = engine == StepKind.KLEIN.value
        for box, tip in self._own_tips:
            for widget in (box, self._form.labelForField(box)):
                widget.setEnabled(not klein)
                widget.setToolTip(KLEIN_SETTINGS if klein else tip)
        self.settings_note.setText(KLEIN_SETTINGS if klein else "")
        self.settings_note.setVisible(klein)
        if klein and self._varies_before_klein is None:
            self._varies_before_klein = self.varies_choice()
            self.choose_varies(Varies.SEEDS)
        elif not klein and self._varies_before_klein is not None:
            self.choose_varies(self._varies_before_klein)
            self._varies_before_klein = None
        self.varies.setEnabled(not klein)
        self.varies.setToolTip(KLEIN_VARIES if klein else VARIES_TIP)
        self.expressive.show_engine(engine)
        self.update_meter()

    def roll_seed(self) -> None:
        self.seed.setValue(random.randint(int(SEED.low), int(SEED.high)))

    def params(self) -> EditParams:
        """What the controls show, whatever the preset is called."""
        return replace(
            self._base,
            steps=self.steps.value(),
            seed=self.seed.value(),
            text_guidance=round(self.text_guidance.value(), 2),
            image_guidance=round(self.image_guidance.value(), 2),
        ).validated()

    # ---- how much of the instruction the model reads ------------------------------------------
    def set_instruction_limit(self, limit) -> None:
        self.instruction_limit = limit
        self.update_meter()

    def update_meter(self) -> None:
        """How much of the instruction MGIE's LLM reads (the other engines read the words themselves)."""
        limit, text = self.instruction_limit, self.instruction.toPlainText()
        mgie = self.engines.engine() == StepKind.MGIE.value
        verdict = limit.verdict(text) if limit is not None and text.strip() and mgie else None
        self.meter.setVisible(verdict is not None and verdict.level != "ok")
        if verdict is not None:
            self.meter.setText(verdict.message)

    def show_strength(self, percent: int, adjustable: bool, why_not: str = "") -> None:
        """The step's strength; a greyed slider says why in its tooltip (``why_not``)."""
        self.strength.blockSignals(True)
        self.strength.setValue(percent)
        self.strength.blockSignals(False)
        self.strength_label.setText(f"Strength {percent} %")
        self.strength.setEnabled(adjustable)
        self.strength_label.setEnabled(adjustable)
        tip = STRENGTH_TIP if adjustable else why_not
        self.strength.setToolTip(tip)
        self.strength_label.setToolTip(tip)

    def _name_rerender(self, edited: bool) -> None:
        """With an edited expressive instruction, Re-render follows the person's text."""
        self.rerender_button.setText("Re-render with this text" if edited else "Re-render")
        self.rerender_button.setToolTip(
            "Render this step again, driven by your expressive instruction instead of MGIE's"
            if edited
            else "Render the last instruction again with these settings (no second LLM pass)"
        )

    def add_tool(self, widget) -> None:
        """A tool's controls (the mask brush's), under the crop bar."""
        layout = self.layout()
        layout.insertWidget(layout.indexOf(self.crop_bar) + 1, widget)

    def show_step(self, step) -> None:
        """The current step: its words, and for an edit the engine and settings it was made with,
        so that Re-render repeats them (after keeping a variation, its seed). A step of an engine
        not installed here leaves the engine chosen as it is."""
        self.show_step_text(step)
        if step is not None and step.is_render:
            self.engines.choose(step.kind.value)
        if step is not None and step.params.render is not None:
            render = step.params.render
            if step.kind is StepKind.KLEIN:  # its own steps, no guidance: the boxes keep the others'
                shown = self.params()
                render = replace(
                    render,
                    steps=shown.steps,
                    text_guidance=shown.text_guidance,
                    image_guidance=shown.image_guidance,
                )
            self.load_params(render)

    def show_step_text(self, step) -> None:
        """A history step's expressive instruction (MGIE's, and the person's if they steered it);
        editable on steps that can be rendered again."""
        if step is None:
            self.expressive.show_step("", editable=False)
        elif step.kind in (StepKind.IP2P, StepKind.KLEIN):  # no expressive instruction: say why
            self.expressive.show_step("", editable=False, engine=step.kind.value)
        else:
            steerable = step.kind is StepKind.MGIE
            self.expressive.show_step(
                step.expressive_instruction, step.steered_instruction, editable=steerable
            )

    def allow_rerender(self, allowed: bool) -> None:
        self.can_rerender = allowed
        self.rerender_button.setEnabled(allowed and not self.busy)

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        buttons = (self.apply_button, self.variations_button, self.compare_button, self.rerender_button)
        if busy and any(b.hasFocus() for b in buttons):
            # A disabled button hands its focus to the next widget (the variation count, where a
            # key would change it): the instruction box takes it instead, ready for the next words.
            self.instruction.setFocus()
        self.apply_button.setEnabled(not busy)
        self.variations_button.setEnabled(not busy)
        self.compare_button.setEnabled(not busy)
        self.rerender_button.setEnabled(self.can_rerender and not busy)
        if busy:  # the window gives it back with the next step it shows
            self.strength.setEnabled(False)
        self.progress.setVisible(busy)
        self.progress_text.setVisible(busy)
        self.cancel_button.setVisible(busy)
        if busy:
            self.progress.setRange(0, 0)  # busy until the first step reports
            self.progress_text.setText("Reading the photo and the instruction…")

    def show_loading(self, part: str, done: int, total: int) -> None:
        """The models loading: which part, how far (busy until the first part reports); Cancel
        stops it. Apply stays usable: an edit asked for now waits for the models."""
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress_text.setText(
            f"Loading the models: {part}…" if part and total else "Loading the models…"
        )
        self.progress.setFormat(f"{done + 1}/{total}" if part and total else "")
        self.progress_text.show()
        self.progress.show()
        self.cancel_button.show()
        self.cancel_button.setToolTip("Stop loading the models (after the part being read)")

    def hide_loading(self) -> None:
        if not self.busy:
            self.progress.hide()
            self.progress_text.hide()
            self.cancel_button.hide()
        self.cancel_button.setToolTip("Stop the running edit (Esc)")

    def show_progress(self, step: int, total: int, seconds_left: float) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(step)
        self.progress_text.setText("Rendering the edit…")
        self.progress.setFormat(f"Step {step}/{total} · {seconds_left:.0f} s left")

    def withdraw_notice(self, text: str) -> None:
        """Take ``text`` away if it is still the notice shown (not one that replaced it since)."""
        if text and self.notice.text() == text:
            self.show_notice("")

    def show_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))
