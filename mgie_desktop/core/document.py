"""An open document: the photo's metadata, its edit history, its name and where it is saved.

Opening dispatches on the file: ``.mgie`` sessions reopen their whole history, anything else
is read as a photo. Pure Python, run off the GUI thread by the window.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from mgie_desktop.core.geometry import apply_all
from mgie_desktop.core.history import History
from mgie_desktop.core.imaging import Photo, load_photo
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
        return cls(history, SourceMeta.from_photo(photo))

    @classmethod
    def from_session(cls, session: Session, path: Path | None) -> Document:
        return cls(session.history, session.source, session_path=path)

    def photo_for_export(self, step_id: int | None = None) -> Photo:
        """Step ``step_id`` (the current one by default) as it looks, carrying the original's ICC
        profile and EXIF, and its transparency cropped, turned and flipped as the step was."""
        if step_id is None:
            current = self.history.current
            assert current is not None, "an open document's history is started"
            step_id = current.id
        photo = self.source.photo(self.history.image(step_id))
        if photo.alpha is not None:
            ops = [s.params.geometry for s in self.history.lineage(step_id) if s.params.geometry is not None]
            photo = replace(photo, alpha=apply_all(photo.alpha, ops))
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


def save_document(document: Document, path: Path) -> Path:
    return save_session(document.history, path, document.source)
