"""``cinerec users create``: the first admin from the shell."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from cinerec.store.db import make_engine, transaction
from cinerec.store.models import User


def _run(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {"CINEREC_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-m", "cinerec", "users", "create", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=120)


def test_users_create_admin_from_stdin(tmp_path: Path) -> None:
    r = _run(tmp_path, "boss", "--admin", "--password-stdin", stdin="a long admin passphrase\n")
    assert r.returncode == 0, r.stderr
    assert "created admin boss" in r.stdout
    eng = make_engine(f"sqlite:///{tmp_path / 'cinerec.db'}")
    with transaction(eng, write=False) as s:
        user = s.scalars(select(User).where(User.username == "boss")).one()
        assert user.is_admin and user.password_hash.startswith("$argon2id$")
    eng.dispose()
    again = _run(tmp_path, "boss", "--password-stdin", stdin="a long admin passphrase\n")
    assert again.returncode != 0 and "taken" in again.stderr and "Traceback" not in again.stderr
    weak = _run(tmp_path, "other", "--password-stdin", stdin="password1234\n")
    assert weak.returncode == 2 and "common" in weak.stderr and "Traceback" not in weak.stderr
