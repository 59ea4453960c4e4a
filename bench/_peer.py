"""What the side-by-side benchmarks share: finding a Python with fastai (the peer), and running one configuration in its
own process, which prints a `RESULT {json}` line (fresh memory figures, one library loaded at a time); and what every
bench prints about the hardware it ran on: torch's CPU capability, oneDNN's and MKL's ISA, native bf16/AMX, a peak
measured in the same run (the faster of a matmul and a 3x3 convolution: on an AMD CPU with AVX-512, torch's matmul
library runs its AVX2 code while oneDNN's convolutions use AVX-512, so a matmul alone understates the limit; each step's
share of it is printed beside the step), and `--emulate-avx2`.

Not a benchmark itself (`l3 bench all` skips files starting with `_`)."""
import json, os, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV_PY = Path(os.environ.get('L3_PEER_PYTHON') or ROOT/'.venv-bench'/'bin'/'python')   # fastai beside l3, reusing its torch

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


# --- the hardware a bench ran on, and the limit a step is measured against --------------------------------------------

# a CPU without AVX-512 / bf16 / AMX: torch's own kernels, oneDNN's (convolutions) and MKL's (matmul; on an Intel CPU
# it runs AVX-512 code unless told, which kept the float32 matmul at 133 GFLOP/s instead of AVX2's 61 on a Xeon)
EMULATE_AVX2 = {'ATEN_CPU_CAPABILITY': 'avx2', 'ONEDNN_MAX_CPU_ISA': 'AVX2', 'MKL_ENABLE_INSTRUCTIONS': 'AVX2'}

def add_emulate_arg(ap):
    "The `--emulate-avx2` switch every bench takes."
    ap.add_argument('--emulate-avx2', action='store_true',
                    help='run both libraries as on a CPU without AVX-512/bf16/AMX (ATEN_CPU_CAPABILITY=avx2, '
                         'ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2; checked to take effect)')

def emulate_avx2(on: bool):
    "Set the emulation variables in this process's environment (the workers it starts inherit them); before torch loads."
    if on: os.environ.update(EMULATE_AVX2)

_PROBE = r'''
import json, os, sys, time, torch
threads, dtypes = int(sys.argv[1]), sys.argv[2].split(',')
if threads: torch.set_num_threads(threads)
x = torch.randn(2, 16, 32, 32).contiguous(memory_format=torch.channels_last)
torch.nn.functional.conv2d(x, torch.randn(16, 16, 3, 3).contiguous(memory_format=torch.channels_last), padding=1)  # oneDNN wakes, prints its ISA
sys.stdout.flush()
native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
peak, parts = {}, {}   # per dtype: the limit, and the two it is the faster of
for name in dtypes:
    if name == 'bfloat16' and not native: continue   # emulated bf16 is ~50x slower: no limit worth measuring
    dt, cl = getattr(torch, name), torch.channels_last
    a, b = torch.randn(1024, 1024, dtype=dt), torch.randn(1024, 1024, dtype=dt)
    x = torch.randn(16, 128, 32, 32, dtype=dt).contiguous(memory_format=cl)
    w = torch.randn(128, 128, 3, 3, dtype=dt).contiguous(memory_format=cl)
    for kind, f, flop in (('matmul', lambda: a @ b, 2 * 1024**3),
                          ('conv', lambda: torch.nn.functional.conv2d(x, w, padding=1), 2 * 16 * 128 * 128 * 9 * 32 * 32)):
        for _ in range(3): f()
        best = min((lambda t: (f(), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(20))
        parts.setdefault(name, {})[kind] = flop / best / 1e9
    peak[name] = max(parts[name].values())
print('PROBE ' + json.dumps(dict(capability=torch.backends.cpu.get_cpu_capability(),
      avx512_bf16=bool(torch.cpu._is_avx512_bf16_supported()), amx=bool(torch.cpu._is_amx_tile_supported()),
      mkldnn_bf16=native, torch=torch.__version__,
      threads=torch.get_num_threads(), peak_gflops=peak, peak_parts=parts)))
'''

