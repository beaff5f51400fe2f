"""The job engine of every batch computation: a folder of job results, filled resumably, in-process or on Ray.

A *study folder* holds ``DIR/study.json``, the manifest (what every job depends on, and the list of jobs), and
``DIR/jobs/<key>.json``, each job's result (or its failure), written atomically when the job ends. The interaction
study (:mod:`mimi.batch.study`) and the gallery studies (:mod:`mimi.batch.gallery`: the gallery references and the
defenses studies) are plans this engine runs: a plan has a ``manifest``, its ``jobs`` (each with a ``key``, a
``model`` name and an ``image`` in words), the loaded ``models`` and a ``runner``, a small picklable callable
``runner(model, job, device=, batch_size=)`` that computes one job's result (the engine sets the job's torch
threads around it). A manifest has ``params`` (compared when a folder is run again), ``jobs`` (records with ``key``,
``model`` and ``image``), optionally ``skipped``, and the type name of its jobs' results (``job_result``); each result
type says what is wrong with a file of it (``problem(manifest)``, "" when nothing).

Running a plan again runs only the jobs without a result: those never run, those that failed, and those whose file
is corrupt (moved aside to ``<key>.json.corrupt`` and reported). A folder that holds other parameters is refused
unless ``force``: its manifest is then replaced, and result files whose inputs still match (their name is the hash
of their inputs) are reused.

Ray (``ray`` = "local" or a cluster address): one task per job, ``num_cpus`` = the job's threads, ``num_gpus`` =
``gpus_per_job`` (fractions allowed) on a CUDA device, ``max_retries`` for lost workers; each model goes to the
object store once, and every result comes back to this process, which writes it, so workers need no shared disk.
Ray is imported only here, only when asked for.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import urlparse

import torch

from mimi.core.games import on_device
from mimi.core.progress import ProgressFn, report
from mimi.core.results import Result

MANIFEST_NAME = "study.json"
JOBS_DIR = "jobs"
RAY_MAX_RETRIES = 3
DEFAULT_RAY_TIMEOUT_S = 30.0


class StudyMismatch(ValueError):
    """The folder holds a study with other parameters; the message says what differs and what to do."""


class CorruptResult(ValueError):
    """A result file that cannot be read back as the job it is named after; the message says why."""


@dataclass
class JobFailure(Result):
    """A job that raised: its error (one line) and traceback; the other jobs go on, and a later run retries it."""

    key: str
    model: str
    image: str
    error: str
    traceback: str
    wall_time_s: float


def run_guarded(runner: Callable[..., Result], model, job, *, device, threads: int = 1,
                batch_size: Optional[int] = None) -> Result:
    """One job by ``runner`` with ``threads`` torch threads (CPU gradients are summed in a thread-dependent order, so
    the same threads give bitwise the same numbers in any process); any exception but an interrupt becomes a
    :class:`JobFailure` of ``job``, so one failing job never stops the others."""
    start = time.perf_counter()
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        return runner(model, job, device=device, batch_size=batch_size)
    except Exception as exc:  # recorded, and the study goes on (interrupts are not caught)
        message = str(exc).splitlines()[0] if str(exc) else ""
        return JobFailure(key=job.key, model=job.model, image=job_image(job), error=f"{type(exc).__name__}: "
                          f"{message}"[:500], traceback=traceback.format_exc(limit=8),
                          wall_time_s=time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)


def job_image(job: Any) -> str:
    """A job's image in words (its ``image`` when it is text, else that image's ``source``)."""
    return job.image if isinstance(job.image, str) else job.image.source


@dataclass
class StudyStatus(Result):
    """Where a study folder stands: ``jobs`` planned, ``done``, ``failed`` (with ``failures``: model, image,
    error), ``left`` (no result yet, corrupt files included), ``skipped`` (model, image, reason: images a
    model cannot take), ``corrupted`` (files that could not be read back, with the reason; a run moves them
    aside and recomputes them), ``orphans`` (result files of no job of this study, e.g. from before a
    ``--force``), and ``ran`` (jobs run by the call that returned it)."""

    folder: str
    jobs: int
    done: int
    failed: int
    left: int
    failures: list
    skipped: list
    corrupted: list
    orphans: int
    ran: int = 0
    wall_time_s: float = 0.0

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"{self.folder}: {self.jobs} jobs: {self.done} done, {self.failed} failed, {self.left} left"
                 + (f"; {len(self.skipped)} (image, model) pairs skipped" if self.skipped else "")]
        lines += [f"  failed: {f['model']} on {f['image']}: {f['error']}" for f in self.failures[:20]]
        lines += [f"  skipped: {s['model']} on {s['image']}: {s['reason']}" for s in self.skipped[:20]]
        lines += [f"  corrupted result file {c['file']}: {c['reason']}" for c in self.corrupted]
        if self.orphans:
            lines.append(f"  {self.orphans} result file(s) in {JOBS_DIR}/ belong to no job of this study")
        return "\n".join(lines)

    @property
    def complete(self) -> bool:
        """Whether every job has a result (none failed, none left)."""
        return self.done == self.jobs


# --------------------------------------------------------------------------- the folder
def manifest_path(folder: str | Path) -> Path:
    return Path(folder) / MANIFEST_NAME


def read_manifest(folder: str | Path) -> Any:
    """The manifest of the study in ``folder``; ValueError when there is none or it cannot be read."""
    path = manifest_path(folder)
    if not path.exists():
        raise ValueError(f"{folder} holds no study (no {MANIFEST_NAME}); start one with `mimi study run ... --out "
                         f"{folder}`")
    try:
        manifest = Result.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path} is not a readable study manifest ({str(exc).splitlines()[0][:120]}); "
                         f"start a new study in another folder, or rerun with --force to replace it") from None
    if not hasattr(manifest, "job_result"):
        raise ValueError(f"{path} holds a {type(manifest).__name__}, not a study manifest; start a new study in "
                         f"another folder, or rerun with --force to replace it")
    return manifest


def _differences(old: Any, new: Any, prefix: str = "") -> list[str]:
    """The paths at which two JSON values differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        found = []
        for key in sorted(set(old) | set(new)):
            found += _differences(old.get(key), new.get(key), f"{prefix}{key}.")
        return found
    return [] if old == new else [f"{prefix.rstrip('.')}: {json.dumps(old)} -> {json.dumps(new)}"]


