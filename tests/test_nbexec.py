"""tools/nbexec.py's `run_nb_isolated`, which runs each library notebook for test_notebooks.py and the docs: every
notebook in a process of its own (forked from a server that made the heavy imports once), seeing the caller's
environment, and a failure, a crash or a hang reported with what went wrong."""
import json, os, sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]/'tools'))
from nbexec import run_nb_isolated

def _nb(path, *sources):
    cells = [{'cell_type': 'code', 'id': f'c{i}', 'metadata': {}, 'outputs': [], 'execution_count': None, 'source': s}
             for i, s in enumerate(sources)]
    path.write_text(json.dumps({'cells': cells, 'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))
    return path

def test_each_notebook_gets_a_fresh_process_with_the_callers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('L3_NBEXEC_PROBE', 'seen')   # set after the fork server may have started
    first = _nb(tmp_path/'a.ipynb', 'import torch, os\ntorch.l3_leak = os.getpid()')
    second = _nb(tmp_path/'b.ipynb', 'import torch, os\nassert not hasattr(torch, "l3_leak"), "state leaked between notebooks"',
                 'assert os.environ["L3_NBEXEC_PROBE"] == "seen"', 'assert torch.ones(64, 64).sum() == 4096')
    for nb in (first, second):
        ok, secs, err = run_nb_isolated(nb, save=False, timeout=300)
        assert ok, err

def test_failure_crash_and_hang_are_reported(tmp_path):
    ok, _, err = run_nb_isolated(_nb(tmp_path/'fail.ipynb', 'x = 1', 'raise ValueError("the cell at fault")'), save=False, timeout=300)
    assert not ok and 'the cell at fault' in err
    ok, _, err = run_nb_isolated(_nb(tmp_path/'crash.ipynb', 'import os; os._exit(3)'), save=False, timeout=300)
    assert not ok and 'crash.ipynb: exit 3' in err
    ok, secs, err = run_nb_isolated(_nb(tmp_path/'hang.ipynb', 'import time; time.sleep(60)'), save=False, timeout=3)
    assert not ok and 'still running after 3s' in err and secs < 30
