from __future__ import annotations
import os, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Tests never reach the internet: datasets come from the synthetic stand-ins, downloads from 127.0.0.1.
os.environ.setdefault('L3_OFFLINE', '1')
os.environ.setdefault('L3_QUIET', '1')
# `make test` runs the suite on every core with pytest-xdist (-n auto): each worker then gets its share of the cores'
# threads (set before torch starts, and inherited by the kernels that run notebooks), not a full set each.
WORKERS = int(os.environ.get('PYTEST_XDIST_WORKER_COUNT', '1'))
if WORKERS > 1:
    _threads = str(max(1, (os.cpu_count() or 1) // WORKERS))
    for _v in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'): os.environ.setdefault(_v, _threads)
    if 'torch' in sys.modules: sys.modules['torch'].set_num_threads(int(os.environ['OMP_NUM_THREADS']))
# The longest lessons, sent to the workers first so that no worker starts one near the end (pytest --durations).
LONGEST_FIRST = ('planet', 'camvid', 'imdb', 'head_pose')

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

def _lesson(item) -> str | None:
    "The lesson whose run `item` reads: its `lesson` mark, or the lesson notebook it runs (test_notebooks.py)."
    mark = item.get_closest_marker('lesson')
    if mark: return mark.args[0]
    nb = getattr(item, 'callspec', None) and item.callspec.params.get('nb')
    return nb.stem if nb is not None and nb.parent.name == 'lessons' else None

def _group(item) -> str:
    "The xdist group of `item`: tests of one lesson's run share a worker (it runs once), a test file shares its fixtures."
    lesson = _lesson(item)
    if lesson: return f'lesson-{lesson}'
    if item.nodeid.startswith('tests/test_notebooks.py'): return item.nodeid   # each notebook on its own
    return item.nodeid.split('::')[0]

def pytest_collection_modifyitems(config, items):
    """The order: the lessons' runs first, longest first; then the rest; the docs site test last (it reuses the
    notebooks executed by test_notebooks.py). Under xdist each item gets its group (`--dist loadgroup`).
    `slow` tests need L3_SLOW=1."""
    import pytest
    def rank(it):
        lesson = _lesson(it)
        if lesson: return (0, LONGEST_FIRST.index(lesson) if lesson in LONGEST_FIRST else len(LONGEST_FIRST))
        return (2, 0) if it.nodeid.startswith('tests/test_docs.py') else (1, 0)
    items.sort(key=rank)                         # a stable sort: the collection order within each rank
    if WORKERS > 1:
        for it in items: it.add_marker(pytest.mark.xdist_group(_group(it)))
    if os.environ.get('L3_SLOW', '').strip().lower() not in ('1', 'true', 'yes'):
        skip = pytest.mark.skip(reason='slow: set L3_SLOW=1 to run it')
        for it in items:
            if 'slow' in it.keywords: it.add_marker(skip)
