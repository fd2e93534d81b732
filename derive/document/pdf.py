"""LaTeX source -> PDF with TeX Live's pdflatex, safely.

The compile runs in a fresh temporary directory, without shell escape, with kpathsea's file access
limited to it (`openin_any=p`, `openout_any=p`: no absolute paths, no dot files, no parent
directories), with a time limit. Only a compile that succeeds moves its PDF into place (atomically);
a failure raises `PdfError` with one line (what to install, or the first LaTeX error) and leaves any
existing file untouched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from derive.io import OutputError, write_atomic

DEBIAN_PACKAGES = ("texlive-latex-base texlive-latex-recommended texlive-fonts-recommended texlive-pictures "
                   "texlive-lang-korean poppler-utils")
MAX_RUNS = 4  # pdflatex runs until the cross-references settle
TIMEOUT = 180  # seconds per run
_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|There were undefined references")


class PdfError(Exception):
    """A PDF could not be made; the message is one line for the user."""


def missing_tex(tex_source: str = "") -> str | None:
    """What is missing to compile `tex_source`, as one line, or None."""
    if shutil.which("pdflatex") is None:
        return f"TeX Live is missing (no pdflatex): install it, e.g. 'apt-get install {DEBIAN_PACKAGES}'"
    needed = ["tikz.sty", "pgfplots.sty", "amsmath.sty", "booktabs.sty"]
    if "{kotex}" in tex_source:
        needed.append("kotex.sty")
    kpsewhich = shutil.which("kpsewhich")
    if kpsewhich is None:
        return None
    for name in needed:
        try:
            found = subprocess.run([kpsewhich, name], capture_output=True, text=True, timeout=30,
                                   check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None
        if not found:
            return (f"TeX Live lacks {name}: install it, e.g. 'apt-get install {DEBIAN_PACKAGES}'")
    return None


def first_error(log: str) -> str:
    """The first LaTeX error of a log, as one line: 'doc.tex:12: Undefined control sequence \\foo'."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(?:\./)?([^:\s]+\.tex):(\d+): (.*)", line)
        if m or line.startswith("! "):
            message = (m.group(3) if m else line[2:]).strip()
            context = ""
            for nxt in lines[i + 1:i + 4]:
                if nxt.startswith("l."):
                    context = nxt.split(" ", 1)[1].strip() if " " in nxt else ""
                    break
            where = f"line {m.group(2)}: " if m else ""
            text = f"{where}{message}" + (f" (at: {context[:60]})" if context else "")
            return "LaTeX error: " + " ".join(text.split())
    tail = [line for line in lines if line.strip()][-1:] or ["no log"]
    return "LaTeX failed: " + tail[0].strip()[:200]


def _environment(build: Path) -> dict:
    env = dict(os.environ)
    env.update({
        "openin_any": "p",
        "openout_any": "p",
        "shell_escape": "f",
        "TEXMFOUTPUT": str(build),
        "TEXINPUTS": ".:",  # the build directory, then the installed TeX tree
        "SOURCE_DATE_EPOCH": "0",  # reproducible PDF dates
        "FORCE_SOURCE_DATE": "1",
        "LC_ALL": "C",
    })
    return env


def build(tex_source: str, max_runs: int = MAX_RUNS) -> tuple[bytes, str]:
    """Compile in a fresh temporary directory; (PDF bytes, final log) or PdfError. `max_runs` bounds the
    runs that settle cross-references (1: one run, enough to find every LaTeX error and overfull line)."""
    problem = missing_tex(tex_source)
    if problem:
        raise PdfError(problem)
    pdflatex = shutil.which("pdflatex")
    with tempfile.TemporaryDirectory(prefix="derive-tex-") as tmp:
        where = Path(tmp)
        (where / "doc.tex").write_text(tex_source, encoding="utf-8")
        command = [pdflatex, "-no-shell-escape", "-interaction=nonstopmode", "-halt-on-error",
                   "-file-line-error", "doc.tex"]
        log = ""
        for _ in range(max_runs):
            try:
                result = subprocess.run(command, cwd=where, env=_environment(where), stdin=subprocess.DEVNULL,
                                        capture_output=True, timeout=TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise PdfError(f"LaTeX failed: pdflatex ran longer than {TIMEOUT} s") from None
            except OSError as exc:
                raise PdfError(f"LaTeX failed: cannot run pdflatex ({exc.strerror})") from None
            log_path = where / "doc.log"
            log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else \
                result.stdout.decode("utf-8", errors="replace")
            if result.returncode != 0:
                raise PdfError(first_error(log))
            if not _RERUN.search(log):
                break
        pdf = where / "doc.pdf"
        if not pdf.exists():
            raise PdfError(first_error(log))
        return pdf.read_bytes(), log


def compile_pdf(tex_source: str, out_pdf: Path) -> None:
    """Compile `tex_source` with pdflatex and write the PDF to `out_pdf`; raise PdfError on any failure."""
    out_pdf = Path(out_pdf)
    data, _ = build(tex_source)
    try:
        write_atomic(out_pdf, data)
    except OutputError as exc:  # write_atomic turns every OSError into one line
        raise PdfError(str(exc)) from None
