"""Background jobs started from the admin API: training and dataset imports.

Request handlers never fit a model or parse a large file: a job runs the
ordinary CLI command (``cinerec train``, ``cinerec data import``) in a child
process with the server's settings, so a crash or a kill there leaves the
server and the active model untouched (the registry swaps atomically). Each
job writes its output to ``<home>/jobs/<id>.log``.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from cinerec.config import Settings
from cinerec.errors import InvalidParameter, NotFound
from cinerec.store.models import utcnow

JobKind = Literal["train", "import"]
#: Largest dataset upload accepted by :meth:`JobRunner.save_upload`, in bytes.
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_UPLOAD_SUFFIXES = (".zip", ".csv", ".tsv", ".dat", ".data", ".txt")


@dataclass
class Job:
    """A started job."""

    id: str
    kind: JobKind
    started_at: datetime
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def status(self) -> Literal["running", "succeeded", "failed"]:
        """Whether the child is still running, and how it ended."""
        code = self.process.poll()
        if code is None:
            return "running"
        return "succeeded" if code == 0 else "failed"

    @property
    def error(self) -> str | None:
        """Why a failed job failed: the last ``error: ...`` line the command printed (``None`` otherwise).

        A refused training (:class:`~cinerec.errors.TrainingRefused`) reads,
        e.g., ``EASE needs about 65.2 GiB to train on 50,000 films ...``.
        """
        if self.status != "failed":
            return None
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            return None
        reasons = [line.removeprefix("error: ").strip() for line in lines if line.startswith("error: ")]
        return reasons[-1] if reasons else None


class JobRunner:
    """Starts and tracks jobs for one server process.

    Args:
        settings: the server's settings; the child gets the same home and database.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = settings.home / "jobs"
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CINEREC_HOME"] = str(self.settings.home)
        env["CINEREC_DATABASE_URL"] = self.settings.resolved_database_url
        return env

    def _start(self, kind: JobKind, args: list[str]) -> Job:
        self.folder.mkdir(parents=True, exist_ok=True)
        job_id = secrets.token_hex(8)
        log = self.folder / f"{job_id}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "cinerec", *args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self._env(), cwd=self.settings.home)
        job = Job(job_id, kind, utcnow(), proc, log)
        with self._lock:
            self._jobs[job_id] = job
        return job

    def train(self, algo: str, params: dict[str, Any], *, activate: bool = True) -> Job:
        """Start ``cinerec train --algo ALGO [--param ALGO.key=value ...]``."""
        args = ["train", "--algo", algo]
        for key, value in sorted(params.items()):
            args += ["--param", f"{algo}.{key}={value}"]
        if not activate:
            args.append("--no-activate")
        return self._start("train", args)

    def save_upload(self, filename: str | None, stream: BinaryIO) -> Path:
        """Copy an uploaded dataset file to ``<home>/uploads/<random>/<safe name>``.

        Raises:
            InvalidParameter: an unsupported file type, or larger than :data:`MAX_UPLOAD_BYTES`.
        """
        name = _SAFE_NAME.sub("_", Path(filename or "upload").name).strip("._") or "upload"
        if not name.lower().endswith(_UPLOAD_SUFFIXES):
            raise InvalidParameter(f"upload a dataset as one of {', '.join(_UPLOAD_SUFFIXES)}",
                                   details={"fields": [{"loc": ["body", "file"], "msg": "unsupported file type",
                                                        "type": "value_error"}]})
        folder = self.settings.home / "uploads" / secrets.token_hex(8)
        folder.mkdir(parents=True)
        target = folder / name
        written = 0
        with target.open("wb") as out:
            while chunk := stream.read(1024 * 1024):
                written += len(chunk)
                if written > MAX_UPLOAD_BYTES:
                    out.close()
                    shutil.rmtree(folder, ignore_errors=True)
                    raise InvalidParameter(f"the upload is over {MAX_UPLOAD_BYTES} bytes",
                                           details={"limit": MAX_UPLOAD_BYTES})
                out.write(chunk)
        return target

    def import_file(self, path: Path) -> Job:
        """Start ``cinerec data import PATH``."""
        return self._start("import", ["data", "import", str(path)])

    def get(self, job_id: str) -> Job:
        """A job started by this process.

        Raises:
            NotFound: unknown id.
        """
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise NotFound(f"job {job_id} does not exist")
        return job