def prepare_folder(folder: str | Path, manifest: Result, force: bool = False) -> None:
    """Create ``folder`` and ``folder/jobs``, and write the manifest; StudyMismatch when the folder holds a
    study with other parameters (unless ``force``)."""
    folder = Path(folder)
    if manifest_path(folder).exists() and not force:
        old = read_manifest(folder)
        if type(old) is not type(manifest) or old.params != manifest.params:
            changes = _differences(old.params, manifest.params)
            raise StudyMismatch(
                f"{folder} holds a study with different parameters ({'; '.join(changes[:4])}"
                f"{'; …' if len(changes) > 4 else ''}). Start a new study with another --out folder, or add "
                f"--force to replace its manifest (result files whose inputs still match are reused)")
    (folder / JOBS_DIR).mkdir(parents=True, exist_ok=True)
    write_atomic(manifest_path(folder), manifest.to_json())


def result_path(folder: str | Path, key: str) -> Path:
    return Path(folder) / JOBS_DIR / f"{key}.json"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file next to ``path``, flush it to disk, then rename it over ``path``:
    a reader (or a killed run) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_outcome(path: Path, key: str, manifest: Any) -> Result:
    """The job result or failure in ``path``, checked against its job's ``key`` and the ``manifest`` (its result
    type, and the result's own ``problem(manifest)``); CorruptResult when it is unreadable, of another type,
    another job's or inconsistent."""
    try:
        outcome = Result.from_json(Path(path).read_text())
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CorruptResult(f"unreadable ({type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''})"
                            ) from None
    if not isinstance(outcome, JobFailure) and type(outcome).__name__ != manifest.job_result:
        raise CorruptResult(f"holds a {type(outcome).__name__}, not a job of this study ({manifest.job_result})")
    if outcome.key != key:
        raise CorruptResult(f"holds job {outcome.key}, not {key}")
    problem = "" if isinstance(outcome, JobFailure) else outcome.problem(manifest)
    if problem:
        raise CorruptResult(problem)
    return outcome


@dataclass
class Scan:
    """The result files of a study: outcomes by key, and the corrupt ones with the reason."""

    outcomes: dict = field(default_factory=dict)
    corrupted: list = field(default_factory=list)
    orphans: int = 0

    def results(self) -> dict:
        """The outcomes that are results (not failures), by key."""
        return {key: o for key, o in self.outcomes.items() if not isinstance(o, JobFailure)}


