"""Run one notebook with nbdev's test semantics and keep its outputs.

Library notebooks: the same rules as `nbdev.test.test_nb` (tst_flags skip cells, `#| eval: false` skips, the notebook
runs in its own folder). Lessons (nbs/lessons/): `run_lesson_nb` runs them through the runner of `l3 lesson`
(`l3.cli.run_lesson`) into _build/runs/NAME, so the test suite runs each lesson once and the lesson tests read what
that run wrote. Either way the executed notebook is written to `_build/executed/<path under nbs>` so the docs site can
show its plots without running anything a second time.
"""
import os
import sys
import time
import json
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, EXECUTED = ROOT/'nbs', ROOT/'_build'/'executed'
LESSONS, RUNS = NBS/'lessons', ROOT/'_build'/'runs'

def tst_flags() -> list[str]:
    cfg = ConfigParser(delimiters=['='])
    cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT'].get('tst_flags', '').split()

def notebooks() -> list[Path]:
    "Every notebook under nbs/ except checkpoints and files/folders starting with _ or ."
    return sorted(p for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

def is_lesson(fn) -> bool: return Path(fn).resolve().parent == LESSONS

def _write(nb: dict, dest: Path):
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(f'.{os.getpid()}.tmp')      # one per process: `make docs` and `make test` may write the same copy at once
    tmp.write_text(json.dumps(nb, indent=1, default=str), encoding='utf-8')
    os.replace(tmp, dest)

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
    os.environ['IN_TEST'] = '1'     # nbdev's own test flag (its commands do nothing under it); l3 never reads it
    # A lesson run from a library notebook writes under runs/nbtest/, never over the results of your `make run`.
    os.environ['L3_RUNS'] = str(Path(os.environ.get('L3_RUNS') or ROOT/'runs').expanduser()/'nbtest')
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

# The heavy imports every library notebook makes, done once in a fork server: each notebook then runs in a fresh
# process forked from it (isolated as before), without paying about 6 s of imports each time (03_data_block, CPU
# AVX2: 6.7 s in a new interpreter, 0.5 s forked). Nothing of l3 is imported there (a notebook exports and imports
# its modules itself), and no tensor work runs before the fork.
PRELOAD = ['torch', 'torchvision', 'pandas', 'matplotlib', 'IPython', 'execnb.shell', 'nbdev.process', 'nbdev.frontmatter']

def _child(fn, skip_flags, force_flags, save, env, cwd, log, conn):
    "The forked process: the caller's environment and folder, its output to `log` (kept on failure), the result to `conn`."
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try: res = run_nb(Path(fn), skip_flags=skip_flags, force_flags=force_flags, save=save)
    except BaseException as e: res = (False, 0.0, f'{fn}: {type(e).__name__}: {e}')
    conn.send(res)
    conn.close()

def run_nb_isolated(fn: Path, skip_flags=(), force_flags=(), timeout: float = 1800, save=True):
    """`run_nb` in a fresh Python process: a notebook that defines a class again (an item list, a label class, a
    callback) then cannot change the registries and classes the next notebook or test sees in this process. The
    process is forked from a server that has made the heavy imports (PRELOAD) once."""
    import multiprocessing as mp
    import tempfile
    ctx = mp.get_context('forkserver')
    ctx.set_forkserver_preload(PRELOAD)
    recv, send = ctx.Pipe(duplex=False)
    t0 = time.perf_counter()
    with tempfile.NamedTemporaryFile(suffix='.log') as log:
        p = ctx.Process(target=_child, args=(str(Path(fn).resolve()), list(skip_flags), list(force_flags), save,
                                                   dict(os.environ), os.getcwd(), log.name, send))
        p.start()
        send.close()
        timed_out = not recv.poll(timeout)
        try: res = None if timed_out else recv.recv()
        except EOFError: res = None               # it died without a result (a crash, or killed)
        p.join(0 if timed_out else 10)
        if p.is_alive():
            p.kill()
            p.join()
        if res is None:
            why = f'still running after {timeout:.0f}s' if timed_out else f'exit {p.exitcode}'
            return False, time.perf_counter() - t0, f'{fn}: {why}\n' + Path(log.name).read_text(errors='replace')[-3000:]
    return tuple(res)
