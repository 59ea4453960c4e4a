"""Runs every notebook under nbs/, one pytest test per notebook.

Library notebooks run the way `nbdev_test` does, each in its own process: the `tst_flags` of settings.ini (notest slow cuda) are honoured,
cells marked with a flag are skipped unless that flag is turned on (`cuda` automatically when a GPU is present;
`L3_TEST_FLAGS="slow"` turns on others). Lessons (nbs/lessons/) run through the runner of `l3 lesson`, once per test
session (the `lesson_run` fixture of conftest.py, which the lesson tests share). Executed copies are kept in
_build/executed/ for the docs site (tools/build_docs.py).
"""
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbexec import run_nb_isolated, notebooks, tst_flags, is_lesson, NBS

@pytest.mark.parametrize('nb', notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb, monkeypatch, lesson_run):
    if is_lesson(nb):
        rec = lesson_run(nb.stem)
        print(f"{nb.relative_to(NBS)}: {rec['seconds']:.1f}s (l3 lesson's runner, into {rec['out']})")
        assert 'error' not in rec, f"lesson {nb.relative_to(ROOT)} failed: {rec['error']}"
        return
    import torch
    force = set(os.environ.get('L3_TEST_FLAGS', '').split())
    if torch.cuda.is_available(): force.add('cuda')
    monkeypatch.chdir(nb.parent)
    ok, secs, err = run_nb_isolated(nb, skip_flags=tst_flags(), force_flags=force)   # a process per notebook
    print(f'{nb.relative_to(NBS)}: {secs:.1f}s')
    assert ok, f'notebook {nb.relative_to(ROOT)} failed:\n{err}'