def scan_results(folder: str | Path, manifest: Any, *, set_aside: bool = False) -> Scan:
    """Read every job's result file; a corrupt one is listed (and, with ``set_aside``, renamed to
    ``<key>.json.corrupt``, so that the job runs again)."""
    folder, scan = Path(folder), Scan()
    keys = {job["key"] for job in manifest.jobs}
    for key in sorted(keys):
        path = result_path(folder, key)
        if not path.exists():
            continue
        try:
            scan.outcomes[key] = read_outcome(path, key, manifest)
        except CorruptResult as exc:
            scan.corrupted.append({"file": str(path.relative_to(folder)), "reason": str(exc)})
            if set_aside:
                path.replace(path.with_name(path.name + ".corrupt"))
    jobs_dir = folder / JOBS_DIR
    if jobs_dir.is_dir():
        scan.orphans = sum(1 for p in jobs_dir.glob("*.json") if p.stem not in keys)
    return scan


def study_status(folder: str | Path, *, scan: Optional[Scan] = None, ran: int = 0,
                 wall_time_s: float = 0.0) -> StudyStatus:
    """Done, failed, left and skipped jobs of the study in ``folder`` (reads files only; no model)."""
    manifest = read_manifest(folder)
    scan = scan if scan is not None else scan_results(folder, manifest)
    images = {job["key"]: job for job in manifest.jobs}
    failures = [{"model": images[k]["model"], "image": images[k]["image"], "error": o.error}
                for k, o in scan.outcomes.items() if isinstance(o, JobFailure)]
    done = len(scan.results())
    skipped = list(getattr(manifest, "skipped", []))
    return StudyStatus(folder=str(folder), jobs=len(manifest.jobs), done=done, failed=len(failures),
                       left=len(manifest.jobs) - done - len(failures), failures=failures, skipped=skipped,
                       corrupted=scan.corrupted, orphans=scan.orphans, ran=ran, wall_time_s=wall_time_s)


# --------------------------------------------------------------------------- running
def run_study(folder: str | Path, plan: Any, *, force: bool = False, limit: Optional[int] = None,
              ray: Optional[str] = None, ray_timeout: float = DEFAULT_RAY_TIMEOUT_S, gpus_per_job: float = 0.0,
              device: str = "cpu", threads: int = 1, batch_size: Optional[int] = None, num_cpus: Optional[int] = None,
              progress: Optional[ProgressFn] = None, log: Callable[[str], None] = lambda line: None) -> StudyStatus:
    """Run the jobs of ``plan`` that have no result in ``folder`` (at most ``limit`` of them), in-process or
    on Ray (``ray``: "local", with ``num_cpus`` CPUs, or a cluster address, reached within ``ray_timeout``
    seconds: before anything is written), each with ``threads`` torch threads on ``device``; ``progress`` is
    told (jobs done, jobs to do, job) after each. Returns the folder's status."""
    start = time.perf_counter()
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if gpus_per_job < 0:
        raise ValueError(f"gpus_per_job must be >= 0, got {gpus_per_job}")
    ray_module = connect_ray(ray, ray_timeout, num_cpus) if ray is not None else None
    try:
        return _run(folder, plan, force, limit, ray_module, gpus_per_job, progress, log, start,
                    dict(device=device, threads=threads, batch_size=batch_size))
    finally:
        if ray_module is not None:
            ray_module.shutdown()


def _run(folder, plan: Any, force: bool, limit: Optional[int], ray_module, gpus_per_job: float,
         progress: Optional[ProgressFn], log, start: float, options: dict) -> StudyStatus:
    prepare_folder(folder, plan.manifest, force)
    scan = scan_results(folder, plan.manifest, set_aside=True)
    for bad in scan.corrupted:
        log(f"corrupted result file {bad['file']} ({bad['reason']}): moved to {bad['file']}.corrupt; recomputing it")
    done = scan.results()
    todo = [job for job in plan.jobs if job.key not in done]
    todo = todo[:limit] if limit is not None else todo
    ran = 0

    def record(outcome) -> None:
        nonlocal ran
        write_atomic(result_path(folder, outcome.key), outcome.to_json())
        ran += 1
        what = f"{outcome.model} on {outcome.image}"
        if isinstance(outcome, JobFailure):
            log(f"job failed: {what}: {outcome.error}")
        report(progress, ran, len(todo), what)

    report(progress, 0, len(todo), "jobs")
    if ray_module is None:
        models = {name: on_device(model, options["device"])[0] for name, model in plan.models.items()}  # once
        for job in todo:
            record(run_guarded(plan.runner, models[job.model], job, **options))
    elif todo:
        _run_on_ray(ray_module, todo, plan, gpus_per_job, record, **options)
    status = study_status(folder, ran=ran, wall_time_s=time.perf_counter() - start)
    status.corrupted = scan.corrupted  # found by this run, set aside and recomputed
    return status