def hardware(threads: int = 1, dtypes=('float32', 'bfloat16'), py=None) -> dict:
    """What this CPU is, as torch and oneDNN see it under the current environment (so with `--emulate-avx2` too):
    capability, native bf16 / AMX, oneDNN's and MKL's ISA, and a peak in GFLOP/s per dtype on `threads` threads: the faster of
    a 1024x1024x1024 matmul and a 3x3 convolution (128 channels at 32x32, batch 16), both kept in 'peak_parts'."""
    env = {**os.environ, 'ONEDNN_VERBOSE': '1', 'MKL_VERBOSE': '1'}   # each library names its ISA when it starts
    p = subprocess.run([py or sys.executable, '-c', _PROBE, str(threads), ','.join(dtypes)], capture_output=True, text=True, env=env)
    line = [l for l in p.stdout.splitlines() if l.startswith('PROBE ')]
    if p.returncode or not line: raise RuntimeError(f'hardware probe failed:\n{p.stderr[-1500:]}')
    hw = json.loads(line[-1][6:])
    isa = [l.split('isa:', 1)[1] for l in p.stdout.splitlines() if ',isa:' in l]
    hw['onednn_isa'] = isa[0].strip() if isa else '?'
    mkl = [re.search(r'\(Intel\(R\) (AVX[^)]*)\)', l) for l in p.stdout.splitlines() if l.startswith('MKL_VERBOSE') and 'architecture' in l]
    hw['mkl_isa'] = mkl[0].group(1) if mkl and mkl[0] else '?'
    try: hw['cpu'] = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): hw['cpu'] = '?'
    hw['emulated_avx2'] = all(os.environ.get(k) == v for k, v in EMULATE_AVX2.items())
    return hw

def check_emulation(hw: dict):
    "Raise when `--emulate-avx2` was asked but torch, oneDNN or MKL still uses more than AVX2."
    bad = [f'{k} {v!r}' for k, v in (('torch capability', hw['capability']), ('oneDNN ISA', hw['onednn_isa']),
                                     ('MKL ISA', hw['mkl_isa'])) if 'AVX2' not in v]   # e.g. 'AVX512', 'Intel AVX 10.1'
    if bad: raise SystemExit(f'--emulate-avx2 did not take effect: {", ".join(bad)}')

def print_hardware(hw: dict):
    "One paragraph: the CPU, what torch/oneDNN/MKL run on it, and the peak(s) each step is set against."
    parts = hw['peak_parts']
    peaks = ', '.join(f"{k} {v:.0f} GFLOP/s (matmul {parts[k]['matmul']:.0f}, conv {parts[k]['conv']:.0f})"
                      for k, v in hw['peak_gflops'].items())
    print(f"hardware: {hw['cpu']}, torch {hw['torch']}, capability {hw['capability']}, oneDNN ISA {hw['onednn_isa']}, MKL ISA {hw['mkl_isa']}; "
          f"native bf16 {'yes' if hw['mkldnn_bf16'] else 'no'} (AVX512-BF16 {'yes' if hw['avx512_bf16'] else 'no'}, "
          f"AMX {'yes' if hw['amx'] else 'no'}){'; emulating an AVX2-only CPU' if hw['emulated_avx2'] else ''}\n"
          f"limit: the faster of a 1024x1024x1024 matmul and a 3x3 convolution (oneDNN, 128 channels at 32x32, batch 16) on "
          f"{hw['threads']} thread(s), best of 20 each, measured now: {peaks}; load average "
          f"{' '.join(f'{l:.2f}' for l in os.getloadavg())}")

def peak_share(gflop: float, seconds: float, hw: dict, dtype: str = 'float32') -> str:
    "A step's share of the peak in its dtype: `gflop` of work done in `seconds`."
    peak = hw['peak_gflops'].get(dtype) or hw['peak_gflops'].get('float32')
    return f'{100 * gflop / seconds / peak:.0f}%' if gflop and peak else '-'

def step_gflop(model, loss_func, xb, yb) -> float:
    "GFLOP of one training step (forward + backward) of `model` on one batch, as torch's FlopCounterMode counts them."
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        loss = loss_func(model(xb), yb); loss.backward()
    for p in model.parameters(): p.grad = None
    return fc.get_total_flops() / 1e9
