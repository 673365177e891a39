"""An open document: the photo's metadata, its edit history, its name and where it is saved.

Opening dispatches on the file: ``.mgie`` sessions reopen their whole history, anything else
is read as a photo. Pure Python, run off the GUI thread by the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PIL import Image

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

    def photo_for_export(self, image: Image.Image) -> Photo:
        """``image`` carrying the original's ICC profile, EXIF and alpha."""
        return self.source.photo(image)

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
