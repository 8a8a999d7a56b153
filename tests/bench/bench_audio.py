"""Audio benchmark. Prints figures; asserts nothing.

1. Key press → first sample written to the device, for 1-, 10- and 60-minute MP3s (48 kHz
   stereo, 128 kbit/s, made with the bundled ffmpeg), through `start_decode` and a
   `SimpleaudioPlayer` into the silent ALSA capture device of `tests/alsa/capture.conf`; as a
   ratio to a bare full ffmpeg decode of the same file in the same run (goal ≤ 1.3× for 10
   minutes; stretch: under 0.25 s whatever the length). Median of `--runs`.
2. Decode throughput (audio seconds per wall second, PCM MB/s) for each length.
3. Player command latency while the 60-minute file decodes (every method must return at once;
   the UI's own input latency is measured by bench_ui.py).
4. Peak RSS of a process that decodes and plays the 60-minute 48 kHz stereo recording (about
   690 MB of PCM), seeks through it and computes its waveform (goal ≤ 250 MB), measured with
   `resource.getrusage` in a subprocess; ffmpeg's own peak is printed apart.

    .venv/bin/python tests/bench/bench_audio.py [--runs 3] [--skip-rss]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import pct

from rectui.audio import SimpleaudioPlayer, peaks, start_decode
from rectui.audio.tools import ffmpeg_exe

CAPTURE_CONF = Path(__file__).parents[1] / "alsa" / "capture.conf"
LENGTHS = (1, 10, 60)


def make_mp3(path: Path, minutes: int) -> Path:
    """`minutes` of 48 kHz stereo MP3: 10 s of two tones encoded once, frames repeated."""
    if path.exists():
        return path
    block = path.with_suffix(".block.mp3")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=f=330:r=48000:d=10",
                    "-f", "lavfi", "-i", "sine=f=550:r=48000:d=10", "-filter_complex", "amerge=inputs=2",
                    "-c:a", "libmp3lame", "-b:a", "128k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3",
                    str(block)], check=True)
    data = block.read_bytes()
    block.unlink()
    with path.open("wb") as fh:
        for _ in range(minutes * 6):
            fh.write(data)
    return path


def bare_decode(path: Path) -> float:
    t0 = time.perf_counter()
    with path.open("rb") as src:
        subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "mp3", "-i", "pipe:0", "-f", "s16le", "-acodec",
                        "pcm_s16le", "pipe:1"], stdin=src, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0


def first_sample(path: Path, work: Path, capture: Path) -> tuple[float, float, float]:
    """(seconds to the first byte at the device, seconds to decode it all, audio seconds)."""
    capture.unlink(missing_ok=True)
    dest = work / f"{path.stem}-{time.perf_counter_ns()}.wav"
    player = SimpleaudioPlayer()
    t0 = time.perf_counter()                                  # the key press
    pcm = start_decode(path, dest)
    player.load(pcm)
    player.play()
    while not (capture.exists() and capture.stat().st_size > 0):
        time.sleep(0.0005)
    first = time.perf_counter() - t0
    pcm.wait_done()
    decoded = time.perf_counter() - t0
    seconds = pcm.duration or 0.0
    player.close()                                            # closes the PcmFile
    dest.unlink(missing_ok=True)
    return first, decoded, seconds


def command_latency(path: Path, work: Path) -> list[float]:
    player = SimpleaudioPlayer()
    pcm = start_decode(path, work / "latency.wav")
    player.load(pcm)
    player.play()
    times: list[float] = []
    commands = [player.snapshot, lambda: player.seek_by(5), player.faster, player.slower, player.quieter,
                player.louder, player.toggle_mute, player.toggle, lambda: player.seek_percent(10)]
    i = 0
    while not pcm.done:
        t0 = time.perf_counter()
        commands[i % len(commands)]()
        times.append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.01)
    player.close()
    (work / "latency.wav").unlink(missing_ok=True)
    return times


RSS_CHILD = r"""
import resource, sys, time
from pathlib import Path
from rectui.audio import SimpleaudioPlayer, peaks, start_decode
src, dest = Path(sys.argv[1]), Path(sys.argv[2])
pcm = start_decode(src, dest)
player = SimpleaudioPlayer()
player.load(pcm.retain())
player.play()
for p in (10, 50, 90, 30):           # seek through it while it decodes
    time.sleep(0.3)
    player.seek_percent(p)
pcm.wait_done()
for p in range(0, 100, 7):          # and once it is all there
    player.seek_percent(p)
    time.sleep(0.05)
t0 = time.perf_counter()
wave = peaks(pcm, 2000)
took = time.perf_counter() - t0
player.close()
pcm.close()
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(f"{me:.1f} {kids:.1f} {took:.3f} {pcm.frames_ready * pcm.frame_bytes / 1e6:.0f}")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-rss", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rectui-bench-audio-") as tmp:
        work = Path(tmp)
        capture = work / "played.raw"
        os.environ["ALSA_CONFIG_PATH"] = str(CAPTURE_CONF)
        os.environ["RECTUI_ALSA_CAPTURE"] = str(capture)
        files = {m: make_mp3(work / f"{m}min.mp3", m) for m in LENGTHS}
        print("key press → first sample at the device (48 kHz stereo MP3, median of runs)")
        for minutes, path in files.items():
            bare = statistics.median(bare_decode(path) for _ in range(args.runs))
            runs = [first_sample(path, work, capture) for _ in range(args.runs)]
            first = statistics.median(r[0] for r in runs)
            full = statistics.median(r[1] for r in runs)
            seconds = runs[0][2]
            mb = seconds * 48000 * 4 / 1e6
            print(f"  {minutes:>2} min: first sample {first * 1000:7.1f} ms | bare ffmpeg decode {bare * 1000:7.1f} ms"
                  f" | ratio {first / bare:5.2f}× | our full decode {full:6.2f} s = {seconds / full:6.0f}× real "
                  f"time, {mb / full:6.1f} MB/s of PCM")
        lat = command_latency(files[60], work)
        print(f"player commands while the 60-min file decodes: n={len(lat)} p50={pct(lat, 50) * 1000:.3f} ms "
              f"p99={pct(lat, 99) * 1000:.3f} ms max={max(lat) * 1000:.3f} ms")
        pcm = start_decode(files[10], work / "w.wav")
        pcm.wait_done()
        t0 = time.perf_counter()
        peaks(pcm, 2000)
        print(f"waveform of 10 min (115 MB PCM), 2000 buckets: {(time.perf_counter() - t0) * 1000:.0f} ms")
        pcm.close()
        if not args.skip_rss:
            out = subprocess.run([sys.executable, "-c", RSS_CHILD, str(files[60]), str(work / "rss.wav")],
                                 capture_output=True, text=True, check=True, env=os.environ).stdout.split()
            print(f"peak RSS playing 60 min 48 kHz stereo ({out[3]} MB of PCM): process {out[0]} MB "
                  f"(goal ≤ 250), ffmpeg {out[1]} MB; waveform of it {float(out[2]):.2f} s")


if __name__ == "__main__":
    main()
