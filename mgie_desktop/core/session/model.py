"""What an opened session is in memory: its history plus what it keeps of the source photo."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from mgie_desktop.core.history import History
from mgie_desktop.core.imaging import Photo


@dataclass(frozen=True)
class SourceMeta:
    """What a session keeps of the opened photo besides its pixels (the root step's image)."""

    name: str = ""
    icc_profile: bytes | None = None
    exif: bytes | None = None
    alpha: Image.Image | None = None
    source_format: str | None = None
    source_mode: str | None = None

    @classmethod
    def from_photo(cls, photo: Photo, name: str | None = None) -> SourceMeta:
        return cls(
            name=name if name is not None else (photo.path.name if photo.path else ""),
            icc_profile=photo.icc_profile,
            exif=photo.exif,
            alpha=photo.alpha,
            source_format=photo.source_format,
            source_mode=photo.source_mode,
        )

    def photo(self, rgb: Image.Image) -> Photo:
        """A Photo of ``rgb`` (e.g. any step's image) carrying this source's metadata, for export."""
        return Photo(
            rgb=rgb,
            alpha=self.alpha,
            icc_profile=self.icc_profile,
            exif=self.exif,
            source_format=self.source_format,
            source_mode=self.source_mode or "RGB",
            path=None,
        )


def as_meta(photo_meta: Photo | SourceMeta | dict[str, Any] | None) -> SourceMeta:
    """Callers pass whichever they hold (the opened Photo, a SourceMeta, a dict, nothing)."""
    if photo_meta is None:
        return SourceMeta()
    if isinstance(photo_meta, SourceMeta):
        return photo_meta
    if isinstance(photo_meta, Photo):
        return SourceMeta.from_photo(photo_meta)
    if isinstance(photo_meta, dict):
        known = {k: v for k, v in photo_meta.items() if k in SourceMeta.__dataclass_fields__}
        return SourceMeta(**known)
    raise TypeError(f"photo_meta must be a Photo, SourceMeta or dict, not {type(photo_meta).__name__}")


@dataclass
class Session:
    """An opened session: its history (images in a work folder) and the source photo's metadata."""

    history: History
    source: SourceMeta = field(default_factory=SourceMeta)
    path: Path | None = None
    app: dict[str, Any] = field(default_factory=dict)
    saved: float | None = None

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def icc_profile(self) -> bytes | None:
        return self.source.icc_profile

    @property
    def exif(self) -> bytes | None:
        return self.source.exif

    @property
    def alpha(self) -> Image.Image | None:
        return self.source.alpha

    def close(self) -> None:
        self.history.close()
