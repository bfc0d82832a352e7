"""Which code made a run, and paths a run records without naming the machine.

Every ``metrics.json`` carries :func:`code_version` under ``"code"``: the package version, the
git commit of the source tree the package was imported from, and whether that tree had
uncommitted changes (with a hash of them, so two dirty runs at one commit are told apart). A
run folder remembers the code that started it (``OUT/code_version.json``); resuming it with
other code would mix results of two code versions in one report, so :func:`claim_run_folder`
refuses unless the caller passes ``allow_other_code=True`` (``--allow-other-code`` on the CLI),
in which case every code version that wrote into the folder is listed in ``metrics.json``.

Paths: :func:`portable_path` writes a dataset folder relative to the data root
(``$AIMC_DATA/mnist``), and :func:`portable_command` does the same inside a command line, so
reports and metrics hold no absolute machine paths.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import aimc
from aimc.data.paths import _KNOWN
from aimc.errors import CheckpointError, StateError

__all__ = ["code_version", "same_code", "claim_run_folder", "portable_path",
           "portable_command", "portable_run_path", "code_block", "describe",
           "CODE_FILE"]

CODE_FILE = "code_version.json"
"""Name of the file in a run folder that records the code which started the run."""

_PACKAGE_DIR = Path(aimc.__file__).resolve().parent


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, timeout=20,
                              check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def _git_state() -> tuple[str | None, bool | None, str | None]:
    """(commit, dirty, hash of the uncommitted diff) of the tree holding the package."""
    top = _git(["rev-parse", "--show-toplevel"], _PACKAGE_DIR)
    if top is None:
        return None, None, None
    root = Path(top.strip())
    commit = _git(["rev-parse", "HEAD"], root)
    # tracked changes and untracked, non-ignored files under the package's source tree
    status = _git(["status", "--porcelain", "--untracked-files=all", "--", "src"], root)
    if commit is None or status is None:
        return None, None, None
    dirty = bool(status.strip())
    diff_hash = None
    if dirty:
        diff = _git(["diff", "HEAD", "--", "src"], root) or ""
        h = hashlib.sha256(diff.encode())
        for line in sorted(status.splitlines()):
            if line.startswith("??"):
                path = root / line[3:].strip()
                h.update(line.encode())
                if path.is_file():
                    h.update(path.read_bytes())
        diff_hash = h.hexdigest()[:16]
    return commit.strip(), dirty, diff_hash


def code_version() -> dict[str, Any]:
    """The code that is running: ``{"aimc": version, "git_commit", "git_dirty", "diff_hash"}``.

    ``git_commit``/``git_dirty`` are None when the package is not imported from a git
    checkout (an installed wheel): then the version alone identifies the code. ``git_dirty``
    counts changes under ``src/`` only (tests, docs and run folders do not change results).
    """
    commit, dirty, diff_hash = _git_state()
    return {"aimc": aimc.__version__, "git_commit": commit, "git_dirty": dirty,
            "diff_hash": diff_hash}


def same_code(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two :func:`code_version` records name the same code."""
    keys = ("aimc", "git_commit", "git_dirty", "diff_hash")
    return all(a.get(k) == b.get(k) for k in keys)


def describe(code: dict[str, Any]) -> str:
    """``aimc 0.1.0 at 51c7541 (+ uncommitted changes 3f2a…)`` for messages and reports."""
    text = f"aimc {code.get('aimc')}"
    if code.get("git_commit"):
        text += f" at {str(code['git_commit'])[:12]}"
        if code.get("git_dirty"):
            text += f" + uncommitted changes ({code.get('diff_hash')})"
    return text


