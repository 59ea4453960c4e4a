"""Runs every notebook under nbs/ the way `nbdev_test` does, one pytest test per notebook.

The `tst_flags` of settings.ini (notest slow cuda) are honoured: cells marked with a flag are skipped unless that
flag is turned on. `cuda` is turned on automatically when a GPU is present; `L3_TEST_FLAGS="slow"` turns on others.
Executed copies are kept in _build/executed/ for the docs site (tools/build_docs.py).
"""
import os, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
from nbexec import run_nb, notebooks, tst_flags, NBS

@pytest.mark.parametrize('nb', notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb, monkeypatch):
    import torch
    force = set(os.environ.get('L3_TEST_FLAGS', '').split())
    if torch.cuda.is_available(): force.add('cuda')
    monkeypatch.chdir(nb.parent)
    ok, secs, err = run_nb(nb, skip_flags=tst_flags(), force_flags=force)
    print(f'{nb.relative_to(NBS)}: {secs:.1f}s')
    assert ok, f'notebook {nb.relative_to(ROOT)} failed:\n{err}'
