"""Runs every notebook under nbs/ the way `nbdev_test` does, one pytest test per notebook.

The `tst_flags` of settings.ini (notest slow cuda) are honoured: cells marked with a flag are skipped unless that
flag is turned on. `cuda` is turned on automatically when a GPU is present; `L3_TEST_FLAGS="slow"` turns on others.
"""
import os, time
from configparser import ConfigParser
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT/'nbs'

def _flags():
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT'].get('tst_flags', '').split()

def _notebooks():
    nbs = sorted(p for p in NBS.rglob('*.ipynb')
                 if '.ipynb_checkpoints' not in p.parts and not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))
    return nbs

@pytest.mark.parametrize('nb', _notebooks(), ids=lambda p: str(p.relative_to(NBS)))
def test_notebook(nb, monkeypatch):
    from nbdev.test import test_nb
    import torch
    force = set(os.environ.get('L3_TEST_FLAGS', '').split())
    if torch.cuda.is_available(): force.add('cuda')
    skip = [f for f in _flags() if f not in force]
    monkeypatch.chdir(nb.parent)
    t0 = time.perf_counter()
    ok, _ = test_nb(nb, skip_flags=skip, force_flags=sorted(force), do_print=False, showerr=True, basepath=nb.parent)
    print(f'{nb.relative_to(NBS)}: {time.perf_counter()-t0:.1f}s')
    assert ok, f'notebook {nb.relative_to(ROOT)} failed (see the cell error above)'
