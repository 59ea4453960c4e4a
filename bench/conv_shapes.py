"""Where a training step's time goes, against what its parts can reach: every convolution shape of the step alone.

    python bench/conv_shapes.py                        # classifier and U-Net (ResNet-34), frozen and unfrozen, bf16
    python bench/conv_shapes.py --tasks cnn --phases unfrozen --dtype float32
    python bench/conv_shapes.py --shapes               # also one row per convolution shape

It builds the model the way `bench/train_step.py` does (l3's `cnn_learner` / `unet_learner`, default speed-ups,
random weights, bs 16 at 128x128 / bs 8 at 96x128), records every convolution of one training step (input shape,
layout, which gradients it needs) and times each shape alone, in the step's dtype, one torch thread, CPU time (best of
`--reps`): the forward, the input gradient and the weight gradient (`aten.convolution_backward` with one output each),
in channels_last and in the contiguous layout, and each as a matmul (im2col for kxk kernels; the input gradient of a
1x1 as one matmul). Then it times the whole step (median of `--steps`) and, with torch.profiler, what the rest costs:
BatchNorm, ReLU, pooling, copies between dtypes, the optimiser.

The summary gives per phase (forward, input grad, weight grad) the GFLOP, the time the step's own choice takes
alone (channels_last oneDNN, one convolution_backward for both gradients where both are needed), the best of the
layouts and the matmul per shape, and the share of the machine's limit (the faster of a 1024^3 matmul and a 3x3
convolution of 128 channels at 32x32, as `bench/train_step.py` measures it) each reaches: what the convolutions allow
the step at best, so that a step's share can be set against the share its convolutions reach in isolation.
"""
import argparse
import os
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / 'bench'))
os.environ.setdefault('L3_QUIET', '1')
os.environ.setdefault('L3_OFFLINE', '1')

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

TASKS = {'cnn': ('resnet34', 16, (128, 128), 10), 'unet': ('resnet34', 8, (96, 128), 32)}
CL = torch.channels_last


def cpu_best(f, reps):
    "Least CPU seconds of `reps` calls of `f` (two more first: oneDNN creates its kernels)."
    for _ in range(2): f()
    best = float('inf')
    for _ in range(reps):
        t = time.process_time()
        f()
        best = min(best, time.process_time() - t)
    return best


def limit(dtype, reps=20):
    "The machine's limit in GFLOP/s for `dtype`, measured as bench/train_step.py does."
    a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    x = torch.randn(16, 128, 32, 32, dtype=dtype).contiguous(memory_format=CL)
    w = torch.randn(128, 128, 3, 3, dtype=dtype).contiguous(memory_format=CL)
    mm = 2 * 1024**3 / cpu_best(lambda: a @ b, reps) / 1e9
    cv = 2 * 16 * 128 * 128 * 9 * 32 * 32 / cpu_best(lambda: F.conv2d(x, w, padding=1), reps) / 1e9
    return max(mm, cv), mm, cv


def learner(task, frozen, dtype):
    "The bench's learner: l3's factory with its defaults (bf16 where it pays) or float32."
    from l3.databunch import DeviceDataLoader
    from l3.tensor_data import TensorData
    from l3.vision import cnn_learner, unet_learner
    arch, bs, (h, w), n_out = TASKS[task]
    g = torch.Generator().manual_seed(0)
    n = bs * 4
    x = torch.randn(n, 3, h, w, generator=g)
    y = torch.randint(0, n_out, (n,) if task == 'cnn' else (n, h, w), generator=g)
    ds = torch.utils.data.TensorDataset
    data = TensorData(DeviceDataLoader(ds(x, y), 'cpu', batch_size=bs, shuffle=True, drop_last=True),
                      DeviceDataLoader(ds(x[:bs], y[:bs]), 'cpu', batch_size=bs), c=n_out,
                      label_cls='category' if task == 'cnn' else 'mask')
    mk, kw = (cnn_learner, {}) if task == 'cnn' else (unet_learner, {'img_size': (h, w)})
    mp = 'bf16' if dtype == torch.bfloat16 else False
    learn = mk(data, arch, pretrained=False, mixed_precision=mp, **kw)
    if frozen: learn.freeze()
    return learn


