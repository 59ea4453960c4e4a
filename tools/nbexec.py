"""Run one notebook with nbdev's test semantics and keep its outputs.

Same rules as `nbdev.test.test_nb` (tst_flags skip cells, `#| eval: false` skips, the notebook runs in its own folder),
but the executed notebook is written to `_build/executed/<path under nbs>` so the docs site can show its plots
without running everything a second time.
"""
import os, sys, time, json
from configparser import ConfigParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS, EXECUTED = ROOT/'nbs', ROOT/'_build'/'executed'

def tst_flags() -> list[str]:
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT'].get('tst_flags', '').split()

def notebooks() -> list[Path]:
    "Every notebook under nbs/ except checkpoints and files/folders starting with _ or ."
    return sorted(p for p in NBS.rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(NBS).parts))

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
        dest = EXECUTED/fn.relative_to(NBS)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix('.tmp')
        tmp.write_text(json.dumps(orig, indent=1, default=str), encoding='utf-8'); os.replace(tmp, dest)
    return err is None, time.perf_counter() - t0, err