# --------------------------------------------------------------------------- Ray
def _ray_job(runner, model, job, device, threads, batch_size) -> str:
    """The Ray task of one job: its outcome as JSON text (written by the driver)."""
    return run_guarded(runner, model, job, device=device, threads=threads, batch_size=batch_size).to_json()


def probe_address(address: str, timeout: float) -> None:
    """Whether a Ray cluster answers at ``address`` (``HOST:PORT``, ``ray://HOST:PORT`` or ``auto``) within
    ``timeout`` seconds: a TCP connection, then a connection by Ray itself in a child process, killed at the
    timeout (Ray's own connect retries for a fixed time, and an abandoned attempt cannot be stopped in this
    process). ValueError naming the address and what to do when nothing answers."""
    advice = "start one with `ray start --head` there, check the address, or run without --ray"
    if address != "auto":
        parsed = urlparse(address if "://" in address else f"tcp://{address}")
        try:
            host, port = parsed.hostname, parsed.port
        except ValueError:
            host, port = None, None
        if not host or not port:
            raise ValueError(f"Ray address {address!r} is not HOST:PORT (or ray://HOST:PORT, or 'auto')")
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise ValueError(f"cannot reach a Ray cluster at {address} within {timeout:g} s ({reason}); {advice}") from None
    code = (f"import ray; ray.init(address={address!r}, log_to_driver=False, logging_level='ERROR'); "
            f"ray.shutdown()")
    try:
        child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ValueError(f"cannot reach a Ray cluster at {address} within {timeout:g} s (something answers, but "
                         f"no Ray); {advice}") from None
    if child.returncode != 0:
        lines = [line for line in child.stderr.splitlines() if line.strip()]
        raise ValueError(f"cannot connect to the Ray cluster at {address} ({lines[-1][:200] if lines else 'failed'}); "
                         f"{advice}")


def connect_ray(address: str, timeout: float, num_cpus: Optional[int] = None):
    """``ray`` initialised on a fresh local instance ("local", ``num_cpus`` CPUs) or connected to the cluster
    at ``address`` (reached within ``timeout`` seconds)."""
    try:
        import ray  # deferred: optional (pip install mimi[ray])
    except ImportError:
        raise ValueError("--ray needs Ray, an optional extra: pip install -e \".[ray]\" (or pip install "
                         "\"ray>=2.9\")") from None
    kwargs = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    if address == "local":
        ray.init(num_cpus=num_cpus, **kwargs)
    else:
        probe_address(address, timeout)
        ray.init(address=address, **kwargs)
    return ray


def _run_on_ray(ray, todo, plan: Any, gpus_per_job: float, record, *, device: str, threads: int,
                batch_size: Optional[int]) -> None:
    """One Ray task per job; results are recorded here as they come back (any order)."""
    on_gpu = torch.device(device).type == "cuda"
    task = ray.remote(_ray_job).options(num_cpus=threads, num_gpus=gpus_per_job if on_gpu else 0,
                                        max_retries=RAY_MAX_RETRIES)
    models = {name: ray.put(plan.models[name]) for name in {job.model for job in todo}}
    pending = {task.remote(plan.runner, models[job.model], job, device, threads, batch_size): job for job in todo}
    try:
        while pending:
            finished, _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(finished[0])
            try:
                record(Result.from_json(ray.get(finished[0])))
            except ray.exceptions.RayError as exc:  # the worker was lost more than max_retries times
                record(JobFailure(key=job.key, model=job.model, image=job_image(job),
                                       error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                                       traceback=str(exc)[-4000:], wall_time_s=0.0))
    except BaseException:
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
