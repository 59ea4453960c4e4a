"""Run one notebook with nbdev's test semantics and keep its outputs.

Library notebooks: the same rules as `nbdev.test.test_nb` (tst_flags skip cells, `#| eval: false` skips, the notebook
runs in its own folder). Lessons (nbs/lessons/): `run_lesson_nb` runs them through the runner of `l3 lesson`
(`l3.cli.run_lesson`) into _build/runs/NAME, so the test suite runs each lesson once and the lesson tests read what
that run wrote. Either way the executed notebook is written to `_build/executed/<path under nbs>` so the docs site can
show its plots without running anything a second time.
"""
import os, sys, time, json
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, EXECUTED = ROOT/'nbs', ROOT/'_build'/'executed'
LESSONS, RUNS = NBS/'lessons', ROOT/'_build'/'runs'

def tst_flags() -> list[str]:
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT'].get('tst_flags', '').split()

def notebooks() -> list[Path]:
    "Every notebook under nbs/ except checkpoints and files/folders starting with _ or ."
    return sorted(p for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

def is_lesson(fn) -> bool: return Path(fn).resolve().parent == LESSONS

def _write(nb: dict, dest: Path):
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f'.{os.getpid()}.tmp')      # one per process: `make docs` and `make test` may write the same copy at once
    tmp.write_text(json.dumps(nb, indent=1, default=str), encoding='utf-8'); os.replace(tmp, dest)

def keep_for_docs(executed: Path, lesson: Path):
    "Copy a lesson executed by the runner to _build/executed/, without the cell of injected parameters."
    nb = json.loads(Path(executed).read_text(encoding='utf-8'))
    nb['cells'] = [c for c in nb['cells'] if 'injected-parameters' not in c.get('metadata', {}).get('tags', [])]
    _write(nb, EXECUTED/Path(lesson).resolve().relative_to(NBS))

def run_lesson_nb(fn: Path, out=None) -> dict:
    "Run lesson `fn` with `l3 lesson`'s runner into `out` (default _build/runs/NAME); its record (see l3.cli.run_lesson)."
    from l3.cli import run_lesson
    fn = Path(fn).resolve()
    rec = run_lesson(fn.stem, Path(out or RUNS/fn.stem))
    if 'error' not in rec: keep_for_docs(Path(rec['out'])/f'{fn.stem}.ipynb', fn)
    return rec

def _clean(o):
    "Drop nbdev's processing attributes (keys ending in '_') so the notebook can be written back."
    if isinstance(o, dict): return {k: _clean(v) for k, v in o.items() if not k.endswith('_')}
    if isinstance(o, list): return [_clean(v) for v in o]
    return o

def run_nb(fn: Path, skip_flags=(), force_flags=(), save=True):
    "Execute `fn`; returns (ok, seconds, error text). Writes the executed copy under _build/executed when `save`."
    from fastcore.xtras import working_directory
    from nbdev.process import NBProcessor
    from nbdev.frontmatter import FrontmatterProc
    from execnb.shell import CaptureShell
    fn = Path(fn).resolve()
    os.environ['IN_TEST'] = '1'
    if str(fn.parent) not in sys.path: sys.path.insert(0, str(fn.parent))
    flags = set(skip_flags) - set(force_flags)
    nb = NBProcessor(fn, procs=FrontmatterProc, process=True).nb
    def _no_eval(cell):
        if cell.cell_type != 'code': return True
        if 'nbdev_export' + '(' in cell.source: return True
        direc = getattr(cell, 'directives_', {}) or {}
        if direc.get('eval:', [''])[0].lower() == 'false': return True
        return flags & direc.keys()
    t0, err = time.perf_counter(), None
    k = CaptureShell(fn)
    try:
        with working_directory(fn.parent): k.run_all(nb, exc_stop=True, preproc=_no_eval)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt): raise
        err = k.prettytb(fname=fn)
    if save and err is None:
        # Keep the source exactly as written (nbdev's directives included) and add the outputs of this run.
        orig = json.loads(fn.read_text(encoding='utf-8'))
        assert len(orig['cells']) == len(nb.cells), f'{fn}: cell count changed while processing'
        for c, ran in zip(orig['cells'], nb.cells):
            if c['cell_type'] == 'code': c['outputs'] = _clean(list(ran.get('outputs', [])))
        _write(orig, EXECUTED/fn.relative_to(NBS))
    return err is None, time.perf_counter() - t0, err

def run_nb_isolated(fn: Path, skip_flags=(), force_flags=(), timeout: float = 1800):
    """`run_nb` in a fresh Python process: a notebook that defines a class again (an item list, a label class, a
    callback) then cannot change the registries and classes the next notebook or test sees in this process."""
    import subprocess
    cmd = [sys.executable, __file__, str(Path(fn).resolve()), ','.join(skip_flags), ','.join(force_flags)]
    t0 = time.perf_counter()
    try: p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired: return False, time.perf_counter() - t0, f'{fn}: still running after {timeout:.0f}s'
    lines = p.stdout.strip().splitlines()
    if p.returncode or not lines: return False, time.perf_counter() - t0, f'{fn}: exit {p.returncode}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}'
    ok, secs, err = json.loads(lines[-1])
    return ok, secs, err

if __name__ == '__main__':   # python tools/nbexec.py NB SKIP,FLAGS FORCE,FLAGS  -> last line: JSON [ok, seconds, error]
    _fn, _skip, _force = sys.argv[1], sys.argv[2], sys.argv[3]
    _res = run_nb(Path(_fn), skip_flags=[f for f in _skip.split(',') if f], force_flags=[f for f in _force.split(',') if f])
    print('\n' + json.dumps(list(_res)))