def record_convs(learn):
    "Every convolution of one training step: (shape key) -> [count, x needs grad, w needs grad]."
    seen = OrderedDict()

    def hook(m, args):
        x = args[0]
        dt = torch.get_autocast_dtype('cpu') if torch.is_autocast_enabled('cpu') else x.dtype
        key = (tuple(x.shape), tuple(m.weight.shape), m.stride, m.padding, m.dilation, m.groups, dt,
               x.is_contiguous(memory_format=CL) and not x.is_contiguous())
        row = seen.setdefault(key, [0, False, False])
        row[0] += 1
        row[1] |= x.requires_grad
        row[2] |= m.weight.requires_grad
    hs = [m.register_forward_pre_hook(hook) for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d)]
    try: step_times(learn, 0)
    finally:
        for h in hs: h.remove()
    return seen


def step_times(learn, n):
    "CPU seconds of `n` training steps as `fit` runs them (after one warm-up step: `n` = 0 runs that one only)."
    from l3.callbacks import Recorder, ProgressCallback
    xb, yb = learn.data.one_batch()
    cbs = learn.cbs
    learn.cbs = [c for c in cbs if not isinstance(c, (Recorder, ProgressCallback))]
    times = []
    try:
        if learn.opt is None: learn.create_opt()
        learn.model.train()
        learn.training = True
        for i in range(n + 1):
            t = time.process_time()
            learn._do_batch(0, (xb, yb))
            if i: times.append(time.process_time() - t)
    finally: learn.cbs, learn.training = cbs, False
    return times


def im2col(x, kh, kw, stride, padding):
    "(n*ho*wo, kh*kw*c) columns of a channels_last `x`."
    n, c, h, w = x.shape
    (sh, sw), (ph, pw) = stride, padding
    ho, wo = (h + 2*ph - kh)//sh + 1, (w + 2*pw - kw)//sw + 1
    xh = x.permute(0, 2, 3, 1)
    if ph or pw: xh = F.pad(xh, (0, 0, pw, pw, ph, ph))
    views = [xh[:, i:i + sh*(ho - 1) + 1:sh, j:j + sw*(wo - 1) + 1:sw] for i in range(kh) for j in range(kw)]
    return (torch.cat(views, -1) if len(views) > 1 else views[0]).reshape(n*ho*wo, kh*kw*c)


def time_shape(key, reps):
    "CPU seconds of each way to compute this convolution's forward, input gradient and weight gradient."
    xs, ws, stride, padding, dilation, groups, dt, _ = key
    g = torch.Generator().manual_seed(0)
    x = torch.randn(xs, generator=g).to(dt)
    w = (torch.randn(ws, generator=g) * 0.05).to(dt)
    y = F.conv2d(x, w, None, stride, padding, dilation, groups)
    gy = torch.randn(y.shape, generator=g).to(dt)
    out = {}
    for lay, fmt in (('cl', CL), ('ct', torch.contiguous_format)):
        xl, wl, gyl = (t.contiguous(memory_format=fmt) for t in (x, w, gy))
        bw = dict(bias_sizes=None, stride=stride, padding=padding, dilation=dilation, transposed=False,
                  output_padding=(0, 0), groups=groups)
        out[f'fwd_{lay}'] = cpu_best(lambda: F.conv2d(xl, wl, None, stride, padding, dilation, groups), reps)
        out[f'dx_{lay}'] = cpu_best(lambda: torch.ops.aten.convolution_backward(
            gyl, xl, wl, output_mask=(True, False, False), **bw), reps)
        out[f'dw_{lay}'] = cpu_best(lambda: torch.ops.aten.convolution_backward(
            gyl, xl, wl, output_mask=(False, True, False), **bw), reps)
        out[f'both_{lay}'] = cpu_best(lambda: torch.ops.aten.convolution_backward(
            gyl, xl, wl, output_mask=(True, True, False), **bw), reps)
    if groups == 1 and dilation == (1, 1):
        kh, kw = ws[2:]
        xl, wl, gyl = (t.contiguous(memory_format=CL) for t in (x, w, gy))
        wm = wl.permute(0, 2, 3, 1).reshape(ws[0], -1)
        gym = gyl.permute(0, 2, 3, 1).reshape(-1, ws[0])
        out['fwd_mm'] = cpu_best(lambda: im2col(xl, kh, kw, stride, padding) @ wm.t(), reps)
        out['dw_mm'] = cpu_best(lambda: gym.t() @ im2col(xl, kh, kw, stride, padding), reps)
        if (kh, kw) == (1, 1) and stride == (1, 1): out['dx_mm'] = cpu_best(lambda: gym @ wm, reps)
    return out


