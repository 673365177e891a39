"""Edits on the engine: the jobs sent to it, and its answers.

The engine is anything with the ``ui.engines.EngineClient`` interface: this computer's (a worker
made when ``start_engine`` first runs, a moment after the window is shown, loading torch on its
own thread, so start-up never waits for it) or a server's (``ui.remote_engine``). Every answer
lands on a @Slot method of this object, on the GUI thread. Each job carries the id of the
document it was made for: an answer that arrives after another photo was opened is dropped.

It works on the document model (``ui.document_model``) and its own widgets: the edit panel, the
canvas and the mask brush; what the status bar shows it says through signals."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal, Slot

from mgie_desktop.core.deferred import load
from mgie_desktop.core.display_text import display_text, sentence
from mgie_desktop.core.errors import InputError
from mgie_desktop.core.jobs import EditJob
from mgie_desktop.core.params import SEED, TEXT_GUIDANCE
from mgie_desktop.core.step_params import ENGINE_NAMES, StepKind, StepParams
from mgie_desktop.core.sweep import Sweep, cell_label
from mgie_desktop.store.manifest import download_size_text
from mgie_desktop.ui.document_model import DocumentModel, NewStep
from mgie_desktop.ui.engine_state import KLEIN_FIRST_LOAD, EngineState
from mgie_desktop.ui.engines import EngineClient, LocalEngine
from mgie_desktop.ui.images import to_qimage
from mgie_desktop.ui.worker import EditDone

VARIATIONS_TO_TRY = 4  # offered when an edit did nothing: one LLM pass, four seeds
MODEL_LABEL_REASON = 60  # characters of a load failure's reason in the status bar (all of it in the tooltip)

if TYPE_CHECKING:
    from mgie_desktop.ui.canvas import Canvas
    from mgie_desktop.ui.edit_panel import EditPanel
    from mgie_desktop.ui.mask_brush import MaskBrush


class EditRunner(QObject):
    submit_job = Signal(object)  # every job as it goes to the engine (tests and logs watch it)
    engine_label = Signal(str, str)  # what the status bar says of the models: text, tooltip
    gpu_label = Signal(str)  # the engine's memory report
    edit_ended = Signal()  # an edit ended without a result: the canvas goes back to the current step

    def __init__(
        self,
        document: DocumentModel,
        panel: EditPanel,
        canvas: Canvas,
        mask_brush: MaskBrush,
        models_dir: Path,
        device: str,
        engine_options: dict,
    ):
        super().__init__(canvas)  # lives as long as the canvas the pickers open over
        self.document, self.panel, self.canvas, self.mask_brush = document, panel, canvas, mask_brush
        self.models_dir = models_dir
        self.model_state = EngineState.NOT_LOADED
        self._lent = False  # this computer's models are lent to a watched folder's own process
        self._job_ids = itertools.count(1)
        self.variations_picker = None
        self._models_notice = ""  # the panel's notice about the models, while it is shown
        self._did_nothing: int | None = None  # the step whose edit barely changed the photo, while offered
        self._did_nothing_notice_shown = ""
        self._missing_engine_notice = ""  # the panel's notice that the current step's engine is not here
        document.current_changed.connect(self._follow_step)
        self.local = LocalEngine(device, engine_options, self)
        self.engine: EngineClient = self.local
        self._heard: EngineClient | None = None  # the engine whose signals reach us (connected at its start)

    # ---- the engine -------------------------------------------------------------------------
    @property
    def worker(self):
        """The local engine's worker (None until it first loads)."""
        return self.local.worker

    @property
    def engine_thread(self):
        return self.local.thread

    def _answers(self, engine: EngineClient) -> list:
        """Each of the engine's signals and the slot that hears it."""
        return [
            (engine.state_changed, self.on_model_state),
            (engine.load_progress, self.on_load_progress),
            (engine.memory_report, self.gpu_label),
            (engine.progress, self.on_progress),
            (engine.preview, self.on_preview),
            (engine.edit_finished, self.on_edit_finished),
            (engine.edit_failed, self.on_edit_failed),
            (engine.edit_cancelled, self.on_edit_cancelled),
            (engine.instruction_limit, self.panel.set_instruction_limit),
            (engine.notice, self.on_engine_notice),
        ]

    def _listen_to(self, engine: EngineClient) -> None:
        if self._heard is not None:  # an answer still on its way from the old one is not ours any more
            for signal, slot in self._answers(self._heard):
                signal.disconnect(slot)
        for signal, slot in self._answers(engine):
            signal.connect(slot)
        self._heard = engine

    def start_engine(self) -> None:
        """Have the engine load the models (or reach its server); this computer's wait while they
        are lent to a watched folder (``resume_engine`` loads them)."""
        if self._lent and self.engine is self.local:
            self.model_state = EngineState.NOT_LOADED  # let the paused state be said again
            self.on_model_state(EngineState.PAUSED, "")
            return
        if self._heard is not self.engine:
            self._listen_to(self.engine)
        self.engine.load(Path(self.models_dir))

    def use_engine(self, engine: EngineClient) -> None:
        """Edit with ``engine`` from now on (this computer's, or a server's). An edit running on
        the old one is cancelled; the photo and its history stay as they are."""
        old = self.engine
        if engine is old:
            return
        queued = self.document.queued  # asked for while loading: it runs on the new engine once that is ready
        self.forget_edits()
        if queued is not None:
            self.document.queue(queued)
        old.release()
        if old is not self.local:
            old.deleteLater()
        self.engine = engine
        self._listen_to(engine)
        self.panel.set_instruction_limit(None)  # the new engine's tokenizer says, once it is ready
        self.gpu_label.emit("")
        self.model_state = EngineState.STARTING
        self.start_engine()

    @Slot(str)
    def on_engine_notice(self, text: str) -> None:
        self.document.status.emit(text, 0 if "retrying" in text or "ahead" in text else 5000)

    @Slot(str, str)
    def on_model_state(self, told: str, detail: str) -> None:
        if self.model_state is EngineState.PAUSED and told != EngineState.PAUSED:
            return  # the models are lent to a watched folder: what the released engine still says is past
        self.model_state = state = EngineState(told)  # what the engine said, checked once where it enters
        self._offer_engines()
        shown = {
            EngineState.READY: f"Model: ready ({detail})",
            EngineState.BUSY: f"Model: {detail}" if detail == KLEIN_FIRST_LOAD else "Model: busy",
            EngineState.LOADING: "Model: loading…",
            EngineState.NOT_INSTALLED: "Model: not installed",
            EngineState.ERROR: f"Model: failed to load ({display_text(detail, width=MODEL_LABEL_REASON)})",
            EngineState.CANCELLED: "Model: not loaded",
            EngineState.PAUSED: "Model: lent to the watched folder",
        }[state]
        self.engine_label.emit(shown, detail)
        panel = self.panel
        if state is EngineState.LOADING:
            panel.show_loading("", 0, 0)
        elif state is not EngineState.BUSY:
            panel.hide_loading()
        if state.failed:
            self.document.take_queued()
            self._models_notice = self.models_notice(detail)
            panel.show_notice(self._models_notice)
            return
        panel.withdraw_notice(self._models_notice)  # it recovered: the notice goes
        self._models_notice = ""
        if state is EngineState.READY and (queued := self.document.take_queued()) is not None:
            self._submit(queued)

    def _offer_engines(self) -> None:
        """The edit panel offers the engines installed where the edits run (a few kB of JSON here,
        the server's word for a remote engine; MGIE alone while no models folder is known)."""
        models, engines = self.models_dir, self.panel.engines
        before = engines.offered
        engines.offer(["mgie"] if models is None else self.engine.engines(Path(models)))
        if engines.offered != before:  # the current step's engine may be here now, or gone
            history = self.document.history
            step = history.current if history is not None else None
            if step is not None and step.is_render:
                engines.choose(step.kind.value)
            self._say_if_engine_missing(step)

    def _say_if_engine_missing(self, step) -> None:
        """A step made by an engine not installed where the edits run: the panel says so (its
        engine stays as chosen, and Re-render renders with that one)."""
        self.panel.withdraw_notice(self._missing_engine_notice)
        self._missing_engine_notice = ""
        if step is None or not step.is_render or step.kind.value in self.panel.engines.offered:
            return
        link = {StepKind.KLEIN: "#klein", StepKind.IP2P: "#ip2p"}.get(step.kind)
        self._missing_engine_notice = (
            f"{ENGINE_NAMES[step.kind.value]} made this step and is not installed here: Re-render "
            "renders it with the engine chosen above."
            + (f' <a href="{link}">Download {ENGINE_NAMES[step.kind.value]}…</a>' if link else "")
        )
        self.panel.show_notice(self._missing_engine_notice)

    @Slot(str, int, int)
    def on_load_progress(self, part: str, done: int, total: int) -> None:
        if self.model_state is EngineState.LOADING and not self.engine.load_cancelled():
            self.panel.show_loading(part, done, total)

    def cancel_load(self) -> None:
        """The user stops loading the models (after the part being read); a queued edit goes too."""
        if self.model_state.coming:
            self.engine.cancel_load()
            self.document.take_queued()
            self.panel.progress.setFormat("Cancelling…")

    def models_notice(self, detail: str = "") -> str:
        if self.model_state.coming or self.model_state is EngineState.BUSY:
            return "The model is still loading; try again in a moment."
        reason = f": {detail.strip().removesuffix('.')}." if detail.strip() else "."
        if self.model_state is EngineState.ERROR and self.engine is not self.local:
            return f'The engine at {self.engine.where} is not available{reason} <a href="#engine">Engine…</a>'
        if self.model_state is EngineState.ERROR:
            return f'The models could not be loaded{reason} <a href="#models">Check the models…</a>'
        if self.model_state is EngineState.CANCELLED:
            return 'Loading the models was cancelled. <a href="#load">Load them</a>'
        if self.model_state is EngineState.PAUSED:
            return (
                "The models are editing a watched folder (File › Watch Folder…); editing here "
                "resumes when it stops watching."
            )
        # One sentence of what to do; the inventory's own wording (the same advice) stays in the tooltip.
        size = download_size_text()
        return (
            f'No MGIE models are installed yet. <a href="#models">Download the models…</a> ({size}), '
            "or run <code>mgie-desktop models download</code>, or import the reference's files with "
            "<code>mgie-desktop models import</code>."
        )

    def pause_engine(self) -> None:
        """This computer's models go while a watched folder's own process uses them (two copies
        would not fit): a running edit is cancelled, one asked for meanwhile is told why."""
        self._lent = True  # whichever engine edits now: this computer's must not load meanwhile
        if self.engine is not self.local:
            return  # a server's models hold no memory here
        if self.document.running is not None:
            self.cancel_edit()
        self.document.take_queued()
        self.local.release()
        self.on_model_state(EngineState.PAUSED, "")

    def resume_engine(self) -> None:
        """The watch stopped: this computer's models load again, if they edit."""
        self._lent = False
        if self.engine is self.local and self.model_state is EngineState.PAUSED:
            self.model_state = EngineState.STARTING
            self.start_engine()

    def stop(self) -> None:
        """Closing: a running edit stops within one step, a load after the part it is reading."""
        if self.engine is not self.local:
            self.engine.release()
        self.local.stop()

    def join(self) -> None:
        self.local.join()

    # ---- sending edits ----------------------------------------------------------------------
    @Slot()
    def variations(self) -> None:
        """Alternatives: of the current step (siblings from its parent) when the instruction box
        holds its instruction or nothing; of a new instruction, from the current step."""
        history, panel = self.document.history, self.panel
        text = panel.instruction.toPlainText().strip()
        current = history.current if history is not None else None
        sweep = panel.sweep()  # guidance on a grid, or None: seeds
        count = 1 if sweep is not None else panel.variation_count.value()
        if current is not None and current.is_render and text in ("", current.instruction):
            self._rerender_step(current, variations=count, sweep=sweep)
        else:
            self._new_edit(variations=count, sweep=sweep)

    # No parameters: a menu action's triggered(checked) must not become a variation count.
    @Slot()
    def apply_edit(self) -> None:
        self._new_edit(variations=1)

    @Slot()
    def compare_engines(self) -> None:
        """The engine chosen and the second one (the panel's Compare with) on the same instruction
        and seed, to choose from: of the current step (from its parent) when the box holds its
        instruction or nothing, else of the new instruction from the current step."""
        history, panel = self.document.history, self.panel
        self._offer_engines()  # installed since the engine said (the model manager)?
        if history is not None and panel.engines.versus() is None:
            panel.show_notice(
                "Comparing needs a second engine, an optional download: FLUX.2 [klein] (about 16 GB, "
                '<a href="#klein">Download it…</a>) or InstructPix2Pix\'s own model (about 3.9 GB, '
                '<a href="#ip2p">Download it…</a>). Or run <code>mgie-desktop models download --with '
                "klein</code> (or <code>--with ip2p</code>)."
            )
            return
        text = panel.instruction.toPlainText().strip()
        current = history.current if history is not None else None
        if current is not None and current.is_render and text in ("", current.instruction):
            self._rerender_step(current, variations=1, compare=True)
        else:
            self._new_edit(variations=1, compare=True)

    def _engines(self, compare: bool) -> dict:
        """The job's engine (``model``) and, comparing, its second one (``versus``): the panel's.
        A pair with MGIE puts MGIE first: a job's result carries MGIE's expressive instruction
        only when MGIE is its ``model`` (engine.jobs.run_job)."""
        model, versus = self.panel.engines.engine(), self.panel.engines.versus()
        if not compare or versus is None:
            return {"model": model}
        if versus == StepKind.MGIE.value:
            model, versus = versus, model
        return {"model": model, "compare": True, "versus": versus}

    def _ready_for(self, text: str, engines: dict) -> bool:
        """Can an edit of ``text`` by ``engines`` be sent now? If not, the panel says why. (The
        instruction's length limit is MGIE's LLM's: the other engines read the words themselves.)"""
        panel = self.panel
        if self.document.history is None:
            panel.show_notice("Open a photo first (File › Open, or drop one here).")
        elif not text:
            panel.show_notice("Type what the edit should do, then press Ctrl+Enter.")
        elif not (
            self.model_state is EngineState.READY or self.model_state.coming
        ):  # loading: the edit waits
            panel.show_notice(self.models_notice())
        elif problem := (
            panel.instruction_limit.refusal(text)
            if panel.instruction_limit and StepKind.MGIE.value in (engines["model"], engines.get("versus"))
            else ""
        ):
            panel.show_notice(problem)
        else:
            return True
        return False

    def _new_edit(self, variations: int, compare: bool = False, sweep: Sweep | None = None) -> None:
        document, panel = self.document, self.panel
        text = panel.instruction.toPlainText().strip()
        engines = self._engines(compare)
        if not self._ready_for(text, engines):
            return
        if panel.random_seed.isChecked():
            panel.roll_seed()
        panel.instruction.remember(text)
        mask = self.mask_brush.mask_image()  # painted: the edit applies inside it only
        self._dispatch(
            EditJob(
                next(self._job_ids),
                document.document_id,
                document.history.current.id,
                document.history.image(),
                text,
                panel.params(),
                variations=variations,
                mask=mask,
                sweep=sweep,
                **engines,
            )
        )

    @Slot()
    def rerender(self) -> None:
        """Render the current step again from its parent with the panel's settings: a sibling.
        The LLM half is reused when the engine still holds it, and recomputed when not (a step
        of a reopened session)."""
        history = self.document.history
        if history is not None and history.current.is_render:
            self._rerender_step(history.current, variations=1)

    def _rerender_step(
        self, step, variations: int, compare: bool = False, sweep: Sweep | None = None
    ) -> None:
        """Again from the step's parent, with the engine the panel shows (the step's own, which
        the panel chose when the step became current, unless the person chose another since).
        MGIE is steered by the expressive box's text when the person edited it, else by the step's
        own steered text (if any), else it writes the expressive instruction again."""
        document, panel = self.document, self.panel
        engines = self._engines(compare)
        if not self._ready_for(step.instruction, engines):
            return
        if panel.random_seed.isChecked():
            panel.roll_seed()
        mgie = StepKind.MGIE.value
        # A steered text is MGIE's to follow: another engine reads the instruction itself.
        expressive = (
            (panel.expressive.edited() or step.steered_instruction)
            if mgie
            in (
                engines["model"],
                engines.get("versus"),
            )
            else ""
        )
        try:  # the step's own mask: re-renders keep to the region the edit was made in
            mask = load("mgie_desktop.core.masks", "mask_from_text")(step.mask) if step.mask else None
        except InputError as exc:  # a damaged session
            panel.show_notice(sentence(str(exc)))
            return
        params = panel.params()
        made = step.params.render
        if variations > 1 and made is not None and params.seed == made.seed:  # the step is that seed already:
            params = replace(params, seed=(params.seed + 1) % (SEED.high + 1))  # each variation a new one
        self._dispatch(
            EditJob(
                next(self._job_ids),
                document.document_id,
                step.parent,
                document.history.image(step.parent),
                step.instruction,
                params,
                rerender=True,
                variations=variations,
                expressive=expressive,
                mgie_text=step.expressive_instruction if expressive else "",
                mask=mask,
                sweep=sweep,
                **engines,
            )
        )

    def _dispatch(self, job: EditJob) -> None:
        """To the engine now, or, while the models load, as soon as they are ready."""
        if self.model_state is EngineState.READY:
            self._submit(job)
            return
        self.document.queue(job)
        self.panel.show_notice(f"Queued: “{job.instruction}” starts by itself once the models are loaded.")

    def _submit(self, job: EditJob) -> None:
        if not self.document.start(job):
            return
        self.panel.show_notice("")
        self.submit_job.emit(job)
        self.engine.submit(job)

    @Slot()
    def cancel_edit(self) -> None:
        """Cancel: the running edit, else a load (and the edit waiting for it)."""
        if self.document.running is not None:
            self.engine.cancel()
            self.panel.progress.setFormat("Cancelling…")
        elif self.model_state.coming:
            self.cancel_load()

    def forget_edits(self) -> None:
        """A new document: a running or queued edit and its variations belong to the old one."""
        if self.document.forget_jobs() is not None:
            self.engine.cancel()
            self.canvas.clear_preview()
        picker = self.variations_picker
        if picker is not None and picker.isVisible():
            picker.reject()

    # ---- answers from the engine thread -----------------------------------------------------
    @Slot(int, int, int, float)
    def on_progress(self, job_id: int, step: int, total: int, seconds_left: float) -> None:
        if self.document.is_running(job_id):
            self.panel.show_progress(step, total, seconds_left)

    @Slot(int, object)
    def on_preview(self, job_id: int, image) -> None:
        if self.document.is_running(job_id):
            self.canvas.show_preview(image)

    @Slot(object)
    def on_edit_finished(self, done: EditDone) -> None:
        document, job = self.document, done.job
        if not document.is_open(job.document):  # finished after another photo was opened
            document.status.emit("An edit of the previous photo finished and was discarded", 5000)
            return
        document.finish()
        self.canvas.clear_preview()
        seconds = done.timings.get("total_s", 0)
        if job.compare:
            first, second = (ENGINE_NAMES[m] for m in done.models[:2])
            document.status.emit(f"{first} and {second} rendered in {seconds:.1f} s", 10000)
            self._pick_ab(done)
            return
        if len(done.images) > 1:
            what = "cells of the guidance sweep" if job.sweep is not None else "variations"
            document.status.emit(f"{len(done.images)} {what} rendered in {seconds:.1f} s", 10000)
            self._pick_variation(done)
            return
        self._keep(done, [0])
        document.status.emit(f"Edit done in {seconds:.1f} s", 5000)
        if done.unchanged and done.unchanged[0]:
            current = self.document.history.current
            self._did_nothing = current.id
            self._did_nothing_notice_shown = self._did_nothing_notice(current.kind)
            self.panel.show_notice(self._did_nothing_notice_shown)

    def _did_nothing_notice(self, kind: StepKind) -> str:
        # FLUX.2 [klein] takes no guidance: only other seeds are offered for it.
        stronger = None if kind is StepKind.KLEIN else self._stronger_guidance()
        return (
            f"The edit barely changed the photo: {ENGINE_NAMES[kind.value]} sometimes leaves an "
            "instruction unapplied. Try "
            f'<a href="#variations">{VARIATIONS_TO_TRY} variations</a>'
            + (
                f' or <a href="#stronger">a stronger text guidance ({self.panel.params().text_guidance:g} → '
                f"{stronger:g})</a>."
                if stronger
                else "."
            )
        )

    def _stronger_guidance(self) -> float | None:
        """The text guidance to try next when an edit did nothing (None at the top of its range)."""
        now = self.panel.params().text_guidance
        stronger = min(TEXT_GUIDANCE.high, round(max(now * 1.5, now + 2.5), 1))
        return stronger if stronger > now else None

    def try_variations(self) -> None:
        """The notice's offer: several seeds of the step that did nothing at once."""
        if self._offer_stands():
            self.panel.variation_count.setValue(VARIATIONS_TO_TRY)
            self._rerender_step(self.document.history.current, variations=VARIATIONS_TO_TRY)

    def try_stronger(self) -> None:
        """The notice's offer: the step that did nothing again, its words weighing more."""
        if self._offer_stands() and (stronger := self._stronger_guidance()) is not None:
            self.panel.text_guidance.setValue(stronger)
            self.rerender()

    def _offer_stands(self) -> bool:
        history = self.document.history
        return history is not None and history.current.id == self._did_nothing

    def _follow_step(self, step) -> None:
        """Another step is current: an offer made for the one that did nothing goes with it; one
        whose engine is not installed here says so."""
        if self._did_nothing is not None and (step is None or step.id != self._did_nothing):
            self._did_nothing = None
            self.panel.withdraw_notice(self._did_nothing_notice_shown)
        self._say_if_engine_missing(step)

    def _pick_variation(self, done: EditDone) -> None:
        VariationsPicker = load("mgie_desktop.ui.variations", "VariationsPicker")

        source = self.document.history.image(done.job.source_step)
        sweep = done.job.sweep
        self._show_picker(
            done,
            VariationsPicker(
                done.views,
                done.picks,
                done.seeds,
                done.job.instruction,
                to_qimage(source),
                self.canvas,
                # a sweep: each cell named by its guidance, in its row and column
                labels=[cell_label(p) for p in done.params] if sweep is not None else None,
                columns=sweep.columns if sweep is not None else 0,
            ),
        )

    def _pick_ab(self, done: EditDone) -> None:
        ABCompare = load("mgie_desktop.ui.ab_compare", "ABCompare")

        self._show_picker(
            done,
            ABCompare(
                done.views[0],
                done.views[1],
                done.job.instruction,
                done.expressive_instruction,
                (done.models[0], done.models[1]),
                (done.params[0], done.params[1]),
                self.canvas,
            ),
        )

    def _show_picker(self, done: EditDone, picker) -> None:
        """A dialog choosing renders to keep (``chosen(list)``), open until the person decides."""
        picker.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        picker.chosen.connect(lambda kept: self._keep(done, kept))
        # Closed without a pick: back from the preview to the current step.
        picker.rejected.connect(self.edit_ended)
        # It deletes itself once closed: let go of it first, so nothing calls a deleted dialog.
        picker.finished.connect(lambda _result: self._picker_closed(picker))
        picker.show()
        self.variations_picker = picker

    @Slot()
    def _picker_closed(self, picker) -> None:
        if self.variations_picker is picker:  # not a newer one, opened meanwhile
            self.variations_picker = None

    def _keep(self, done: EditDone, kept: list[int]) -> None:
        """Add the renders ``kept`` of a finished edit to the history, each a child of the step
        the edit started from (so several kept variations are sibling branches); the first kept
        becomes the current step."""
        job = done.job
        if not self.document.is_open(job.document) or not kept:
            return
        steps = []
        for index in kept:
            render = done.params[index]  # its own seed, a sweep cell's own guidance, klein's own steps
            kind = StepKind(done.models[index])
            if kind is not StepKind.MGIE:  # InstructPix2Pix or FLUX.2 [klein] read the words itself
                params, expressive, steered = StepParams.edit(render, kind), "", ""
            else:
                params, steered = StepParams.edit(render), job.expressive
                expressive = job.mgie_text if job.expressive else done.expressive_instruction
            steps.append(
                NewStep(
                    done.images[index],
                    done.thumbs[index],
                    job.instruction,
                    params,
                    job.source_step,
                    expressive_instruction=expressive,
                    steered_instruction=steered,
                    mask=done.mask_text,
                    timings=done.timings,
                )
            )
        self.canvas.show_image(done.views[kept[0]], keep_view=True)  # before the step: no decode to show it
        if (
            job.mask is not None and not job.rerender
        ):  # the result unveiled; the next edit unmasked unless asked
            self.mask_brush.put_away()  # (a re-render used its step's mask: the brush's own stays as it is)
        self.document.add_steps(steps)
        self.panel.instruction.mark_applied()  # Ctrl+Z now undoes this edit, wherever the focus is

    @Slot(int, str, str)
    def on_edit_failed(self, job_id: int, message: str, details: str) -> None:
        if not self.document.is_running(job_id):
            return  # a job of a document closed meanwhile
        self._edit_ended()
        self.document.failed.emit(message, details)

    @Slot(int)
    def on_edit_cancelled(self, job_id: int) -> None:
        if not self.document.is_running(job_id):
            return
        self._edit_ended()
        self.document.status.emit("Edit cancelled; nothing was changed", 5000)

    def _edit_ended(self) -> None:
        """An edit ended without a result: back to the current step, ready for the next."""
        self.document.finish()
        self.canvas.clear_preview()
        self.edit_ended.emit()
