"""The local store: tags, the listing cache, the journal and its reconciliation, migrations, bad
files moved aside, two processes at once, and failures (busy, disk full, unwritable) as clear
errors. CI runs as root, which ignores file modes: failures are injected at the write or made
with a resource limit."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rectui import store as store_mod
from rectui.errors import NotFound, Unavailable
from rectui.models import ListQuery, Recording
from rectui.store import APPLICATION_ID, SCHEMA_VERSION, Store, StoreError, listing_key


def rec(i: int, provider: str = "kazoo", **kw: Any) -> Recording:
    return Recording(provider=provider, id=f"rec-{i:06d}", title=kw.pop("title", f"Call {i}"),
                     start=datetime(2026, 11, 1, tzinfo=UTC), duration=float(i % 300), raw={"big": "x" * 50}, **kw)


def pages(n: int, size: int = 100, provider: str = "kazoo") -> list[list[Recording]]:
    return [[rec(i, provider) for i in range(p, min(n, p + size))] for p in range(0, n, size)]


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "rectui.db"


def _reaped() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def orphan(path: Path, *, pid: int | None = None) -> None:
    """Make every open journal row look written by a process that is gone."""
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE journal SET owner_session = 'gone', owner_pid = ?", (pid or _reaped(),))


# -- tags --------------------------------------------------------------------------------------------

def test_local_tags_round_trip_are_cleaned_and_survive_a_restart(path: Path) -> None:
    st = Store(path)
    assert st.change_local_tags("rc", "R1", add=["vip", " spaced ", "[@click=app.quit]x", "a\x1b[2Jb", "\ud800",
                                                "y" * 500]) == {"vip", "spaced", "[@click=app.quit]x",
                                                                  "a\ufffd[2Jb", "\ufffd", "y" * 99 + "…"}
    assert st.change_local_tags("rc", "R1", remove=["spaced", "y" * 99 + "…", "\ufffd"]) == \
        {"vip", "[@click=app.quit]x", "a\ufffd[2Jb"}
    st.set_local_tags("rc", "R2", ["one"])
    st.close()
    again = Store(path)
    assert again.tags_for("rc", "R1").local == {"vip", "[@click=app.quit]x", "a\ufffd[2Jb"}
    assert again.tags_for_many("rc", ["R1", "R2", "R3"]).keys() == {"R1", "R2"}
    assert sorted((p, r) for p, r, _ in again.tagged()) == [("rc", "R1"), ("rc", "R2")]
    assert again.tags_for("other", "R1").all == set()             # keyed by provider instance too
    again.close()


def test_server_tags_are_recorded_beside_local_ones(path: Path) -> None:
    st = Store(path, clock=Clock())
    st.cache_page("kz", "{}", 1, [rec(1, "kz", tags=frozenset({"qa"})), rec(2, "kz")], server_tags=True)
    st.change_local_tags("kz", "rec-000001", add=["mine"])
    tags = st.tags_for("kz", "rec-000001")
    assert tags.server == {"qa"} and tags.local == {"mine"} and tags.all == {"qa", "mine"}
    assert tags.server_seen_at == 1_800_000_000.0
    st.record_server_tags("kz", "rec-000001", [])
    assert st.tags_for("kz", "rec-000001").server == set()
    st.close()


# -- listing cache -----------------------------------------------------------------------------------

def test_listing_cache_round_trip_pages_decoded_lazily(path: Path) -> None:
    clock = Clock()
    st = Store(path, clock=clock)
    key = listing_key(ListQuery(since=datetime(2026, 1, 1, tzinfo=UTC), page_size=50))
    assert key == listing_key(ListQuery(since=datetime(2026, 1, 1, tzinfo=UTC), page_size=100))
    assert key != listing_key(ListQuery())
    for n, page in enumerate(pages(250), 1):
        assert st.cache_page("kz", key, n, page, total=250)
    clock.now += 180
    listing = st.load_listing("kz", key)
    assert listing is not None and listing.total == 250 and listing.pages == 3 and len(listing.rows) == 250
    assert listing.describe_age(clock.now) == "cached 3 min ago"
    assert listing.rows[0] == rec(0).model_copy(update={"raw": {}})            # `raw` is not cached
    assert listing.rows[-1].id == "rec-000249" and [r.id for r in listing.rows[98:102]] == \
        ["rec-000098", "rec-000099", "rec-000100", "rec-000101"]
    assert listing.rows._decoded.keys() == {0, 1, 2}
    fresh = st.load_listing("kz", key)
    assert fresh is not None and fresh.rows[120].id == "rec-000120" and fresh.rows._decoded.keys() == {1}
    assert st.load_listing("kz", "nope") is None
    assert [len(chunk) for chunk in st.iter_cached("kz", key)] == [100, 100, 50]
    st.cache_page("kz", key, 1, pages(10)[0])                       # page 1 again: a new snapshot
    again = st.load_listing("kz", key)
    assert again is not None and len(again.rows) == 10 and again.describe_age(clock.now) == "cached just now"
    st.close()


def test_a_cached_page_edited_by_hand_is_cleaned_again_and_a_damaged_one_reads_empty(path: Path) -> None:
    import zlib
    st = Store(path)
    st.cache_listing("kz", "{}", [[rec(1), rec(2)], [rec(3)]])
    with sqlite3.connect(path) as conn:
        (blob,) = conn.execute("SELECT data FROM listing_pages WHERE page_no = 1").fetchone()
        text = zlib.decompress(blob).decode().replace("Call 1", "Call \\u001b]0;pwned\\u0007 1")
        conn.execute("UPDATE listing_pages SET data = ? WHERE page_no = 1", (zlib.compress(text.encode()),))
        conn.execute("UPDATE listing_pages SET data = ? WHERE page_no = 2", (b"not zlib",))
    listing = st.load_listing("kz")
    assert listing is not None and len(listing.rows) == 3
    assert listing.rows[0].title == "Call \ufffd]0;pwned\ufffd 1" and listing.rows[1].title == "Call 2"
    assert listing.rows[2].title == "(unreadable cached row)" and not listing.rows[2].id_valid
    st.close()


def test_the_cache_is_bounded(path: Path) -> None:
    clock = Clock()
    st = Store(path, clock=clock, max_rows_per_listing=250, max_listings_per_provider=2, max_cache_bytes=10**9)
    assert [st.cache_page("kz", "a", n, p) for n, p in enumerate(pages(400), 1)] == [True, True, False, False]
    for key in ("b", "c"):
        clock.now += 1
        st.cache_page("kz", key, 1, pages(5)[0])
    assert st.load_listing("kz", "a") is None                       # least recently used went first
    assert st.cache_listing("rc", "x", pages(300, provider="rc")) == 200       # whole pages only
    small = Store(path.with_name("small.db"), clock=clock, max_cache_bytes=1)
    for key in ("1", "2", "3"):
        clock.now += 1
        small.cache_page("kz", key, 1, pages(50)[0])
    assert [k for _, k, _, _ in small.cached_listings()] == ["3"]     # only the newest fits
    st.close()
    small.close()


# -- journal and reconciliation ----------------------------------------------------------------------

def test_journal_lifecycle(path: Path) -> None:
    st = Store(path)
    ids = st.begin_batch("delete", "kz", [("A", "Call A"), ("B", "Bad \x1b]0;title\x07 \ud800")], {"batch": 2})
    st.mark_pending(ids[0])
    st.finish(ids[0], "deleted", "deleted")
    st.mark_pending(ids[1])
    with pytest.raises(ValueError):
        st.finish(ids[1], "pending")
    entries = st.journal()
    assert [(e.recording_id, e.outcome, e.attempts) for e in entries] == [("B", "pending", 1), ("A", "deleted", 1)]
    assert entries[0].title == "Bad \ufffd]0;title\ufffd \ufffd" and entries[0].request == {"batch": 2}
    assert [e.recording_id for e in st.journal(open_only=True)] == ["B"]
    assert st.open_intents() == []                                 # this process is alive
    assert [e.recording_id for e in st.open_intents(include_own=True)] == ["B"]
    other = Store(path)                                            # another store in this same process
    assert other.open_intents() == []
    st.record("tag", "rc", "C", "Call C", "done", request={"add": ["x"]})
    assert st.journal(provider="rc")[0].outcome == "done"
    st.close()
    other.close()


class FakeProvider:
    def __init__(self, present: dict[str, Recording], failing: set[str] = frozenset()) -> None:  # type: ignore[assignment]
        self.present = present
        self.failing = failing
        self.asked: list[str] = []

    async def get_recording(self, rid: str) -> Recording:
        self.asked.append(rid)
        if rid in self.failing:
            raise Unavailable("GET …: the server failed (503)", provider="kz", status=503)
        if rid not in self.present:
            raise NotFound("GET …: not found", provider="kz", status=404)
        return self.present[rid]


async def test_reconcile_settles_the_intents_of_a_process_that_is_gone(path: Path) -> None:
    st = Store(path)
    deletes = st.begin_batch("delete", "kz", [(i, i) for i in ("gone", "there", "binned", "flaky", "never")])
    for eid in deletes[:4]:
        st.mark_pending(eid)
    restore = st.begin_batch("restore", "wx", [("back", "b")])
    st.mark_pending(restore[0])
    elsewhere = st.begin_batch("delete", "nowhere", [("x", "x")])
    st.mark_pending(elsewhere[0])
    tag = st.begin_batch("tag", "kz", [("there", "t")], {"add": ["vip"], "remove": []})
    st.mark_pending(tag[0])
    st.close()
    orphan(path)

    later = Store(path)
    kz = FakeProvider({"there": rec(1, "kz", tags=frozenset({"vip"})), "binned": rec(2, "kz", status="deleted")},
                      failing={"flaky"})
    wx = FakeProvider({"back": rec(3, "wx")})
    heard: list[Any] = []
    results = await later.reconcile({"kz": kz, "wx": wx}, on_result=heard.append)
    got = {(r.entry.op, r.entry.recording_id): r.outcome for r in results}
    assert got == {("delete", "gone"): "deleted-confirmed-by-404", ("delete", "there"): "failed",
                   ("delete", "binned"): "deleted-confirmed-by-404", ("delete", "flaky"): None,
                   ("delete", "never"): "cancelled", ("restore", "back"): "done", ("delete", "x"): None,
                   ("tag", "there"): "unknown"}
    assert len(heard) == len(results) and "never" not in kz.asked        # queued rows are not read
    assert {e.recording_id for e in later.open_intents()} == {"flaky", "x"}       # still open, said so
    assert "checking failed" in next(r.message for r in results if r.entry.recording_id == "flaky")
    assert (await later.reconcile({"kz": FakeProvider({})}))[0].outcome == "deleted-confirmed-by-404"
    later.close()


# -- schema, migrations, bad files --------------------------------------------------------------------

def test_a_fresh_store_is_marked_versioned_private_and_in_wal_mode(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700


def test_forward_migration_keeps_the_data(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    st = Store(path)
    st.change_local_tags("kz", "R", add=["keep"])
    st.close()
    monkeypatch.setattr(store_mod, "MIGRATIONS", {**store_mod.MIGRATIONS,
                                                  2: ("ALTER TABLE local_tags ADD COLUMN colour TEXT",)})
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", 2)
    st = Store(path)
    assert st.local_tags("kz", "R") == {"keep"}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        assert "colour" in [r[1] for r in conn.execute("PRAGMA table_info(local_tags)")]
    st.close()


def test_a_store_from_a_newer_rectui_is_refused_and_left_alone(path: Path) -> None:
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer rectui"):
        Store(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("content", [b"this is a text file, not a database\n" * 20,
                                     store_mod.SQLITE_MAGIC + os.urandom(4096)], ids=["text", "damaged"])
def test_a_corrupt_file_is_moved_aside_never_wiped(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    st = Store(path)
    assert st.moved_aside is not None and st.moved_aside.read_bytes() == content
    assert st.notice is not None and "moved to" in st.notice and "nothing was deleted" in st.notice
    st.change_local_tags("kz", "R", add=["works"])
    assert st.integrity_check() == "ok"
    st.close()


def test_another_programs_database_is_moved_aside(path: Path) -> None:
    path.parent.mkdir(parents=True)
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE mail (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO mail (body) VALUES ('precious')")
    st = Store(path)
    assert st.moved_aside is not None and "another program" in (st.notice or "")
    with sqlite3.connect(st.moved_aside) as conn:
        assert conn.execute("SELECT body FROM mail").fetchone() == ("precious",)
    st.close()


# -- two processes, busy, failures ------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from rectui.store import Store
    st = Store(Path(sys.argv[1]))
    me = sys.argv[2]
    for i in range(150):
        st.change_local_tags("kz", f"{me}-{i}", add=[f"t{i}"])
        ids = st.begin_batch("delete", "kz", [(f"{me}-{i}", "t")])
        st.mark_pending(ids[0])
        st.finish(ids[0], "deleted")
    print("ok")
""")


