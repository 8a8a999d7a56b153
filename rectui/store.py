"""The local store: one SQLite file in the user data dir (`rectui.db`), stdlib `sqlite3` only.

What it keeps:

- **Tags**: local tags per (provider instance, recording id), for providers without server tags
  (and as Kazoo's fallback), and the last server tags seen per recording, so the UI can show
  both and mark which is which (`tags_for`).
- **Listing cache**: the last listing pages per provider and query, each page one zlib-compressed
  JSON blob, so the app shows rows at once on start ("cached 3 min ago") and refreshes in the
  background. Bounded: rows per listing, listings per provider, total compressed bytes; the least
  recently used listing goes first. Rows are decoded (and sanitised again) a page at a time,
  only when read.
- **Journal** of every delete, restore, purge, tag change and rename: when, provider, id, title,
  what was asked, outcome. A batch is written `queued` first; each item turns `pending` before
  its request and gets its outcome after it. A process killed mid-batch leaves `pending` rows
  (checked with a GET by `reconcile`: 404 → done, present → not done) and `queued` rows (never
  sent: `cancelled`). Outcomes: `deleted`, `deleted-confirmed-by-404`, `already-gone`, `denied`,
  `failed`, `unknown`, `cancelled`, and `done` for restores, tag changes and renames.

Robustness: WAL with a busy timeout (two rectui processes share the file; a writer that cannot
get in within the timeout gets "store busy"), synchronous=FULL (a committed journal row survives
a crash), `PRAGMA user_version` with forward migrations, `PRAGMA application_id` marking the
file as rectui's. A file that is not a SQLite database, is damaged, or belongs to another
program is moved aside (never deleted) and a new store started; `Store.notice` says so. Every
SQLite or OS failure (disk full, unwritable directory, busy, damaged) becomes a `StoreError`
with a message that says what to do. One connection per thread, so a UI worker thread and the
event loop can both use one `Store`. No Textual, no network (`reconcile` calls the provider
objects it is given).
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, overload

from pydantic import TypeAdapter, ValidationError

from rectui.errors import NotFound, RectuiError
from rectui.models import TAG_LIMIT, ListQuery, Recording
from rectui.sanitize import one_line

SCHEMA_VERSION = 1
APPLICATION_ID = 0x52435455          # "RCTU": marks the file as a rectui store
DB_NAME = "rectui.db"
BUSY_TIMEOUT = 5.0                   # seconds a writer waits for another process's transaction
SQLITE_MAGIC = b"SQLite format 3\x00"

MAX_ROWS_PER_LISTING = 100_000
MAX_LISTINGS_PER_PROVIDER = 8
MAX_CACHE_BYTES = 256 * 1024 * 1024  # compressed page bytes over all listings
JOURNAL_KEEP = 200_000               # finished journal rows kept (oldest pruned at open)
FOREIGN_HOST_STALE = 6 * 3600.0      # open rows of another host are reconciled after this long

JournalOp = Literal["delete", "restore", "purge", "tag", "rename"]
Outcome = Literal["queued", "pending", "deleted", "deleted-confirmed-by-404", "already-gone", "denied", "failed",
                  "unknown", "cancelled", "done"]
OPEN_OUTCOMES: frozenset[str] = frozenset({"queued", "pending"})
FINAL_OUTCOMES: frozenset[str] = frozenset({"deleted", "deleted-confirmed-by-404", "already-gone", "denied", "failed",
                                           "unknown", "cancelled", "done"})

_ROWS = TypeAdapter(list[Recording])


def _dump(items: Sequence[Recording]) -> bytes:
    """A page of rows as compressed, ASCII-only JSON, without `raw` (the detail pane reads that
    live)."""
    return zlib.compress(_ROWS.dump_json(list(items), exclude={"__all__": {"raw"}}, ensure_ascii=True), 1)


# What the sanitiser replaces, as it appears in the ASCII JSON we write: escaped C0 controls (short
# escapes too), DEL, C1, bidi and zero-width characters, BOM, surrogates. A page that is ASCII and
# has none of them (every page rectui wrote: its rows were cleaned first) is rebuilt without
# validating again; any other (edited by hand, damaged) goes through full validation, `clean()`
# included. Both checks run at C speed (~0.2 ms for a page of 100 Kazoo rows).
_SUSPECT = re.compile(rb"\\(?:u00[01]|u007[fF]|u00[89]|u061[cC]|u200[bBeEfF]|u202[a-eA-E]|u206[6-9]"
                      rb"|u[fF][eE][fF][fF]|u[dD][89abAB]|[bfr])")


def _load_page(blob: bytes) -> list[Recording]:
    """A cached page's rows; a damaged page reads as empty rather than crashing the table."""
    try:
        raw = zlib.decompress(blob)
        if not raw.isascii() or _SUSPECT.search(raw):
            return _ROWS.validate_json(raw)
        out = []
        for d in json.loads(raw):
            d["start"] = datetime.fromisoformat(d["start"]) if d.get("start") else None
            d["tags"] = frozenset(d.get("tags") or ())
            d["raw"] = {}              # given, so that no default factory runs (pydantic inspects each)
            out.append(Recording.model_construct(**d))
        return out
    except (zlib.error, ValidationError, ValueError, TypeError, KeyError, AttributeError):
        return []


