"""Waveform peaks and save-as (WAV and MP3, never overwriting unasked)."""

from __future__ import annotations

import array
from pathlib import Path

import pytest

from rectui.audio import EmptyAudio, PcmFile, peaks, save_as, start_decode
from rectui.audio.convert import wav_header
from rectui.mediafiles import sniff_file


def pcm_of(tmp_path: Path, samples: list[int], rate: int = 8000, name: str = "s") -> PcmFile:
    data = array.array("h", samples).tobytes()
    src = tmp_path / f"{name}.wav"
    src.write_bytes(wav_header(rate, 1, len(data)) + data)
    pcm = start_decode(src, tmp_path / f"{name}-pcm.wav")
    assert pcm.wait_done(30) and pcm.ok, pcm.error
    return pcm


def test_peaks_follow_the_loudness_of_each_bucket(tmp_path: Path) -> None:
    quiet, loud, silent = [1000, -1000] * 2000, [16384, -32768] * 2000, [0] * 4000
    pcm = pcm_of(tmp_path, quiet + loud + silent + loud)
    try:
        got = peaks(pcm, 4)
        assert got == pytest.approx([1000 / 32768, 1.0, 0.0, 1.0], abs=1e-4)
        assert len(peaks(pcm, 1000)) == 1000 and all(0.0 <= p <= 1.0 for p in peaks(pcm, 1000))
        assert len(peaks(pcm, 100_000)) == 100_000                 # more buckets than frames
        assert peaks(pcm, 0) == []
        assert peaks(pcm, 2, frames=8000) == pytest.approx([1000 / 32768, 1.0], abs=1e-4)
    finally:
        pcm.close()


def test_save_as_wav_is_the_decoded_pcm_with_a_header(tone_pcm, tmp_path: Path) -> None:
    pcm = tone_pcm(seconds=1.0, rate=16000)
    (tmp_path / "out").mkdir()
    dest = save_as(pcm, tmp_path / "out" / "call.wav", "wav")
    assert sniff_file(dest) == "wav"
    body = dest.read_bytes()
    assert body[:44] == wav_header(16000, 1, pcm.frames_ready * 2)
    assert body[44:] == pcm.read(0, pcm.frames_ready)
    assert [p.name for p in dest.parent.iterdir()] == ["call.wav"]          # no temporary file left


def test_save_as_mp3_encodes_with_ffmpeg(tone_pcm, tmp_path: Path) -> None:
    pcm = tone_pcm(seconds=2.0, rate=22050, channels=2)
    dest = save_as(pcm, tmp_path / "call.mp3", "mp3")
    assert sniff_file(dest) == "mp3" and 0 < dest.stat().st_size < pcm.frames_ready * 4 / 5
    again = start_decode(dest, tmp_path / "check.wav")
    try:
        assert again.wait_done(30) and again.ok
        assert again.duration == pytest.approx(2.0, abs=0.1) and again.channels == 2
    finally:
        again.close()


def test_save_as_never_overwrites_unless_asked(tone_pcm, tmp_path: Path) -> None:
    pcm = tone_pcm(seconds=0.5)
    dest = tmp_path / "mine.wav"
    dest.write_bytes(b"precious")
    for fmt in ("wav", "mp3"):
        with pytest.raises(FileExistsError):
            save_as(pcm, dest, fmt)  # type: ignore[arg-type]
    assert dest.read_bytes() == b"precious"
    save_as(pcm, dest, "wav", overwrite=True)
    assert sniff_file(dest) == "wav"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with pytest.raises(ValueError):
        save_as(pcm, tmp_path / "x.flac", "flac")  # type: ignore[arg-type]


def test_save_as_of_an_empty_recording_says_so(tmp_path: Path) -> None:
    src = tmp_path / "e.wav"
    src.write_bytes(wav_header(8000, 1, 0))
    pcm = start_decode(src, tmp_path / "e-pcm.wav")
    try:
        with pytest.raises(EmptyAudio):
            save_as(pcm, tmp_path / "e-out.wav", "wav")
        assert not (tmp_path / "e-out.wav").exists()
    finally:
        pcm.close()