def test_two_processes_writing_at_once_keep_the_store_whole(path: Path) -> None:
    Store(path).close()
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [o for o, _ in outs] == ["ok\n", "ok\n"], [e for _, e in outs]
    st = Store(path)
    assert st.integrity_check() == "ok"
    assert len(st.journal(limit=None)) == 300 and all(e.outcome == "deleted" for e in st.journal(limit=None))
    assert len(list(st.tagged())) == 300
    st.close()


def test_a_busy_store_says_so(path: Path) -> None:
    st = Store(path, busy_timeout=0)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as info:
            st.change_local_tags("kz", "R", add=["x"])
        assert info.value.title == "Store busy" and "another rectui" in info.value.message
        assert info.value.message.startswith("Local store rectui.db: cannot save tags: it is busy")
        assert st.local_tags("kz", "R") == set()                  # reading still works under WAL
    finally:
        other.execute("ROLLBACK")
        other.close()
    st.change_local_tags("kz", "R", add=["x"])
    st.close()


def test_an_unwritable_or_impossible_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="cannot create its folder"):
        Store(blocker / "rectui.db")                               # a file where the folder should be

    def refused(*_a: Any, **_k: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "mkdir", refused)
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "x" / "rectui.db")
    assert info.value.title == "Store not writable" and "permission denied" in info.value.message

    def full(*_a: Any, **_k: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.undo()
    monkeypatch.setattr(os, "open", full)
    with pytest.raises(StoreError) as info:
        Store(tmp_path / "y" / "rectui.db")
    assert info.value.title == "Disk full" and "disk is full" in info.value.message


def test_disk_full_at_a_write_is_an_error_and_reading_goes_on(path: Path) -> None:
    class FullConnection(sqlite3.Connection):
        full = False

        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if FullConnection.full and sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
                raise sqlite3.OperationalError("database or disk is full")
            return super().execute(sql, *args)

        def executemany(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
            if FullConnection.full:
                raise sqlite3.OperationalError("database or disk is full")
            return super().executemany(sql, *args)

    st = Store(path, connect=lambda *a, **k: sqlite3.connect(*a, factory=FullConnection, **k))
    st.change_local_tags("kz", "R", add=["before"])
    FullConnection.full = True
    for call in (lambda: st.change_local_tags("kz", "R", add=["after"]),
                 lambda: st.begin_batch("delete", "kz", [("R", "r")]),
                 lambda: st.cache_page("kz", "{}", 1, [rec(1)])):
        with pytest.raises(StoreError) as info:
            call()
        assert info.value.title == "Disk full" and "Free some space" in info.value.message
    assert st.local_tags("kz", "R") == {"before"}
    FullConnection.full = False
    assert st.integrity_check() == "ok"
    st.close()


FSIZE = textwrap.dedent("""
    import os, resource, signal, sys
    from pathlib import Path
    from rectui.models import Recording
    from rectui.store import Store, StoreError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    st = Store(Path(sys.argv[1]))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))
    rows = [Recording(provider="p", id=str(i), title=os.urandom(200).hex()) for i in range(3000)]
    try:
        st.cache_listing("p", "{}", [rows[i:i + 100] for i in range(0, 3000, 100)])
    except StoreError as exc:
        print(exc.title, "|", exc.message)
        print(sorted(st.local_tags("p", "x")))
        sys.exit(3)
    print("written")
""")


def test_a_file_size_limit_mid_write_is_a_clear_error_not_a_crash(path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", FSIZE, str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    title, _, message = proc.stdout.splitlines()[0].partition(" | ")
    assert title in ("Disk full", "Store write failed")
    assert "cache a listing" in message and "Free some space" in message
    assert "Traceback" not in proc.stderr
    st = Store(path)
    assert st.integrity_check() == "ok" and st.load_listing("p") is None
    st.close()
