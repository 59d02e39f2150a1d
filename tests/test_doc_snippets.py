"""The README's and docs' snippets run as written.

Fenced blocks tagged ``python``, ``sh``, ``console`` or ``json`` are code. Each
must run offline (Python blocks of one page run in order, in one process, in
a scratch folder; shell blocks run with ``bash -e`` from the project root;
JSON must parse), unless the line before the fence says why not:
``<!-- not run: REASON -->`` (a server, a synopsis with placeholders, a
signature list). Untagged blocks are text (tables, output) and are not run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

import tahaluf

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE = ("python", "sh", "console", "json")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->\n$")


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    lang: str
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    text = page.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        if m.group(1) in CODE:
            before = text[: m.start()]
            reason = NOT_RUN.search(before[-300:])
            out.append(Snippet(page, before.count("\n") + 1, m.group(1), m.group(2),
                               reason.group(1) if reason else None))
    return out


ALL = [s for page in PAGES for s in snippets(page)]


def _env(tmp_path: Path) -> dict[str, str]:
    """A user's shell: no virtualenv on the PATH, data and caches in a scratch folder."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAHALUF_") and k != "VIRTUAL_ENV"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    for var, sub in (("HOME", "home"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):
        (tmp_path / sub).mkdir(exist_ok=True)
        env[var] = str(tmp_path / sub)
    return env


def test_every_code_block_runs_or_says_why_not():
    for s in ALL:
        if s.not_run is not None:
            assert len(s.not_run.strip()) >= 10, f"{s}: give a reason"
    assert [s for s in ALL if s.not_run is None and s.lang == "console"] == [], "console blocks are not run"


@pytest.mark.parametrize("snippet", [s for s in ALL if s.lang == "json" and s.not_run is None], ids=str)
def test_json_blocks_parse(snippet: Snippet):
    json.loads(snippet.code)


PY_PAGES = sorted({s.page for s in ALL if s.lang == "python" and s.not_run is None})


@pytest.mark.parametrize("page", PY_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_blocks_run(page: Path, tmp_path: Path):
    blocks = [s for s in snippets(page) if s.lang == "python" and s.not_run is None]
    program = "\n\n".join(f"# --- {s}\n{s.code}" for s in blocks)
    (tmp_path / "work").mkdir()
    proc = subprocess.run([sys.executable, "-c", program], cwd=tmp_path / "work", env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{', '.join(map(str, blocks))}:\n{proc.stderr[-3000:]}"


SH = [s for s in ALL if s.lang == "sh" and s.not_run is None]


@pytest.mark.parametrize("snippet", SH, ids=str)
def test_shell_blocks_run(snippet: Snippet, tmp_path: Path):
    if not (ROOT / ".venv" / "bin" / "activate").is_file():
        pytest.skip("no .venv in the project (make creates it)")
    proc = subprocess.run(["bash", "-e", "-c", snippet.code], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{snippet}:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"


def test_readme_tells_how_to_put_tahaluf_on_the_path(tmp_path: Path):
    """After `make run`, the README's instructions make `tahaluf` a command of the user's shell."""
    if not (ROOT / ".venv" / "bin" / "tahaluf").is_file():
        pytest.skip("no .venv in the project (make creates it)")
    env = _env(tmp_path)
    before = subprocess.run(["bash", "-c", "command -v tahaluf"], cwd=ROOT, env=env, capture_output=True, text=True)
    if before.returncode == 0:
        pytest.skip(f"tahaluf is on the PATH already ({before.stdout.strip()})")
    readme = [s for s in snippets(ROOT / "README.md") if s.lang == "sh" and "activate" in s.code]
    assert readme, "the README does not say how to put tahaluf on the PATH"
    proc = subprocess.run(["bash", "-e", "-c", readme[0].code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == tahaluf.__version__
