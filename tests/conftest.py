import os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Tests never reach the internet: datasets come from the synthetic stand-ins, downloads from 127.0.0.1.
os.environ.setdefault('L3_OFFLINE', '1')
os.environ.setdefault('L3_QUIET', '1')

import pytest

@pytest.fixture(scope='session')
def lesson_run():
    "`lesson_run(name)`: lesson `name` run once per test session by `l3 lesson`'s runner into _build/runs/NAME; its record."
    sys.path.insert(0, str(ROOT/'tools'))
    from nbexec import run_lesson_nb, LESSONS
    done = {}
    def get(name):
        if name not in done: done[name] = run_lesson_nb(LESSONS/f'{name}.ipynb')
        return done[name]
    return get

def pytest_collection_modifyitems(config, items):
    "The docs site test goes last (it reuses the notebooks executed by test_notebooks.py); `slow` tests need L3_SLOW=1."
    import pytest
    items.sort(key=lambda it: it.nodeid.startswith('tests/test_docs.py'))
    if os.environ.get('L3_SLOW', '').strip().lower() not in ('1', 'true', 'yes'):
        skip = pytest.mark.skip(reason='slow: set L3_SLOW=1 to run it')
        for it in items:
            if 'slow' in it.keywords: it.add_marker(skip)
