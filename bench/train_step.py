"""Training-step speed and memory: l3's `cnn_learner` / `unet_learner` against fastai 2.8's defaults, same model, batch.

    python bench/train_step.py              # ResNet-34 classifier bs 16 at 128x128, U-Net ResNet-34 bs 8 at 96x128, CPU
    python bench/train_step.py --quick      # smoke run: resnet18, 2 images of 32x32, 2 timed steps, one round
    python bench/train_step.py --tasks unet --rounds 3 --device cuda
    python bench/train_step.py --emulate-avx2   # both libraries as on a CPU without AVX-512/bf16/AMX (checked)

It prints the hardware first (torch's CPU capability, oneDNN's ISA, native bf16/AMX, a peak per dtype measured in the
same run on the same threads: the faster of a 1024x1024x1024 matmul and a 3x3 convolution of 128 channels at 32x32),
then per row the dtype it ran in, the GFLOP of one step (forward + backward, torch's FlopCounterMode) and the step's
share of that peak (by the step's CPU time): how close to this machine's limit each library runs.

Configurations (each in its own fresh process, so its peak memory -- `getrusage` maxrss, which also sees torch's
allocations -- is its own):
  l3          l3's default: channels_last, and bf16 autocast where it measures faster (mixed_precision='auto',
              bf16_pays)
  l3-fp32     l3 with mixed_precision=False (float32, channels_last)
  fastai      fastai's `vision_learner` / `unet_learner` defaults (float32, contiguous), pretrained=False
  (on CUDA also l3-fp16 and fastai-fp16: `learn.to_fp16()` in both)
Each run uses `--threads` torch threads (default 1: on a shared machine multi-threaded steps wait on descheduled
threads and wall times swing; 0 keeps torch's default). Wall and CPU time per step are both reported.
Both libraries train with `learn.fit(1, 1e-3)` on the same random images (normalised-like, 10 classes / 32 mask
codes), models with random weights (pretrained=False, so nothing is downloaded) in two phases: `frozen` (after
`learn.freeze()`: head/decoder and BatchNorm train -- what both libraries' pretrained defaults start with) and
`unfrozen` (everything trains, as after `unfreeze()`). A callback times each batch from
`before_batch` to `after_batch` (forward, loss, backward, optimiser step, zero_grad). The first `--warmup` steps are
dropped. The machine may be shared: the configurations run in turns, `--rounds` times, and each keeps its best round
(median step time of that round). fastai is looked for in this Python, then in /work/main/.venv-bench; without it
only l3 is measured ("fastai not installed").
"""
import argparse
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from _peer import (BENCH_VENV_PY, fastai_python, emit, run_worker, add_emulate_arg, emulate_avx2, hardware,  # noqa: E402
                   check_emulation, print_hardware, peak_share, step_gflop)   # shared with the other benches

TASKS = {  # name: (arch, bs, (h, w), n_out); --quick shrinks them
    'cnn': ('resnet34', 16, (128, 128), 10),
    'unet': ('resnet34', 8, (96, 128), 32),
}
QUICK = {'cnn': ('resnet18', 2, (32, 32), 10), 'unet': ('resnet18', 2, (32, 32), 32)}


# --- worker: one configuration in one process -------------------------------------------------------------------------

def _rss_mb():
    "Current resident memory of this process in MB."
    with open('/proc/self/statm') as f: return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20

def _data(task, spec, n_batches, seed=0):
    import torch
    arch, bs, (h, w), n_out = spec
    g = torch.Generator().manual_seed(seed)
    n = bs * n_batches
    x, xv = torch.randn(n, 3, h, w, generator=g), torch.randn(bs, 3, h, w, generator=g)
    if task == 'cnn': y, yv = torch.randint(0, n_out, (n,), generator=g), torch.randint(0, n_out, (bs,), generator=g)
    else: y, yv = torch.randint(0, n_out, (n, h, w), generator=g), torch.randint(0, n_out, (bs, h, w), generator=g)
    return x, y, xv, yv

def _sync(dev):
    import torch
    if dev == 'cuda': torch.cuda.synchronize()

def _timer(base, times, dev):
    "A callback of either library (`base`: its Callback class) appending (wall, cpu) seconds of each batch to `times`."
    class Timer(base):
        order = -100
        def before_batch(self):
            _sync(dev)
            self.t = (time.perf_counter(), time.process_time())
        def after_batch(self):
            _sync(dev)
            times.append((time.perf_counter() - self.t[0], time.process_time() - self.t[1]))
    return Timer()