class StoreError(RectuiError):
    """The local store cannot be used or written (disk full, unwritable, busy, damaged, newer
    schema). rectui keeps working without it; the message says what happened and what to do."""

    title = "Local store error"


# -- records -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TagSet:
    """A recording's tags: `server` (stored at the provider, as last seen) and `local`."""

    local: frozenset[str] = frozenset()
    server: frozenset[str] = frozenset()
    server_seen_at: float | None = None

    @property
    def all(self) -> frozenset[str]:
        return self.local | self.server


@dataclass(frozen=True)
class JournalEntry:
    id: int
    batch: str
    created_at: float
    updated_at: float
    provider: str
    recording_id: str
    title: str
    op: str
    request: dict[str, Any]
    outcome: str
    message: str
    attempts: int

    @property
    def open(self) -> bool:
        return self.outcome in OPEN_OUTCOMES


@dataclass(frozen=True)
class Reconciled:
    """What `reconcile` found for one open journal entry; `outcome` None means still open."""

    entry: JournalEntry
    outcome: str | None
    message: str


class CachedRows(Sequence[Recording]):
    """The rows of a cached listing, decoded a page at a time on first access; the last
    `KEEP_PAGES` decoded pages are kept, so a table scrolling around holds little, and iterating
    over every row holds one page at a time."""

    KEEP_PAGES = 32

    def __init__(self, pages: list[tuple[int, bytes]]) -> None:
        self._blobs = [blob for _, blob in pages]
        self._starts: list[int] = []
        total = 0
        for n, _ in pages:
            self._starts.append(total)
            total += n
        self._len = total
        self._decoded: OrderedDict[int, list[Recording]] = OrderedDict()

    def __len__(self) -> int:
        return self._len

    def _page(self, p: int) -> list[Recording]:
        rows = self._decoded.get(p)
        if rows is None:
            rows = _load_page(self._blobs[p])
            self._decoded[p] = rows
            while len(self._decoded) > self.KEEP_PAGES:
                self._decoded.popitem(last=False)
        else:
            self._decoded.move_to_end(p)
        return rows

    @overload
    def __getitem__(self, index: int) -> Recording: ...

    @overload
    def __getitem__(self, index: slice) -> list[Recording]: ...

    def __getitem__(self, index: int | slice) -> Recording | list[Recording]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(index)
        import bisect
        p = bisect.bisect_right(self._starts, index) - 1
        rows = self._page(p)
        offset = index - self._starts[p]
        if offset >= len(rows):          # a damaged page: keep the length stable, show a placeholder
            return Recording(provider="?", id="?", title="(unreadable cached row)", id_valid=False)
        return rows[offset]

    def __iter__(self) -> Iterator[Recording]:
        for p in range(len(self._blobs)):
            rows = self._decoded.get(p)
            yield from rows if rows is not None else _load_page(self._blobs[p])


@dataclass(frozen=True)
class CachedListing:
    provider: str
    query_key: str
    fetched_at: float
    """When page 1 of this listing was fetched (wall clock)."""
    updated_at: float
    total: int | None
    pages: int
    rows: CachedRows = field(repr=False)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.fetched_at)

    def describe_age(self, now: float | None = None) -> str:
        """"cached just now", "cached 3 min ago", "cached 2 h ago", "cached 4 days ago"."""
        s = self.age(now)
        if s < 60:
            return "cached just now"
        if s < 3600:
            return f"cached {int(s // 60)} min ago"
        if s < 86400 * 2:
            return f"cached {int(s // 3600)} h ago"
        return f"cached {int(s // 86400)} days ago"


def listing_key(query: ListQuery | None = None) -> str:
    """The cache key of a listing: the query without its page size (a stable JSON string)."""
    if query is None:
        return "{}"
    data = query.model_dump(mode="json", exclude={"page_size"}, exclude_none=True)
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def clean_tag(tag: str) -> str:
    """A tag as stored: one line, terminal-safe, at most `TAG_LIMIT` characters, trimmed."""
    return one_line(tag, limit=TAG_LIMIT).strip()


def clean_tags(tags: Iterable[str]) -> frozenset[str]:
    return frozenset(t for t in map(clean_tag, tags) if t)


def _text(value: str | None, limit: int = 2000) -> str:
    """Any text bound for SQLite: lone surrogates (which sqlite3 refuses) and controls made visible."""
    return one_line(value or "", limit=limit)


# -- schema ---------------------------------------------------------------------------------------

MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE local_tags (
               provider TEXT NOT NULL, recording_id TEXT NOT NULL, tag TEXT NOT NULL, added_at REAL NOT NULL,
               PRIMARY KEY (provider, recording_id, tag))""",
        """CREATE TABLE server_tags (
               provider TEXT NOT NULL, recording_id TEXT NOT NULL, tags TEXT NOT NULL, seen_at REAL NOT NULL,
               PRIMARY KEY (provider, recording_id))""",
        """CREATE TABLE listings (
               id INTEGER PRIMARY KEY, provider TEXT NOT NULL, query_key TEXT NOT NULL,
               fetched_at REAL NOT NULL, updated_at REAL NOT NULL, used_at REAL NOT NULL, total INTEGER,
               UNIQUE (provider, query_key))""",
        """CREATE TABLE listing_pages (
               listing_id INTEGER NOT NULL REFERENCES listings(id) ON DELETE CASCADE, page_no INTEGER NOT NULL,
               rows INTEGER NOT NULL, bytes INTEGER NOT NULL, data BLOB NOT NULL,
               PRIMARY KEY (listing_id, page_no))""",
        """CREATE TABLE journal (
               id INTEGER PRIMARY KEY, batch TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
               provider TEXT NOT NULL, recording_id TEXT NOT NULL, title TEXT NOT NULL DEFAULT '',
               op TEXT NOT NULL, request TEXT NOT NULL DEFAULT '{}', outcome TEXT NOT NULL,
               message TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0,
               owner_session TEXT, owner_pid INTEGER, owner_host TEXT, owner_started TEXT)""",
        """CREATE INDEX journal_open ON journal (outcome) WHERE outcome IN ('queued', 'pending')""",
        """CREATE INDEX journal_item ON journal (provider, recording_id)""",
    ),
}
"""Version → statements that bring the schema from version-1 to it. Append, never edit."""


def _proc_started(pid: int) -> str | None:
    """The start time of process `pid` (Linux: /proc/<pid>/stat field 22), to tell a reused pid
    from the process that wrote a journal row; None where unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    try:
        return data[data.rindex(b")") + 2:].split()[19].decode()
    except (ValueError, IndexError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True             # someone else's process
    except OSError:
        return False
    return True


# -- the store ------------------------------------------------------------------------------------

class Store:
    """The local store. `Store()` opens (or creates) `rectui.db` in the user data dir; pass a
    path for another file. Raises `StoreError` when the store cannot be used at all."""

    def __init__(self, path: Path | None = None, *, clock: Callable[[], float] = time.time,
                 busy_timeout: float = BUSY_TIMEOUT, max_rows_per_listing: int = MAX_ROWS_PER_LISTING,
                 max_listings_per_provider: int = MAX_LISTINGS_PER_PROVIDER,
                 max_cache_bytes: int = MAX_CACHE_BYTES,
                 connect: Callable[..., sqlite3.Connection] = sqlite3.connect) -> None:
        if path is None:
            from rectui.paths import data_dir
            path = data_dir() / DB_NAME
        self.path = Path(path)
        self.clock = clock
        self.busy_timeout = busy_timeout
        self.max_rows_per_listing = max_rows_per_listing
        self.max_listings_per_provider = max_listings_per_provider
        self.max_cache_bytes = max_cache_bytes
        self._connect = connect
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self.session = uuid.uuid4().hex
        self.pid = os.getpid()
        self.host = socket.gethostname()
        self.started = _proc_started(self.pid)
        self.notice: str | None = None
        """Set when a bad file was moved aside at open: show it once."""
        self.moved_aside: Path | None = None
        try:
            self._open()
        except BaseException:
            self._close_all()
            raise

    # -- opening --------------------------------------------------------------------------------
    def _open(self) -> None:
        directory = self.path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise self._os_error(f"Local store: cannot create its folder {directory}", exc) from None
        problem = self._sniff_file()
        if problem:
            self._move_aside(problem)
        if not self.path.exists():
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
                os.close(fd)
            except FileExistsError:
                pass                  # another process created it first
            except OSError as exc:
                raise self._os_error(f"Local store: cannot create {self.path}", exc) from None
        try:
            self._check_and_migrate()
        except _Foreign as exc:
            self._close_all()
            self._move_aside(str(exc))
            self._check_and_migrate()
        self._prune_journal()

    def _sniff_file(self) -> str | None:
        """Why the existing file cannot be ours (not SQLite at all), or None."""
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._os_error(f"Local store: cannot read {self.path}", exc) from None
        if head and head != SQLITE_MAGIC:
            return "it is not a SQLite database"
        return None

    def _check_and_migrate(self) -> None:
        try:
            conn = self._conn()
        except StoreError as exc:
            if exc.title == "Store damaged":
                raise _Foreign("it is damaged or not a database") from None
            raise
        try:
            app_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            if _kind(exc) in ("busy", "full", "readonly", "io"):
                raise self._error("open it", exc) from None
            raise _Foreign(f"it is damaged or not a database ({exc})") from None
        if app_id != APPLICATION_ID and (tables or version):
            raise _Foreign("it belongs to another program (no rectui marker)")
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} was written by a newer rectui (schema {version}, this one knows "
                             f"{SCHEMA_VERSION}); upgrade rectui. The file was left as it is.",
                             title="Store from a newer rectui")
        with self._guard("set up"):
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
        if version == SCHEMA_VERSION:
            return
        with self._tx("migrate") as c:
            # Re-read inside the write lock: another process may have migrated meanwhile.
            current = c.execute("PRAGMA user_version").fetchone()[0]
            for target in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    c.execute(statement)
                c.execute(f"PRAGMA user_version = {int(target)}")
            if current == 0:
                c.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                c.execute("INSERT OR REPLACE INTO meta VALUES ('created_at', ?)", (str(self.clock()),))

    def _move_aside(self, why: str) -> None:
        stamp = datetime.fromtimestamp(self.clock()).strftime("%Y%m%d-%H%M%S")
        aside = self.path.with_name(f"{self.path.name}.bad-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = self.path.with_name(f"{self.path.name}.bad-{stamp}-{n}")
        try:
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    os.replace(side, aside.with_name(aside.name + suffix))
        except OSError as exc:
            raise self._os_error(f"Local store: {self.path} cannot be used ({why}) and could not be moved aside",
                                 exc) from None
        self.moved_aside = aside
        self.notice = (f"The local store {self.path} could not be used: {why}. It was moved to {aside.name} "
                       "(nothing was deleted) and a new, empty store was started.")

    # -- connections ----------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError("the local store was closed", title="Store closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        try:
            conn = self._connect(str(self.path), timeout=self.busy_timeout, isolation_level=None,
                                 check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = FULL")
        except sqlite3.Error as exc:
            raise self._error("open it", exc) from None
        self._local.conn = conn
        with self._lock:
            self._all.append(conn)
        return conn

    def _close_all(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    def close(self) -> None:
        self._close_all()
        self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- errors ---------------------------------------------------------------------------------
    def _error(self, what: str, exc: sqlite3.Error) -> StoreError:
        kind = _kind(exc)
        where = f"Local store {self.path.name}: cannot {what}"
        if kind == "busy":
            return StoreError(f"{where}: it is busy (another rectui is writing to it). Try again in a moment.",
                              title="Store busy")
        if kind == "full":
            return StoreError(f"{where}: the disk is full. Free some space; rectui keeps working without saving.",
                              title="Disk full")
        if kind == "readonly":
            return StoreError(f"{where}: {self.path} or its folder is not writable. Check its permissions.",
                              title="Store not writable")
        if kind == "damaged":
            return StoreError(f"{where}: {self.path} is damaged ({exc}). Quit rectui and move the file away; a new "
                              "one is made at the next start.", title="Store damaged")
        if kind == "io":
            return StoreError(f"{where}: the disk refused the write (it may be full, over a file size limit, or "
                              "failing). Free some space; rectui keeps working without saving.",
                              title="Store write failed")
        return StoreError(f"{where}: {exc}.", title="Store error")

    def _os_error(self, what: str, exc: OSError) -> StoreError:
        code = exc.errno
        if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return StoreError(f"{what}: the disk is full. Free some space; rectui keeps working without saving.",
                              title="Disk full")
        if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM, errno.EROFS):
            return StoreError(f"{what}: permission denied. Check the folder's permissions or set XDG_DATA_HOME "
                              "to a writable place.", title="Store not writable")
        return StoreError(f"{what}: {exc.strerror or exc}.", title="Store error")

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except sqlite3.Error as exc:
            raise self._error(what, exc) from None
        except OSError as exc:
            raise self._os_error(f"Local store {self.path.name}: cannot {what}", exc) from None

    @contextmanager
    def _tx(self, what: str) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (BEGIN IMMEDIATE: no lock upgrade to fail)."""
        conn = self._conn()
        with self._guard(what):
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, what: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        conn = self._conn()
        with self._guard(what):
            return conn.execute(sql, params).fetchall()

    def integrity_check(self) -> str:
        """`ok`, or SQLite's first complaint."""
        rows = self._read("check the store", "PRAGMA integrity_check")
        return str(rows[0][0]) if rows else "no answer"

    # -- tags -----------------------------------------------------------------------------------
    def local_tags(self, provider: str, recording_id: str) -> frozenset[str]:
        rows = self._read("read tags", "SELECT tag FROM local_tags WHERE provider = ? AND recording_id = ?",
                          (provider, recording_id))
        return frozenset(r[0] for r in rows)

    def set_local_tags(self, provider: str, recording_id: str, tags: Iterable[str]) -> frozenset[str]:
        wanted = clean_tags(tags)
        now = self.clock()
        with self._tx("save tags") as c:
            have = {r[0] for r in c.execute("SELECT tag FROM local_tags WHERE provider = ? AND recording_id = ?",
                                            (provider, recording_id))}
            c.executemany("DELETE FROM local_tags WHERE provider = ? AND recording_id = ? AND tag = ?",
                          [(provider, recording_id, t) for t in have - wanted])
            c.executemany("INSERT INTO local_tags VALUES (?, ?, ?, ?)",
                          [(provider, recording_id, t, now) for t in wanted - have])
        return wanted

    def change_local_tags(self, provider: str, recording_id: str, add: Iterable[str] = (),
                          remove: Iterable[str] = ()) -> frozenset[str]:
        """Add and remove local tags in one transaction; returns the tags now stored."""
        plus, minus = clean_tags(add), clean_tags(remove)
        now = self.clock()
        with self._tx("save tags") as c:
            c.executemany("DELETE FROM local_tags WHERE provider = ? AND recording_id = ? AND tag = ?",
                          [(provider, recording_id, t) for t in minus - plus])
            c.executemany("INSERT OR IGNORE INTO local_tags VALUES (?, ?, ?, ?)",
                          [(provider, recording_id, t, now) for t in plus])
            rows = c.execute("SELECT tag FROM local_tags WHERE provider = ? AND recording_id = ?",
                             (provider, recording_id)).fetchall()
        return frozenset(r[0] for r in rows)

    def record_server_tags(self, provider: str, recording_id: str, tags: Iterable[str]) -> None:
        self.record_server_tags_many(provider, [(recording_id, tags)])

    def record_server_tags_many(self, provider: str, items: Iterable[tuple[str, Iterable[str]]]) -> None:
        now = self.clock()
        rows = [(provider, rid, json.dumps(sorted(clean_tags(tags)), ensure_ascii=False), now) for rid, tags in items]
        if not rows:
            return
        with self._tx("save server tags") as c:
            c.executemany("INSERT OR REPLACE INTO server_tags VALUES (?, ?, ?, ?)", rows)

    def tags_for(self, provider: str, recording_id: str) -> TagSet:
        return self.tags_for_many(provider, [recording_id]).get(recording_id, TagSet())

    def tags_for_many(self, provider: str, recording_ids: Iterable[str]) -> dict[str, TagSet]:
        """Tags of many recordings of one provider (ids without any tag are left out)."""
        ids = list(dict.fromkeys(recording_ids))
        local: dict[str, set[str]] = {}
        server: dict[str, tuple[frozenset[str], float]] = {}
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for rid, tag in self._read("read tags", f"SELECT recording_id, tag FROM local_tags WHERE provider = ? "
                                                    f"AND recording_id IN ({marks})", (provider, *chunk)):
                local.setdefault(rid, set()).add(tag)
            for rid, tags, seen in self._read("read tags", f"SELECT recording_id, tags, seen_at FROM server_tags "
                                                           f"WHERE provider = ? AND recording_id IN ({marks})",
                                              (provider, *chunk)):
                try:
                    server[rid] = (clean_tags(json.loads(tags)), seen)
                except (ValueError, TypeError):
                    continue
        out = {}
        for rid in ids:
            if rid in local or rid in server:
                st, seen = server.get(rid, (frozenset(), None))
                out[rid] = TagSet(local=frozenset(local.get(rid, ())), server=st, server_seen_at=seen)
        return out

    def tagged(self, provider: str | None = None) -> Iterator[tuple[str, str, frozenset[str]]]:
        """Every (provider, recording id, local tags), for an export of tags alone."""
        sql = "SELECT provider, recording_id, tag FROM local_tags"
        params: tuple[Any, ...] = ()
        if provider is not None:
            sql += " WHERE provider = ?"
            params = (provider,)
        current: tuple[str, str] | None = None
        tags: set[str] = set()
        for prov, rid, tag in self._read("read tags", sql + " ORDER BY provider, recording_id", params):
            if (prov, rid) != current:
                if current is not None:
                    yield (*current, frozenset(tags))
                current, tags = (prov, rid), set()
            tags.add(tag)
        if current is not None:
            yield (*current, frozenset(tags))

    # -- listing cache --------------------------------------------------------------------------
    def cache_page(self, provider: str, query_key: str, page_no: int, items: Sequence[Recording], *,
                   total: int | None = None, server_tags: bool = False) -> bool:
        """Keep page `page_no` (1-based) of a listing. Page 1 starts a new snapshot of that
        listing (its older pages go). With `server_tags`, the rows' tags are recorded as the
        provider's. Returns False when the page was not kept (past the row bound)."""
        if page_no < 1:
            raise ValueError("page numbers start at 1")
        blob = _dump(items)
        now = self.clock()
        with self._tx("cache a page") as c:
            row = c.execute("SELECT id FROM listings WHERE provider = ? AND query_key = ?",
                            (provider, query_key)).fetchone()
            if page_no == 1 or row is None:
                if row is not None:
                    c.execute("DELETE FROM listings WHERE id = ?", (row[0],))
                cur = c.execute("INSERT INTO listings (provider, query_key, fetched_at, updated_at, used_at, total) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (provider, query_key, now, now, now, total))
                listing_id = int(cur.lastrowid or 0)
            else:
                listing_id = row[0]
                kept = c.execute("SELECT coalesce(sum(rows), 0) FROM listing_pages WHERE listing_id = ? "
                                 "AND page_no != ?", (listing_id, page_no)).fetchone()[0]
                if kept + len(items) > self.max_rows_per_listing:
                    return False
                c.execute("UPDATE listings SET updated_at = ?, used_at = ?, total = coalesce(?, total) WHERE id = ?",
                          (now, now, total, listing_id))
            c.execute("INSERT OR REPLACE INTO listing_pages VALUES (?, ?, ?, ?, ?)",
                      (listing_id, page_no, len(items), len(blob), blob))
            if server_tags:
                c.executemany("INSERT OR REPLACE INTO server_tags VALUES (?, ?, ?, ?)",
                              [(provider, r.id, json.dumps(sorted(r.tags), ensure_ascii=False), now) for r in items])
            self._evict(c, provider)
        return True

    def cache_listing(self, provider: str, query_key: str, pages: Iterable[Sequence[Recording]], *,
                      total: int | None = None) -> int:
        """Replace a whole listing with `pages` (one transaction); returns the rows kept."""
        now = self.clock()
        kept = 0
        with self._tx("cache a listing") as c:
            c.execute("DELETE FROM listings WHERE provider = ? AND query_key = ?", (provider, query_key))
            cur = c.execute("INSERT INTO listings (provider, query_key, fetched_at, updated_at, used_at, total) "
                            "VALUES (?, ?, ?, ?, ?, ?)", (provider, query_key, now, now, now, total))
            listing_id = int(cur.lastrowid or 0)
            for page_no, items in enumerate(pages, 1):
                if kept + len(items) > self.max_rows_per_listing:
                    break
                blob = _dump(items)
                c.execute("INSERT INTO listing_pages VALUES (?, ?, ?, ?, ?)",
                          (listing_id, page_no, len(items), len(blob), blob))
                kept += len(items)
            self._evict(c, provider)
        return kept

    def _evict(self, c: sqlite3.Connection, provider: str) -> None:
        """Keep at most `max_listings_per_provider` listings per provider and `max_cache_bytes`
        in all; the least recently used go first (never the one just written)."""
        ids = [r[0] for r in c.execute("SELECT id FROM listings WHERE provider = ? ORDER BY used_at DESC, id DESC",
                                       (provider,))]
        for stale in ids[self.max_listings_per_provider:]:
            c.execute("DELETE FROM listings WHERE id = ?", (stale,))
        total = c.execute("SELECT coalesce(sum(bytes), 0) FROM listing_pages").fetchone()[0]
        if total <= self.max_cache_bytes:
            return
        sizes = c.execute("SELECT l.id, coalesce(sum(p.bytes), 0) FROM listings l LEFT JOIN listing_pages p "
                          "ON p.listing_id = l.id GROUP BY l.id ORDER BY l.used_at ASC, l.id ASC").fetchall()
        for listing_id, size in sizes[:-1]:
            if total <= self.max_cache_bytes:
                break
            c.execute("DELETE FROM listings WHERE id = ?", (listing_id,))
            total -= size

    def load_listing(self, provider: str, query_key: str = "{}") -> CachedListing | None:
        """The cached listing, rows decoded lazily, or None."""
        conn = self._conn()
        with self._guard("read the cache"):
            row = conn.execute("SELECT id, fetched_at, updated_at, total FROM listings WHERE provider = ? "
                               "AND query_key = ?", (provider, query_key)).fetchone()
            if row is None:
                return None
            listing_id, fetched, updated, total = row
            pages = conn.execute("SELECT rows, data FROM listing_pages WHERE listing_id = ? ORDER BY page_no",
                                 (listing_id,)).fetchall()
        try:
            with self._tx("mark the cache used") as c:
                c.execute("UPDATE listings SET used_at = ? WHERE id = ?", (self.clock(), listing_id))
        except StoreError:
            pass                  # reading works even when writing does not
        return CachedListing(provider=provider, query_key=query_key, fetched_at=fetched, updated_at=updated,
                             total=total, pages=len(pages), rows=CachedRows(pages))

    def cached_listings(self, provider: str | None = None) -> list[tuple[str, str, float, int]]:
        """(provider, query key, fetched at, rows) of every cached listing, newest first."""
        sql = ("SELECT l.provider, l.query_key, l.fetched_at, coalesce(sum(p.rows), 0) FROM listings l "
               "LEFT JOIN listing_pages p ON p.listing_id = l.id")
        params: tuple[Any, ...] = ()
        if provider is not None:
            sql += " WHERE l.provider = ?"
            params = (provider,)
        return [tuple(r) for r in self._read("read the cache", sql + " GROUP BY l.id ORDER BY l.fetched_at DESC",
                                             params)]

    def iter_cached(self, provider: str, query_key: str = "{}", batch: int = 1) -> Iterator[list[Recording]]:
        """The rows of a cached listing, a page (or `batch` pages) at a time, without holding
        the listing in memory (for exports)."""
        conn = self._conn()
        with self._guard("read the cache"):
            row = conn.execute("SELECT id FROM listings WHERE provider = ? AND query_key = ?",
                               (provider, query_key)).fetchone()
            if row is None:
                return
            cur = conn.execute("SELECT data FROM listing_pages WHERE listing_id = ? ORDER BY page_no", (row[0],))
            while True:
                with self._guard("read the cache"):
                    chunk = cur.fetchmany(batch)
                if not chunk:
                    return
                out: list[Recording] = []
                for (blob,) in chunk:
                    out.extend(_load_page(blob))
                yield out

    # -- journal --------------------------------------------------------------------------------
    def _owner(self) -> tuple[str, int, str, str | None]:
        return (self.session, self.pid, self.host, self.started)

    def begin_batch(self, op: str, provider: str, items: Sequence[tuple[str, str]],
                    request: Mapping[str, Any] | None = None, *, outcome: str = "queued",
                    message: str = "") -> list[int]:
        """Journal a batch as `queued`, in one transaction, before anything is sent: `items` are
        (recording id, title). Returns the entry ids in order."""
        if outcome not in OPEN_OUTCOMES | FINAL_OUTCOMES:
            raise ValueError(f"not a journal outcome: {outcome!r}")
        batch = uuid.uuid4().hex
        now = self.clock()
        req = json.dumps(dict(request or {}), ensure_ascii=False, default=str)
        ids: list[int] = []
        with self._tx(f"journal the {op}") as c:
            for rid, title in items:
                cur = c.execute("INSERT INTO journal (batch, created_at, updated_at, provider, recording_id, title, "
                                "op, request, outcome, message, owner_session, owner_pid, owner_host, owner_started) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                (batch, now, now, provider, _text(rid, 1000), _text(title, 300), op, _text(req, 20000),
                                 outcome, _text(message), *self._owner()))
                ids.append(int(cur.lastrowid or 0))
        return ids

    def mark_pending(self, entry_id: int) -> None:
        """The intent, committed before the request is sent."""
        with self._tx("journal the intent") as c:
            c.execute("UPDATE journal SET outcome = 'pending', attempts = attempts + 1, updated_at = ?, "
                      "owner_session = ?, owner_pid = ?, owner_host = ?, owner_started = ? WHERE id = ?",
                      (self.clock(), *self._owner(), entry_id))

    def requeue(self, entry_id: int, message: str = "") -> None:
        """Back to `queued`: the request certainly was not carried out (429)."""
        with self._tx("journal a retry") as c:
            c.execute("UPDATE journal SET outcome = 'queued', message = ?, updated_at = ? WHERE id = ?",
                      (_text(message), self.clock(), entry_id))

    def finish(self, entry_id: int, outcome: str, message: str = "", *, only_open: bool = False) -> bool:
        """The outcome of an entry; with `only_open`, only if nobody closed it meanwhile
        (returns whether it was written)."""
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"not a final journal outcome: {outcome!r}")
        sql = "UPDATE journal SET outcome = ?, message = ?, updated_at = ? WHERE id = ?"
        if only_open:
            sql += " AND outcome IN ('queued', 'pending')"
        with self._tx("journal the outcome") as c:
            return c.execute(sql, (outcome, _text(message), self.clock(), entry_id)).rowcount > 0

    def finish_many(self, entries: Iterable[tuple[int, str, str]]) -> None:
        rows = [(outcome, _text(message), self.clock(), eid) for eid, outcome, message in entries]
        for outcome, *_ in rows:
            if outcome not in FINAL_OUTCOMES:
                raise ValueError(f"not a final journal outcome: {outcome!r}")
        if rows:
            with self._tx("journal the outcomes") as c:
                c.executemany("UPDATE journal SET outcome = ?, message = ?, updated_at = ? WHERE id = ?", rows)

    def record(self, op: str, provider: str, recording_id: str, title: str, outcome: str, *,
               request: Mapping[str, Any] | None = None, message: str = "") -> int:
        """A finished entry in one go (a local tag change)."""
        if outcome not in FINAL_OUTCOMES:
            raise ValueError(f"not a final journal outcome: {outcome!r}")
        return self.begin_batch(op, provider, [(recording_id, title)], request, outcome=outcome, message=message)[0]

    def _entry(self, row: Sequence[Any]) -> JournalEntry:
        try:
            request = json.loads(row[8])
        except (ValueError, TypeError):
            request = {}
        return JournalEntry(id=row[0], batch=row[1], created_at=row[2], updated_at=row[3], provider=row[4],
                            recording_id=row[5], title=row[6], op=row[7],
                            request=request if isinstance(request, dict) else {}, outcome=row[9], message=row[10],
                            attempts=row[11])

    _COLUMNS = ("id, batch, created_at, updated_at, provider, recording_id, title, op, request, outcome, message, "
                "attempts")

    def journal(self, *, limit: int | None = 100, open_only: bool = False, provider: str | None = None,
                batch: str | None = None) -> list[JournalEntry]:
        """Entries, newest first."""
        where, params = [], []
        if open_only:
            where.append("outcome IN ('queued', 'pending')")
        if provider is not None:
            where.append("provider = ?")
            params.append(provider)
        if batch is not None:
            where.append("batch = ?")
            params.append(batch)
        sql = f"SELECT {self._COLUMNS} FROM journal"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [self._entry(r) for r in self._read("read the journal", sql, params)]

    def entry(self, entry_id: int) -> JournalEntry | None:
        rows = self._read("read the journal", f"SELECT {self._COLUMNS} FROM journal WHERE id = ?", (entry_id,))
        return self._entry(rows[0]) if rows else None

    def open_intents(self, *, include_own: bool = False) -> list[JournalEntry]:
        """`queued` and `pending` entries whose writer is gone (a dead process), oldest first;
        with `include_own`, this store's own open entries too."""
        rows = self._read("read the journal",
                          f"SELECT {self._COLUMNS}, owner_session, owner_pid, owner_host, owner_started FROM journal "
                          "WHERE outcome IN ('queued', 'pending') ORDER BY id")
        now = self.clock()
        out = []
        for row in rows:
            session, pid, host, started = row[12:16]
            if session == self.session:
                if include_own:
                    out.append(self._entry(row))
                continue
            if self._owner_alive(pid, host, started, updated=row[3], now=now):
                continue
            out.append(self._entry(row))
        return out

    def _owner_alive(self, pid: int | None, host: str | None, started: str | None, *, updated: float,
                     now: float) -> bool:
        if pid is None:
            return False
        if host != self.host:
            return now - updated < FOREIGN_HOST_STALE
        if pid == self.pid:
            # Another store in this very process, or a previous process that had our pid (a
            # container restarted): the start time tells them apart where it is known.
            return started is None or self.started is None or started == self.started
        if not _pid_alive(pid):
            return False
        theirs = _proc_started(pid)
        return started is None or theirs is None or theirs == started

    async def reconcile(self, providers: Mapping[str, Any], *, include_own: bool = False,
                        on_result: Callable[[Reconciled], None] | None = None) -> list[Reconciled]:
        """Settle the open entries of processes that are gone: `queued` ones were never sent
        (`cancelled`); `pending` ones are read back with `get_recording`: a delete or purge is
        done when the recording is gone (404) or, for a delete, in the recycle bin; a restore
        when it is available again; a server tag change or rename when the recording shows it.
        Entries whose provider is not given or cannot be read now stay open (and say so)."""
        results: list[Reconciled] = []
        for entry in self.open_intents(include_own=include_own):
            result = await self._settle(entry, providers)
            if result.outcome is not None and not self.finish(entry.id, result.outcome, result.message,
                                                              only_open=True):
                continue          # another process settled it first
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    async def _settle(self, entry: JournalEntry, providers: Mapping[str, Any]) -> Reconciled:
        if entry.outcome == "queued":
            return Reconciled(entry, "cancelled", "not sent: rectui stopped before this item")
        provider = providers.get(entry.provider)
        if provider is None:
            return Reconciled(entry, None, f"still open: provider {entry.provider!r} is not configured")
        try:
            rec = await provider.get_recording(entry.recording_id)
        except NotFound:
            if entry.op in ("delete", "purge"):
                return Reconciled(entry, "deleted-confirmed-by-404", "checked after rectui stopped: it is gone (404)")
            return Reconciled(entry, "failed", "checked after rectui stopped: the recording is gone")
        except RectuiError as exc:
            return Reconciled(entry, None, f"still open: checking failed ({exc.title}: {exc.message})")
        return Reconciled(entry, *_judge(entry, rec))

    def _prune_journal(self) -> None:
        try:
            with self._tx("prune the journal") as c:
                c.execute("DELETE FROM journal WHERE outcome NOT IN ('queued', 'pending') AND id <= "
                          "(SELECT id FROM journal ORDER BY id DESC LIMIT 1 OFFSET ?)", (JOURNAL_KEEP,))
        except StoreError:
            pass                  # a busy or full store still opens for reading


def _judge(entry: JournalEntry, rec: Recording) -> tuple[str, str]:
    """The outcome of a pending entry, given the recording as it is now."""
    where = "checked after rectui stopped"
    if entry.op == "delete":
        if rec.status in ("deleted", "purged"):
            return "deleted-confirmed-by-404", f"{where}: it is in the recycle bin"
        return "failed", f"{where}: still there, so it was not deleted"
    if entry.op == "purge":
        return "failed", f"{where}: still there, so it was not purged"
    if entry.op == "restore":
        if rec.status == "available":
            return "done", f"{where}: it is back"
        return "failed", f"{where}: still in the recycle bin"
    if entry.op == "tag":
        wanted = entry.request.get("server_tags")
        if isinstance(wanted, list):
            if clean_tags(wanted) == rec.tags:
                return "done", f"{where}: the server shows the tags"
            return "failed", f"{where}: the server does not show the tags"
    if entry.op == "rename":
        fields = entry.request.get("fields")
        if isinstance(fields, dict):
            title = fields.get("title", fields.get("name"))
            if isinstance(title, str):
                if one_line(title).strip() == rec.title.strip():
                    return "done", f"{where}: the new name is there"
                return "failed", f"{where}: the name did not change"
    return "unknown", f"{where}: cannot tell from the recording whether it was done"


class _Foreign(Exception):
    """The file is not a usable rectui store (damaged, not SQLite, another program's)."""


def _kind(exc: sqlite3.Error) -> str:
    """busy | full | readonly | damaged | io | other, from the SQLite error code or message."""
    name = (getattr(exc, "sqlite_errorname", None) or "").upper()
    text = str(exc).lower()
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text or "busy" in text:
        return "busy"
    if name.startswith("SQLITE_FULL") or "disk is full" in text or "disk full" in text:
        return "full"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM", "SQLITE_AUTH")) or \
            "readonly" in text or "unable to open" in text or "permission" in text:
        return "readonly"
    if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text or "not a database" in text:
        return "damaged"
    if name.startswith("SQLITE_IOERR") or "disk i/o" in text:
        return "io"
    return "other"


__all__ = [
    "FINAL_OUTCOMES", "OPEN_OUTCOMES", "CachedListing", "CachedRows", "JournalEntry", "Outcome", "Reconciled",
    "Store", "StoreError", "TagSet", "clean_tag", "clean_tags", "listing_key",
]