def claim_run_folder(out: Path, *, allow_other_code: bool = False) -> list[dict[str, Any]]:
    """Record the running code in ``out`` and refuse to resume a run made by other code.

    Args:
        out: the run folder (must exist).
        allow_other_code: resume even when the folder was started by other code; the
            returned history then holds every code version that wrote into it.

    Returns:
        The code versions that have written into ``out``, oldest first (the running one last).

    Raises:
        StateError: ``out`` holds results of other code and ``allow_other_code`` is False.
        CheckpointError: ``out/code_version.json`` is unreadable.
    """
    path = out / CODE_FILE
    now = code_version()
    history: list[dict[str, Any]] = []
    if path.is_file():
        try:
            history = list(json.loads(path.read_text(encoding="utf-8"))["history"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} is unreadable ({exc}); delete it (and the run "
                                  "folder's results, if they may come from other code)") \
                from exc
    elif any(p.name != CODE_FILE for p in out.iterdir()):
        # a folder from before code versions were recorded: its code is unknown
        history = [{"aimc": None, "git_commit": None, "git_dirty": None, "diff_hash": None,
                    "note": "results written before code versions were recorded"}]
    if history and not same_code(history[-1], now):
        if not allow_other_code:
            raise StateError(
                f"{out} holds results made by {describe(history[-1])}, but this is "
                f"{describe(now)}; resuming would mix the two in one report. Use a new --out "
                "folder (or delete this one), or pass --allow-other-code to resume anyway "
                "(metrics.json then lists every code version that wrote into it)")
        history.append(now)
    elif not history:
        history = [now]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"history": history}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return history


def _data_root() -> Path | None:
    env = os.environ.get("AIMC_DATA")
    return Path(env).resolve() if env else None


def portable_path(path: str | os.PathLike[str] | None,
                  root: str | os.PathLike[str] | None = None) -> str | None:
    """``path`` relative to the data root, as ``$AIMC_DATA/<sub>``, for metrics and reports.

    The root is ``root`` if given (e.g. the ``--data`` argument of a benchmark that takes a
    data root), else ``$AIMC_DATA``; a path outside both is written as
    ``<data>/<its last folder name>``, which still tells the dataset but not the machine.
    A relative path is kept as it is.
    """
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        return p.as_posix()
    p = p.resolve()
    for base in (Path(root).resolve() if root is not None else None, _data_root()):
        if base is not None and (p == base or base in p.parents):
            rel = p.relative_to(base).as_posix()
            return "$AIMC_DATA" + ("" if rel == "." else f"/{rel}")
    return f"<data>/{p.name}"


def portable_run_path(path: str | os.PathLike[str]) -> str:
    """A run folder as recorded in metrics: relative paths as given, absolute ones by name."""
    p = Path(path)
    return p.as_posix() if not p.is_absolute() else f"<path>/{p.name}"


def portable_command(argv: list[str]) -> str:
    """The command line ``argv`` as shell text, without absolute machine paths.

    The value of ``--data`` becomes ``$AIMC_DATA[/sub]`` (see :func:`_data_arg`); any other
    absolute path keeps only its last component, as ``<path>/name``.
    """
    words: list[str] = []
    prev = ""
    for arg in argv:
        if arg.startswith("--data="):
            value = arg.split("=", 1)[1]
            word = "--data=" + (_data_arg(value) if os.path.isabs(value) else shlex.quote(value))
        elif prev == "--data" and os.path.isabs(arg):
            word = _data_arg(arg)
        elif os.path.isabs(arg):
            word = shlex.quote(f"<path>/{Path(arg).name}")
        else:
            word = shlex.quote(arg)
        words.append(word)
        prev = arg
    return " ".join(words)


def _data_arg(arg: str) -> str:
    """A ``--data`` value: the data root itself, or a dataset folder inside it."""
    env = _data_root()
    p = Path(arg).resolve()
    if env is not None and (p == env or env in p.parents):
        return str(portable_path(p, env))
    # the value is either a root (holding dataset folders) or one dataset folder
    known = {sub for subs, _ in _KNOWN.values() for sub in subs}  # dataset sub-folders
    if p.name in known:
        return f"$AIMC_DATA/{p.name}"
    return "$AIMC_DATA"


def code_block(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``"code"`` entry of ``metrics.json``: the running code, and any earlier code that
    wrote into the run folder (only present when a resume was forced)."""
    block = dict(history[-1])
    if len(history) > 1:
        block["earlier"] = history[:-1]
    return block
