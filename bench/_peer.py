"""What the side-by-side benchmarks share: finding a Python with fastai (the peer), and running one configuration in its
own process, which prints a `RESULT {json}` line (fresh memory figures, one library loaded at a time).

Not a benchmark itself (`l3 bench all` skips files starting with `_`)."""
import json, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV_PY = ROOT/'.venv-bench'/'bin'/'python'   # fastai installed beside l3, reusing its torch

def fastai_python(module: str = 'fastai'):
    "A Python that can import `module` (this one, else the bench venv's), or None."
    for py in (sys.executable, str(BENCH_VENV_PY)):
        if Path(py).exists() and subprocess.run([py, '-c', f'import {module}'], capture_output=True).returncode == 0: return py
    return None

def emit(result: dict):
    "What a worker prints last: its measurements as one `RESULT` line."
    print('RESULT ' + json.dumps(result))

def run_worker(py, script, argv, name):
    "Run `py script *argv`, return the dict of its last `RESULT` line, or print the tail of its errors and return None."
    p = subprocess.run([py, str(script), *argv], capture_output=True, text=True, cwd=ROOT)
    line = [l for l in p.stdout.splitlines() if l.startswith('RESULT ')]
    if p.returncode or not line:
        print(f'  {name}: failed (exit {p.returncode})\n' + '\n'.join(p.stderr.strip().splitlines()[-8:]))
        return None
    return json.loads(line[-1][7:])