def run_l3(task, spec, config, n_batches, dev, frozen):
    sys.path.insert(0, str(ROOT))
    import torch
    import l3
    from l3.callbacks import Callback
    from l3.tensor_data import TensorData
    from l3.databunch import DeviceDataLoader
    from l3.vision import cnn_learner, unet_learner
    arch, bs, size, n_out = spec
    x, y, xv, yv = _data(task, spec, n_batches)
    ds = torch.utils.data.TensorDataset
    data = TensorData(DeviceDataLoader(ds(x, y), dev, batch_size=bs, shuffle=True, drop_last=True),
                      DeviceDataLoader(ds(xv, yv), dev, batch_size=bs), c=n_out,
                      label_cls='category' if task == 'cnn' else 'mask')
    base = _rss_mb()
    mp = {'l3': 'auto', 'l3-fp32': False, 'l3-fp16': True}[config]
    mk = cnn_learner if task == 'cnn' else unet_learner
    kw = {} if task == 'cnn' else {'img_size': size}
    learn = mk(data, arch, pretrained=False, mixed_precision=mp, **kw)
    if frozen: learn.freeze()
    times = []
    learn.fit(1, 1e-3, callbacks=[_timer(Callback, times, dev)])
    amp = str(learn.amp_dtype).replace('torch.', '') if learn.amp_dtype else 'fp32'
    xb, yb = x[:bs].to(dev), y[:bs].to(dev)
    if learn.channels_last: xb = xb.contiguous(memory_format=torch.channels_last)
    with learn._autocast(): learn.l3_gflop = step_gflop(learn.model.train(), learn.loss_func, xb, yb)
    _GFLOP[0] = learn.l3_gflop
    layout = ', channels_last' if learn.channels_last else ''
    return times, base, f'l3 {getattr(l3, "__version__", "?")} ({amp}{layout})'

def run_fastai(task, spec, config, n_batches, dev, frozen):
    import warnings
    warnings.filterwarnings('ignore')
    import torch
    import fastai
    from fastai.vision.all import (vision_learner, unet_learner, DataLoaders, CrossEntropyLossFlat, Callback,
                                   resnet18, resnet34, resnet50)
    from fastai.data.load import DataLoader
    arch, bs, size, n_out = spec
    x, y, xv, yv = _data(task, spec, n_batches)
    dls = DataLoaders(DataLoader(list(zip(x, y)), bs=bs, shuffle=True, drop_last=True, device=dev),
                      DataLoader(list(zip(xv, yv)), bs=bs, device=dev), device=dev)
    base = _rss_mb()
    arch_fn = {'resnet18': resnet18, 'resnet34': resnet34, 'resnet50': resnet50}[arch]
    if task == 'cnn':
        learn = vision_learner(dls, arch_fn, n_out=n_out, pretrained=False, normalize=False,
                               loss_func=CrossEntropyLossFlat())
    else:
        learn = unet_learner(dls, arch_fn, n_out=n_out, pretrained=False, normalize=False,
                             loss_func=CrossEntropyLossFlat(axis=1))
    if config == 'fastai-fp16': learn.to_fp16()
    if frozen: learn.freeze()
    times = []
    learn.add_cb(_timer(Callback, times, dev))
    with learn.no_bar(), learn.no_logging(): learn.fit(1, 1e-3)
    xb, yb = x[:bs].to(dev), y[:bs].to(dev)
    learn.model.train()
    with (torch.autocast(dev, dtype=torch.float16) if config == 'fastai-fp16' else torch.autocast(dev, enabled=False)):
        _GFLOP[0] = step_gflop(learn.model, learn.loss_func, xb, yb)
    return times, base, f'fastai {fastai.__version__} ({"fp16" if config == "fastai-fp16" else "fp32"})'

_GFLOP = [None]   # GFLOP of one step of the worker's model, set by run_l3 / run_fastai

def worker(task, config, quick, warmup, steps, dev, threads, phase):
    os.environ.setdefault('L3_QUIET', '1')
    os.environ.setdefault('L3_OFFLINE', '1')
    import torch
    if threads: torch.set_num_threads(threads)
    spec = (QUICK if quick else TASKS)[task]
    t0 = time.perf_counter()
    run = run_fastai if config.startswith('fastai') else run_l3
    times, base, desc = run(task, spec, config, warmup + steps, dev, phase == 'frozen')
    out = {'times': [t[0] for t in times[warmup:]], 'cpu_times': [t[1] for t in times[warmup:]], 'base_rss_mb': base,
           'desc': desc, 'wall_s': time.perf_counter() - t0,
           'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 'threads': torch.get_num_threads(),
           'gflop': _GFLOP[0],
           'dtype': 'bfloat16' if '(bfloat16' in desc else 'float16' if 'fp16' in desc else 'float32'}
    if dev == 'cuda': out['gpu_peak_mb'] = torch.cuda.max_memory_allocated() / 2**20
    emit(out)


# --- driver ---------------------------------------------------------------------------------------------------------