def flop(key):
    "FLOP of one of forward / input grad / weight grad of this convolution."
    xs, ws, stride, padding, dilation, groups = key[:6]
    ho = (xs[2] + 2*padding[0] - dilation[0]*(ws[2] - 1) - 1)//stride[0] + 1
    wo = (xs[3] + 2*padding[1] - dilation[1]*(ws[3] - 1) - 1)//stride[1] + 1
    return 2 * xs[0] * ho * wo * ws[0] * ws[1] * ws[2] * ws[3]


def rest_of_step(learn, top):
    "CPU seconds per step of the step's ops other than convolutions, from torch.profiler (self time, top `top`)."
    from torch.profiler import profile, ProfilerActivity
    step_times(learn, 1)
    with profile(activities=[ProfilerActivity.CPU]) as prof: step_times(learn, 2)
    per = {}
    for e in prof.key_averages():
        if e.key.startswith(('ProfilerStep', 'Optimizer.')): continue
        per[e.key] = e.self_cpu_time_total / 1e6 / 3       # the warm-up step inside step_times is profiled too
    conv = sum(v for k, v in per.items() if 'convolution' in k)
    others = sorted(((v, k) for k, v in per.items() if 'convolution' not in k), reverse=True)
    return conv, others[:top], sum(v for v, _ in others)


