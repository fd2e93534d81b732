"""PDFs really compile (every example, English and Korean), hold the key formulas and the Korean text
(pdftotext), fail cleanly, and keep LaTeX in its sandbox. They skip only outside CI without TeX."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from derive.document import pdf
from derive.document.pdf import PdfError, build, compile_pdf, first_error

try:  # pytest puts tests/ on sys.path (rootdir-relative "tests." when tests/ is a package)
    from test_document import EXAMPLES, HOSTILE, KOREAN_TERMS, ROOT, tex
except ImportError:
    from tests.test_document import EXAMPLES, HOSTILE, KOREAN_TERMS, ROOT, tex

HAVE_TEX = shutil.which("pdflatex") is not None and shutil.which("pdftotext") is not None
needs_tex = pytest.mark.skipif(not HAVE_TEX and not os.environ.get("CI"),
                               reason="no TeX engine (pdflatex, pdftotext) outside CI")

_BUILT: dict = {}


def with_example(name: str, lang: str) -> bool:
    """English documents with the worked example; Korean ones too for seed 003 (the rest are the same numbers)."""
    return lang == "en" or name == "seed003"


def built(name: str, lang: str) -> tuple[str, str]:
    """(text of the PDF by pdftotext, LaTeX log), compiled once per session."""
    key = (name, lang)
    if key not in _BUILT:
        data, log = build(tex(name, lang, with_example(name, lang)))
        text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True,
                              check=True, timeout=120).stdout.decode("utf-8")
        _BUILT[key] = (text, log)
    return _BUILT[key]


@pytest.fixture(scope="module", autouse=True)
def compile_all_in_parallel():
    """Two compiles at a time (the machine has two cores); the tests then read the results.
    Under pytest-xdist the workers already share the load: each compiles only what its tests need."""
    if HAVE_TEX and not os.environ.get("PYTEST_XDIST_WORKER"):
        with ThreadPoolExecutor(max_workers=2) as pool:
            for name in EXAMPLES:  # render first (SymPy, in this thread), then compile in the pool
                tex(name, "en"), tex(name, "ko", with_example(name, "ko"))
            list(pool.map(lambda key: _safe_build(*key), [(n, lang) for n in EXAMPLES for lang in ("en", "ko")]))
    yield


def _safe_build(name, lang):
    try:
        built(name, lang)
    except PdfError:
        pass  # the test itself reports it


def flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


KEY_FORMULAS = {  # pdftotext's reading of formulas, with all white space removed
    "seed003": ["δk=(yk−tk)yk(1−yk)", "=yjδk", "=(yo1−yt1)·yo1(1−yo1)·yh1", "=(δ3w31+δ4w41)·yh1(1−yh1)·x1",
                "=y(1−y)", "0.298371109", "0.358916480"],
    "seed003_ijk": ["δk=(yk−tk)yk(1−yk)", "=yjδk", "=yiδj", "∆2=(Y2−T)⊙Y2⊙(1−Y2)"],
    "seed004": ["∂J", "a1mδ2", "ReLU"],
    "digits": ["δk=yk−tk", "=yjδk", "softmax"],
    "bce_classifier": ["=yk−tk", "=1−e−y", "=y(1−y)"],
    "deep_swish": ["=1−y2", "=yjδk", "swish"],
}


@needs_tex
@pytest.mark.parametrize("lang", ["en", "ko"])
@pytest.mark.parametrize("name", EXAMPLES)
def test_pdf_compiles_and_holds_the_formulas(name, lang):
    text, log = built(name, lang)
    body = flat(text)
    for formula in KEY_FORMULAS.get(name, []):
        assert formula in body, (name, lang, formula)
    if lang == "ko":
        for term in KOREAN_TERMS:
            assert flat(term) in body, term
        assert "그림" in text
    else:
        assert "Backpropagation, derived step by step" in text
    # laid out: no line running off the page
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert not [w for w in overfull if w > 5], overfull
    assert "undefined references" not in log and "??" not in text


@needs_tex
def test_compile_pdf_writes_atomically(tmp_path):
    out = tmp_path / "doc.pdf"
    compile_pdf(tex("seed003_ijk", "en", False), out)
    assert out.read_bytes().startswith(b"%PDF")
    assert [p.name for p in tmp_path.iterdir()] == ["doc.pdf"]  # no temporary files left behind


@needs_tex
def test_failed_compile_leaves_existing_file_untouched(tmp_path):
    out = tmp_path / "doc.pdf"
    out.write_bytes(b"old")
    broken = "\\documentclass{article}\n\\begin{document}\nfine\n\\undefinedmacro\n\\end{document}\n"
    with pytest.raises(PdfError) as err:
        compile_pdf(broken, out)
    message = str(err.value)
    assert "\n" not in message and "Undefined control sequence" in message and "line 4" in message
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["doc.pdf"]


@needs_tex
def test_failed_compile_writes_no_partial_pdf(tmp_path):
    out = tmp_path / "new.pdf"
    with pytest.raises(PdfError):
        compile_pdf("\\documentclass{article}\n\\begin{document}\nx\\newpage y\\undefined\n\\end{document}\n", out)
    assert not out.exists()


@needs_tex
def test_sandbox_no_shell_escape_no_files_outside(tmp_path):
    outside = tmp_path / "pwned"
    evil = ("\\documentclass{article}\n\\begin{document}\n"
            "\\immediate\\write18{touch %s}\nx\n\\end{document}\n" % outside)
    compile_pdf(evil, tmp_path / "a.pdf")  # \write18 is only written to the log
    assert not outside.exists()
    for body in ("\\newwrite\\x\\immediate\\openout\\x=%s\\immediate\\write\\x{hi}" % (tmp_path / "evil.txt"),
                 "\\input{/etc/passwd}", "\\input{../../etc/passwd}"):
        doc = "\\documentclass{article}\n\\begin{document}\n%s\nx\n\\end{document}\n" % body
        with pytest.raises(PdfError):
            compile_pdf(doc, tmp_path / "b.pdf")
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "b.pdf").exists()


@needs_tex
def test_hostile_title_compiles_and_prints_literally(tmp_path):
    from derive.calculus.derivation import derive
    from derive.document.builder import render_tex
    from derive.spec.loader import parse_spec

    spec_text = (ROOT / "examples" / "seed003_ijk.toml").read_text().replace(
        'title = "2-2-2 sigmoid network of seed 003, in the ijk notation of seeds 000 and 002"',
        'title = "%s"' % HOSTILE.replace("\\", "\\\\"))
    doc = render_tex(derive(parse_spec(spec_text, "hostile.toml")), None, lang="en", example=False)
    data, _ = build(doc)
    text = subprocess.run(["pdftotext", "-", "-"], input=data, capture_output=True, check=True).stdout.decode()
    assert "\\input{/etc/passwd}" in text and "\\immediate\\write18{rm -rf" in text


def test_missing_tex_is_one_line_with_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    out = tmp_path / "x.pdf"
    with pytest.raises(PdfError) as err:
        compile_pdf("\\documentclass{article}\\begin{document}x\\end{document}", out)
    assert "apt-get install" in str(err.value) and "texlive" in str(err.value) and "\n" not in str(err.value)
    assert not out.exists()


def test_first_error_reads_the_log():
    log = "This is pdfTeX\n(./doc.tex\n./doc.tex:12: Undefined control sequence.\nl.12 \\foo\n          bar\n"
    assert first_error(log) == "LaTeX error: line 12: Undefined control sequence. (at: \\foo)"
    assert first_error("! Emergency stop.\n<*> doc.tex\n").startswith("LaTeX error: Emergency stop.")
    assert first_error("").startswith("LaTeX failed")



LONG_SPEC = '''
name = "long_net"
title = "Long expressions: mish, tanh-GELU, the Cauchy loss"
inputs = 3
loss = { name = "cauchy", expr = "log(1 + (y - t)**2)" }

[[layer]]
units = 7
activation = { name = "mish", expr = "x * tanh(softplus(x))" }

[[layer]]
units = 3
activation = { name = "gelu_tanh", expr = "x/2 * (1 + tanh(0.79788456 * (x + 0.044715 * x**3)))" }

[[layer]]
units = 2
activation = "softplus"
'''


@needs_tex
def test_long_expressions_wrap_inside_the_page():
    from derive.calculus.derivation import derive
    from derive.document.builder import render_tex
    from derive.spec.loader import parse_spec

    doc = render_tex(derive(parse_spec(LONG_SPEC, "long.toml")), None, lang="en", example=False)
    assert r"&\quad + " in doc  # a long right-hand side continued on the next line
    assert "0.79788456" in doc  # decimals from the spec stay decimals
    _, log = build(doc)
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert not [w for w in overfull if w > 5], overfull