def run_config(py, task, phase, config, args):
    cmd = ['--worker', task, config, '--phases', phase, '--warmup', str(args.warmup), '--steps', str(args.steps),
           '--device', args.device, '--threads', str(args.threads)] + (['--quick'] if args.quick else [])
    return run_worker(py, __file__, cmd, config)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--quick', action='store_true',
                    help='smoke run: resnet18, 2 images of 32x32, 2 timed steps, 1 round, unfrozen phase only')
    ap.add_argument('--tasks', default='cnn,unet', help='comma-separated: cnn, unet')
    ap.add_argument('--rounds', type=int, default=None, help='turns over all configurations (default 2; quick 1)')
    ap.add_argument('--warmup', type=int, default=None, help='untimed first steps (default 2; quick 1)')
    ap.add_argument('--steps', type=int, default=None, help='timed steps per run (default 5; quick 2)')
    ap.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    ap.add_argument('--threads', type=int, default=1,
                    help="torch CPU threads per run (default 1: steadier on a shared machine; 0 = torch's default)")
    ap.add_argument('--phases', default=None,
                    help='frozen: body frozen (stage 1, what a pretrained learner starts with); unfrozen: all trained')
    ap.add_argument('--no-fastai', action='store_true', help='measure l3 only')
    add_emulate_arg(ap)
    ap.add_argument('--worker', nargs=2, metavar=('TASK', 'CONFIG'), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    args.rounds = args.rounds or 1 if q else args.rounds or 2
    args.warmup = args.warmup if args.warmup is not None else (1 if q else 2)
    args.steps = args.steps or (2 if q else 5)
    args.phases = args.phases or ('unfrozen' if q else 'frozen,unfrozen')
    if args.worker: return worker(*args.worker, q, args.warmup, args.steps, args.device, args.threads, args.phases)
    emulate_avx2(args.emulate_avx2)          # the workers inherit the environment
    hw = hardware(args.threads)
    print_hardware(hw)
    if args.emulate_avx2: check_emulation(hw)

    fa_py = None if args.no_fastai else fastai_python()
    if args.no_fastai: print('fastai not measured (--no-fastai): measuring l3 only')
    elif fa_py is None:
        print(f'fastai not installed: measuring l3 only (install it in a separate env such as {BENCH_VENV_PY})')
    configs = ['l3', 'l3-fp32'] + (['l3-fp16'] if args.device == 'cuda' else [])
    if fa_py: configs += ['fastai'] + (['fastai-fp16'] if args.device == 'cuda' else [])
    threads = None
    for task, phase in [(t, p) for t in args.tasks.split(',') for p in args.phases.split(',')]:
        arch, bs, (h, w), _ = (QUICK if q else TASKS)[task]
        name = {'cnn': 'classifier', 'unet': 'U-Net'}[task]
        print(f'\n{name} {arch} {phase}, bs {bs}, {h}x{w}, {args.device}: {args.warmup} warm-up + {args.steps} timed '
              f'steps, {args.rounds} round(s)')
        best = {}
        for r in range(args.rounds):
            for c in configs:
                res = run_config(fa_py if c.startswith('fastai') else sys.executable, task, phase, c, args)
                if res is None: continue
                res['median'], res['cpu'] = statistics.median(res['times']), statistics.median(res['cpu_times'])
                if c not in best or res['median'] < best[c]['median']: best[c] = res
        if not best: continue
        ref = best.get('fastai')
        print(f"  {'config':<10} {'what':<38} {'dtype':<8} {'step s':>7} {'cpu s':>7} {'img/s':>6} {'GFLOP':>6} "
              f"{'limit':>5} {'peak MB':>8} {'train MB':>9}  vs fastai (speed-up wall / cpu, memory peak / train)")
        for c, res in best.items():
            step, cpu, peak, grow = res['median'], res['cpu'], res['maxrss_mb'], res['maxrss_mb'] - res['base_rss_mb']
            vs = (f"{ref['median']/step:.2f}x / {ref['cpu']/cpu:.2f}x faster, memory {peak/ref['maxrss_mb']:.2f}x / "
                  f"{grow/(ref['maxrss_mb']-ref['base_rss_mb']):.2f}x") if ref and c != 'fastai' else ''
            gpu = f" gpu {res['gpu_peak_mb']:.0f} MB" if 'gpu_peak_mb' in res else ''
            gf = f"{res['gflop']:>6.1f}" if res.get('gflop') else f"{'-':>6}"
            lim = peak_share(res.get('gflop'), cpu, hw, res['dtype']) if args.device == 'cpu' else '-'
            print(f"  {c:<10} {res['desc']:<38} {res['dtype']:<8} {step:>7.3f} {cpu:>7.3f} {bs/step:>6.1f} {gf} "
                  f"{lim:>5} {peak:>8.0f} {grow:>9.0f}  {vs}{gpu}")
        if 'l3' in best and 'l3-fp32' in best:
            print(f"  l3 default vs l3 fp32: {best['l3-fp32']['median']/best['l3']['median']:.2f}x (wall), "
                  f"{best['l3-fp32']['cpu']/best['l3']['cpu']:.2f}x (cpu)")
        threads = next(iter(best.values()))['threads']
    print(f"\nstep s: median wall time of a training step in the best round; cpu s: the process's CPU time for it (all "
          f"threads; steadier than wall time when the machine is shared). torch threads: {threads}.\npeak MB: the "
          f"process's maxrss (imports included); train MB: maxrss minus the RSS before the learner was built (model, "
          f"optimiser, activations).\nGFLOP: one step's forward + backward (FlopCounterMode); limit: the step's "
          f"GFLOP/s by its CPU time (cpu s: on a shared machine the wall time counts the time others ran) as a share "
          f"of the peak above in its dtype.")
    os.system('uptime')

if __name__ == '__main__': main()
