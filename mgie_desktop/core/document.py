"""An open document: the photo's metadata, its edit history, its name and where it is saved.

Opening dispatches on the file: ``.mgie`` sessions reopen their whole history, anything else
is read as a photo. Pure Python, run off the GUI thread by the window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mgie_desktop.core.colour import ColourSpace, colour_space
from mgie_desktop.core.geometry import apply_all
from mgie_desktop.core.history import History
from mgie_desktop.core.imaging import DEEP_FORMATS, SAVE_FORMATS, Photo, is_deep_mode, load_photo, save_photo
from mgie_desktop.core.master import derived, to_8bit
from mgie_desktop.core.session import SUFFIX, Session, SourceMeta, open_session, save_session


@dataclass
class Document:
    history: History
    source: SourceMeta
    session_path: Path | None = None
    modified: bool = False
    revision: int = 0  # counts changes, so a save that raced an edit does not clear "modified"

    def touch(self) -> None:
        self.revision += 1
        self.modified = True

    @property
    def name(self) -> str:
        if self.session_path is not None:
            return self.session_path.name
        return self.source.name or "Untitled"

    @classmethod
    def from_photo(cls, photo: Photo) -> Document:
        history = History()
        history.start(photo.rgb)
        if photo.master is not None:
            try:
                history.store.put_master(photo.master)
            except BaseException:
                history.close()
                raise
        return cls(history, SourceMeta.from_photo(photo))

    @property
    def has_master(self) -> bool:
        """Whether the photo's own pixels are kept beside the history (core/master.py): it had more
        than 8 bits per channel, or a colour space other than sRGB."""
        return self.history.store.has_master

    @property
    def deep(self) -> bool:
        """Whether the photo had more than 8 bits per channel (its PNG and TIFF exports keep 16)."""
        return self.has_master and is_deep_mode(self.source.source_mode)

    @property
    def colour(self) -> ColourSpace | None:
        """The photo's own colour space if it is not sRGB: the history holds its sRGB rendering."""
        return colour_space(self.source.icc_profile) if self.has_master else None

    @classmethod
    def from_session(cls, session: Session, path: Path | None) -> Document:
        return cls(session.history, session.source, session_path=path)

    def photo_for_export(self, step_id: int | None = None, with_master: bool = False) -> Photo:
        """Step ``step_id`` (the current one by default) as it looks, carrying the original's ICC
        profile and EXIF, and its transparency cropped, turned and flipped as the step was.
        ``with_master``: and its 16-bit master, if the photo had one (derived: it takes a moment).
        A photo in another colour space than sRGB comes back in its own (and its profile)."""
        if step_id is None:
            current = self.history.current
            assert current is not None, "an open document's history is started"
            step_id = current.id
        photo = self.source.photo(self.history.image(step_id))
        if photo.alpha is not None:
            ops = [s.params.geometry for s in self.history.lineage(step_id) if s.params.geometry is not None]
            photo = replace(photo, alpha=apply_all(photo.alpha, ops))
        space = self.colour
        if with_master or space is not None:
            master = derived(self.history, step_id, space)
            if space is not None and master is not None:  # back in the photo's own space
                photo = replace(photo, rgb=to_8bit(master))
            photo = replace(photo, master=master if with_master else None)
        return photo

    def close(self) -> None:
        self.history.close()


def is_session(path: Path) -> bool:
    return Path(path).suffix.lower() == SUFFIX


def open_document(path: Path) -> Document:
    path = Path(path)
    if is_session(path):
        return Document.from_session(open_session(path), path)
    return Document.from_photo(load_photo(path))


def export_step(
    document: Document, step_id: int, path: Path, *, record: dict[str, Any] | None = None, quality: int = 95
) -> bool:
    """Write step ``step_id`` as it looks to ``path`` (the format by its suffix): at 16 bits per
    channel where the photo opened with them and the format holds them (PNG, TIFF). Returns
    whether it did."""
    deep = document.deep and SAVE_FORMATS.get(Path(path).suffix.lower()) in DEEP_FORMATS
    photo = document.photo_for_export(step_id, with_master=deep)
    save_photo(photo, path, record=record, quality=quality)
    return deep


def chain_photo(photo: Photo, history: History, step_id: int | None = None) -> Photo:
    """Step ``step_id`` (the current one) of edits on ``photo`` (core/chain.py, started from its
    8-bit image) as ``edit`` and ``batch`` save it: as the window exports, with the photo's
    metadata, its transparency turned as its steps turned, in its own colour space and depth."""
    if photo.master is not None and not history.store.has_master:
        history.store.hold_master(photo.master)  # written only if the chain is saved as a session
    return Document(history, SourceMeta.from_photo(photo)).photo_for_export(step_id, with_master=True)


def save_document(document: Document, path: Path) -> Path:
    return save_session(document.history, path, document.source)