def run(task, phase, dtype, reps, steps, shapes, peak):
    learn = learner(task, phase == 'frozen', dtype)
    seen = record_convs(learn)
    step = statistics.median(step_times(learn, steps))
    from _peer import step_gflop
    xb, yb = learn.data.one_batch()
    if learn.channels_last: xb = xb.contiguous(memory_format=CL)
    with learn._autocast(): gflop = step_gflop(learn.model.train(), learn.loss_func, xb, yb)
    arch, bs, (h, w), _ = TASKS[task]
    name = {'cnn': 'classifier', 'unet': 'U-Net'}[task]
    dname = str(dtype).replace('torch.', '')
    print(f'\n{name} {arch} {phase}, bs {bs}, {h}x{w}, {dname}: {len(seen)} convolution shapes, '
          f'{sum(r[0] for r in seen.values())} calls')
    tot = {k: 0.0 for k in ('f_gf', 'x_gf', 'w_gf', 'f_own', 'x_own', 'w_own', 'b_own', 'f_best', 'x_best', 'w_best')}
    best_ways = {}
    if shapes:
        print(f"  {'n':>2} {'input':<18} {'weight':<16} {'s':>1} {'gx':>2} {'gw':>2} "
              f"{'fwd cl':>7} {'ct':>6} {'mm':>6}  {'dx cl':>6} {'ct':>6} {'mm':>6}  {'dw cl':>6} {'ct':>6} {'mm':>6}  "
              f"{'both cl':>7}  (ms; fwd/dx/dw best % of limit)")
    for key, (n, gx, gw) in seen.items():
        t = time_shape(key, reps)
        fl = flop(key) / 1e9
        fb = min(v for k, v in t.items() if k.startswith('fwd'))
        xbest = min(v for k, v in t.items() if k.startswith('dx'))
        wbest = min(v for k, v in t.items() if k.startswith('dw'))
        for ph_, tt in (('fwd', t), ('dx', t), ('dw', t)):
            if ph_ == 'dx' and not gx or ph_ == 'dw' and not gw: continue
            way = min((v, k) for k, v in tt.items() if k.startswith(ph_))[1]
            best_ways[way] = best_ways.get(way, 0) + n
        own = t['fwd_cl' if key[7] else 'fwd_ct']
        tot['f_gf'] += n * fl
        tot['f_own'] += n * own
        tot['f_best'] += n * fb
        if gx:
            tot['x_gf'] += n * fl
            tot['x_best'] += n * xbest
        if gw:
            tot['w_gf'] += n * fl
            tot['w_best'] += n * wbest
        lay = 'cl' if key[7] else 'ct'
        tot['b_own'] += n * (t[f'both_{lay}'] if gx and gw else t[f'dx_{lay}'] if gx else t[f'dw_{lay}'] if gw else 0)
        if shapes:
            ms = {k: f'{1e3*v:6.2f}' for k, v in t.items()}
            print(f"  {n:>2} {'x'.join(map(str, key[0])):<18} {'x'.join(map(str, key[1])):<16} {key[2][0]:>1} "
                  f"{'y' if gx else '-':>2} {'y' if gw else '-':>2} {ms['fwd_cl']:>7} {ms['fwd_ct']:>6} "
                  f"{ms.get('fwd_mm', '-'):>6}  {ms['dx_cl']:>6} {ms['dx_ct']:>6} {ms.get('dx_mm', '-'):>6}  "
                  f"{ms['dw_cl']:>6} {ms['dw_ct']:>6} {ms.get('dw_mm', '-'):>6}  {ms[f'both_{lay}']:>7}  "
                  f"{100*fl/fb/peak:.0f}/{100*fl/xbest/peak:.0f}/{100*fl/wbest/peak:.0f}%")
    conv_prof, others, rest = rest_of_step(learn, 8)
    share = lambda gf, s: f'{100 * gf / s / peak:4.0f}%' if s else '   -'   # noqa: E731
    print(f"  {'phase':<34} {'GFLOP':>6} {'step own s':>10} {'share':>5} {'best s':>7} {'share':>5}")
    print(f"  {'forward convolutions':<34} {tot['f_gf']:>6.1f} {tot['f_own']:>10.3f} "
          f"{share(tot['f_gf'], tot['f_own'])} {tot['f_best']:>7.3f} {share(tot['f_gf'], tot['f_best'])}")
    bgf = tot['x_gf'] + tot['w_gf']
    print(f"  {'backward convolutions (dx + dw)':<34} {bgf:>6.1f} {tot['b_own']:>10.3f} {share(bgf, tot['b_own'])} "
          f"{tot['x_best'] + tot['w_best']:>7.3f} {share(bgf, tot['x_best'] + tot['w_best'])}")
    print(f"  {'  input gradients, best':<34} {tot['x_gf']:>6.1f} {'':>10} {'':>5} {tot['x_best']:>7.3f} "
          f"{share(tot['x_gf'], tot['x_best'])}")
    print(f"  {'  weight gradients, best':<34} {tot['w_gf']:>6.1f} {'':>10} {'':>5} {tot['w_best']:>7.3f} "
          f"{share(tot['w_gf'], tot['w_best'])}")
    conv_own, conv_best = tot['f_own'] + tot['b_own'], tot['f_best'] + tot['x_best'] + tot['w_best']
    cgf = tot['f_gf'] + bgf
    print(f"  {'all convolutions':<34} {cgf:>6.1f} {conv_own:>10.3f} {share(cgf, conv_own)} {conv_best:>7.3f} "
          f"{share(cgf, conv_best)}")
    print(f"  {'the step (median CPU s)':<34} {gflop:>6.1f} {step:>10.3f} {share(gflop, step)}")
    print(f"  profiled step: convolutions {conv_prof:.3f} s, the rest {rest:.3f} s; of the rest (s per step):")
    print('    ' + ', '.join(f'{k.replace("aten::", "")} {v:.3f}' for v, k in others))
    print(f"  at best (best convolutions + today's rest): {conv_best + rest:.3f} s = {share(gflop, conv_best + rest)}; "
          f"convolutions at best with no rest at all: {share(gflop, conv_best)}")
    print(f"  fastest way per shape and phase (calls): {dict(sorted(best_ways.items()))}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--tasks', default='cnn,unet')
    ap.add_argument('--phases', default='frozen,unfrozen')
    ap.add_argument('--dtype', default='bfloat16', choices=['bfloat16', 'float32'])
    ap.add_argument('--reps', type=int, default=5, help='timings per shape and way (best is kept)')
    ap.add_argument('--steps', type=int, default=5, help='timed training steps (median is kept)')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--shapes', action='store_true', help='one row per convolution shape')
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    peak, mm, cv = limit(dtype)
    print(f'{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, {args.threads} thread(s); '
          f'{args.dtype} limit {peak:.0f} GFLOP/s (matmul {mm:.0f}, conv {cv:.0f}); times are CPU seconds')
    for task in args.tasks.split(','):
        for phase in args.phases.split(','): run(task, phase, dtype, args.reps, args.steps, args.shapes, peak)
    os.system('uptime')


if __name__ == '__main__': main()
