"""The provider interface: what the UI and the operations layer may ask of any provider.

One module per provider implements it (private pydantic wire models in, `rectui.models` out,
`rectui.errors` as the only failures). The UI reads `capabilities` first and shows or hides
actions by them; methods a provider cannot do raise `Unsupported` as a safety net.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from rectui.models import Capabilities, Cursor, ListQuery, Media, Page, Recording

DEFAULT_MAX_MEDIA_BYTES = 200 * 1024 * 1024


@runtime_checkable
class RecordingProvider(Protocol):
    id: str
    """The configured instance name (`[providers.<id>]`)."""
    kind: str
    display_name: str
    capabilities: Capabilities

    async def list_recordings(self, query: ListQuery, cursor: Cursor | None = None) -> Page:
        """One page; `cursor` from a previous page's `next`/`prev`, None for the first."""
        ...

    async def get_recording(self, recording_id: str) -> Recording: ...

    async def fetch_media(self, recording: Recording, dest_dir: Path, *,
                          max_bytes: int = DEFAULT_MAX_MEDIA_BYTES) -> Media:
        """Download the audio into a new file in `dest_dir`; format sniffed from the bytes."""
        ...

    async def delete_recording(self, recording_id: str) -> None: ...

    async def restore_recording(self, recording_id: str) -> None: ...

    async def purge_recording(self, recording_id: str) -> None: ...

    async def rename(self, recording_id: str, fields: Mapping[str, str | None]) -> Recording: ...

    async def set_tags(self, recording_id: str, tags: frozenset[str]) -> Recording: ...

    async def check(self) -> None:
        """One cheap authenticated call (for `rectui config check`); raises on failure."""
        ...

    def describe(self) -> str:
        """A secret-free one-liner: kind and base URL."""
        ...

    async def aclose(self) -> None: ...
