"""Bench section ``sessions``: many sessions opening gallery images at the defaults, all at once, on a fresh server.

``streamlit run app.py`` starts on a free port (with the environment's store of precomputed results, zoo and
device). As soon as it answers its health check, every session opens Streamlit's websocket and asks for its page
as a browser does (session k: ``/page?img=images[k % len(images)]``), all at once. Per session: the seconds from
its request until the server has sent its first chart, and until its script finished; whether it was sent a
"Run it" button, an error or an exception. For the server process: the CPU time the sessions took (which other
jobs on the machine do not change), its resident memory before the sessions and its peak (VmHWM). No browser
runs, so the numbers are the server's: a browser adds its own drawing of each chart.

``python -m mimi.bench.sessions --sessions 30 --images 0,10 --page interactions`` runs it alone; ``mimi bench
--only sessions`` runs 30 sessions on /interactions over the first image of each class (``--quick``: 5).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
FIRST_OF_EACH_CLASS = tuple(range(0, 100, 10))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _memory_mib(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak resident memory) of process ``pid`` in MiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` has used (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    """A fresh ``streamlit run app.py`` until it answers its health check: (its URL, its pid)."""
    port = _free_port()
    with open(log, "w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
             "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 120
            while True:
                try:
                    if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                        break
                except OSError:
                    if time.time() > deadline or process.poll() is not None:
                        raise RuntimeError(f"streamlit did not start; see {log}")
                    time.sleep(0.3)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


async def session(url: str, page: str, query: str, timeout_s: float) -> dict:
    """One session asking for ``page`` with ``query`` over Streamlit's websocket: seconds to the first chart sent
    and to the end of the script, "Run it" buttons, error alerts and exceptions sent."""
    # deferred: only a live-server benchmark needs the websocket client and Streamlit's protocol
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    result = {"first_chart_s": None, "page_s": None, "run_it": 0, "errors": []}
    request = BackMsg()
    request.rerun_script.query_string, request.rerun_script.page_name = query, page
    start = time.perf_counter()
    async with websockets.connect(url.replace("http", "ws", 1) + "/_stcore/stream", subprotocols=["streamlit"],
                                  max_size=None, open_timeout=timeout_s) as socket_:
        await socket_.send(request.SerializeToString())
        while result["page_s"] is None:
            message = ForwardMsg()
            message.ParseFromString(await asyncio.wait_for(socket_.recv(), timeout_s))
            kind = message.WhichOneof("type")
            if kind == "script_finished":
                result["page_s"] = time.perf_counter() - start
            if kind != "delta" or message.delta.WhichOneof("type") != "new_element":
                continue
            element = message.delta.new_element
            shown = element.WhichOneof("type")
            if shown == "plotly_chart" and result["first_chart_s"] is None:
                result["first_chart_s"] = time.perf_counter() - start
            elif shown == "button" and element.button.label.startswith("Run it"):
                result["run_it"] += 1
            elif shown == "alert" and element.alert.format == element.alert.ERROR:
                result["errors"].append(element.alert.body[:200])
            elif shown == "exception":
                result["errors"].append(f"{element.exception.type}: {element.exception.message[:200]}")
    return result


async def _all(url: str, page: str, queries: list[str], timeout_s: float) -> list[dict]:
    return await asyncio.gather(*(session(url, page, query, timeout_s) for query in queries))


def measure(sessions: int = 30, images=FIRST_OF_EACH_CLASS, page: str = "interactions", timeout_s: float = 600,
            env: dict[str, str] | None = None, warm: bool = False, query: str = "") -> dict:
    """``sessions`` sessions at once, each opening ``/page?img=...`` (and ``&query``: other settings), on a fresh
    server (environment ``env``); ``warm``: after one session on the home page (the app's modules imported, no
    result computed or read)."""
    env = {**os.environ, "MIMI_DEVICE": "cpu", **(env or {})}
    queries = [f"img={images[k % len(images)]}" + (f"&{query}" if query else "") for k in range(sessions)]
    with tempfile.TemporaryDirectory() as tmp, server(env, Path(tmp) / "streamlit.log") as (url, pid):
        if warm:
            asyncio.run(session(url, "", "", timeout_s))
        before, cpu, load = _memory_mib(pid), _cpu_seconds(pid), os.getloadavg()[0]
        start = time.perf_counter()
        results = asyncio.run(_all(url, page, queries, timeout_s))
        wall = time.perf_counter() - start
        after, cpu = _memory_mib(pid), _cpu_seconds(pid) - cpu
    firsts = sorted(r["first_chart_s"] for r in results if r["first_chart_s"] is not None)
    pages = sorted(r["page_s"] for r in results)
    used = sorted({images[k % len(images)] for k in range(sessions)})
    return {"sessions": sessions, "page": page, "images": used, "warm": warm, "wall_s": wall,
            "server_cpu_s": cpu,
            "load_average_before": load,
            "first_chart_median_s": statistics.median(firsts) if firsts else None,
            "first_chart_worst_s": firsts[-1] if len(firsts) == sessions else None,
            "page_median_s": statistics.median(pages), "page_worst_s": pages[-1],
            "without_chart": sessions - len(firsts), "asked_run_it": sum(r["run_it"] > 0 for r in results),
            "with_errors": sum(bool(r["errors"]) for r in results),
            "server_rss_before_mib": before["VmRSS"], "server_rss_peak_mib": after["VmHWM"],
            "server_rss_after_mib": after["VmRSS"], "per_session": results}


def run(quick: bool = False, device: str = "cpu") -> dict:
    result = measure(sessions=5 if quick else 30, env={"MIMI_DEVICE": device})
    n, page = result["sessions"], result["page"]

    def seconds(value):
        return round(value, 2) if value is not None else "none"

    rows = [[f"sessions: {n} at once on /{page}, first chart sent, median [s]",
             seconds(result["first_chart_median_s"]), "< 2"],
            [f"sessions: {n} at once on /{page}, first chart sent, worst [s]",
             seconds(result["first_chart_worst_s"]), "< 2"],
            [f"sessions: {n} at once on /{page}, whole page, worst [s]", seconds(result["page_worst_s"]), ""],
            [f"sessions: {n} at once, sent 'Run it'", result["asked_run_it"], "= 0"],
            [f"sessions: {n} at once, server CPU time per session [s]", round(result["server_cpu_s"] / n, 3), ""],
            [f"sessions: {n} at once, server memory before / peak [MiB]",
             f"{result['server_rss_before_mib']:.0f} / {result['server_rss_peak_mib']:.0f}", ""]]
    notes = [f"gallery images {', '.join(map(str, result['images']))} at the defaults over Streamlit's websocket "
             f"(no browser); store: {os.environ.get('MIMI_PRECOMPUTED_DIR') or 'assets/precomputed'}; load average "
             f"before: {result['load_average_before']:.1f} (other jobs on the machine slow every number but CPU time)"]
    return {"rows": rows, "notes": notes, **{k: v for k, v in result.items() if k != "per_session"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mimi.bench.sessions", description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--images", default=",".join(map(str, FIRST_OF_EACH_CLASS)), help="gallery indices")
    parser.add_argument("--page", default="interactions", help="url path of the page (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per message (default %(default)s)")
    parser.add_argument("--warm", action="store_true", help="one session on the home page first (the app's modules "
                                                             "imported), then the sessions")
    parser.add_argument("--json", help="write the measurements (every session's too) to this file")
    args = parser.parse_args(argv)
    images = [int(i) for i in args.images.split(",")]
    result = measure(args.sessions, images, args.page, args.timeout, warm=args.warm)
    print(json.dumps({k: v for k, v in result.items() if k != "per_session"}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
