"""Where a training step's time goes, against what its parts can reach: every convolution shape of the step alone.

    python bench/conv_shapes.py                        # classifier and U-Net (ResNet-34), frozen and unfrozen, bf16
    python bench/conv_shapes.py --tasks cnn --phases unfrozen --dtype float32
    python bench/conv_shapes.py --shapes               # also one row per convolution shape
    python bench/conv_shapes.py --quick                # smoke run (what `l3 bench all --quick` runs)

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
    "Every convolution of one training step: (shape key) -> [count, x needs grad, w needs grad, module, x's dtype]."
    seen = OrderedDict()

    def hook(m, args):
        x = args[0]
        dt = torch.get_autocast_dtype('cpu') if torch.is_autocast_enabled('cpu') else x.dtype
        key = (tuple(x.shape), tuple(m.weight.shape), m.stride, m.padding, m.dilation, m.groups, dt,
               x.is_contiguous(memory_format=CL) and not x.is_contiguous())
        row = seen.setdefault(key, [0, False, False, m, x.dtype])
        row[0] += 1
        row[1] |= x.requires_grad
        row[2] |= m.weight.requires_grad
    hs = [m.register_forward_pre_hook(hook) for m in learn.model.modules() if isinstance(m, torch.nn.Conv2d)]
    try: step_times(learn, 0)
    finally:
        for h in hs: h.remove()
    return seen


def time_own(learn, key, gx, m, xdtype, reps):
    "CPU seconds of (forward, forward + backward) of module `m` as the step runs it (its layout, autocast, gradients)."
    xs, cl = key[0], key[7]
    x = torch.randn(xs).to(xdtype).contiguous(memory_format=CL if cl else torch.contiguous_format).requires_grad_(gx)
    with learn._autocast(): gy = torch.randn_like(m(x))          # in the output's dtype and layout, as in the step

    def fwd():
        with learn._autocast(): return m(x)

    def both():
        with learn._autocast(): y = m(x)
        if y.requires_grad: y.backward(gy)   # a frozen stem: no backward at all
    try: return cpu_best(fwd, reps), cpu_best(both, reps)
    finally:
        for p in m.parameters(): p.grad = None


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


CONV_OPS = ('convolution', 'SmallMapConv')   # profiler names of the convolutions (l3's own included)


KINDS = (('optimiser', lambda n, up: any(u.startswith('Optimizer.') for u in up)),
         ('BatchNorm', lambda n, up: 'batch_norm' in n),
         ('ReLU', lambda n, up: any(k in n for k in ('relu', 'clamp_min', 'threshold_backward'))),
         ('dtype copies', lambda n, up: n == 'aten::copy_' and 'aten::_to_copy' in up[:1]),
         ('other copies and layout', lambda n, up: any(k in n for k in ('copy_', 'cat', 'pixel_', 'clone', 'fill_',
                                                                           'zero_', 'contiguous', 'pad'))),
         ('pooling', lambda n, up: 'pool' in n),
         ('other', lambda n, up: True))


def rest_of_step(learn, top):
    """Self CPU time of the step's ops outside the convolutions from torch.profiler (its shares, not its times): the
    top ops by name, and by kind (`KINDS`: the first that matches an op's name or the names above it)."""
    from torch.profiler import profile, ProfilerActivity
    step_times(learn, 1)
    with profile(activities=[ProfilerActivity.CPU]) as prof: step_times(learn, 2)
    per, kinds, conv = {}, dict.fromkeys([k for k, _ in KINDS], 0.0), 0.0

    def above(e):
        up, e = [], e.cpu_parent
        while e is not None:
            up.append(e.name)
            e = e.cpu_parent
        return up
    for e in prof.events():
        if e.name.startswith(('ProfilerStep', 'Optimizer.')) or e.name.startswith('autograd::engine'): continue
        up = above(e)
        if any(k in u for u in [e.name, *up] for k in CONV_OPS):
            conv += e.self_cpu_time_total
            continue
        per[e.name] = per.get(e.name, 0) + e.self_cpu_time_total
        kinds[next(k for k, f in KINDS if f(e.name, up))] += e.self_cpu_time_total
    rest = sum(per.values())
    return (conv / (conv + rest), sorted(((v / rest, k) for k, v in per.items()), reverse=True)[:top],
            {k: v / rest for k, v in kinds.items()})


def run(task, phase, dtype, reps, steps, shapes, peaks, target):
    learn = learner(task, phase == 'frozen', dtype)
    seen = record_convs(learn)
    step = statistics.median(step_times(learn, steps))
    peaks.append(limit(dtype)[0])          # a shared machine's neighbours slow it down now and then: the best of each
    peak = max(peaks)                      # (the rows of --shapes take the best so far, the summary the best of all)
    from _peer import step_gflop
    xb, yb = learn.data.one_batch()
    if learn.channels_last: xb = xb.contiguous(memory_format=CL)
    with learn._autocast(): gflop = step_gflop(learn.model.train(), learn.loss_func, xb, yb)
    arch, bs, (h, w), _ = TASKS[task]
    name = {'cnn': 'classifier', 'unet': 'U-Net'}[task]
    print(f"\n{name} {arch} {phase}, bs {bs}, {h}x{w}, {str(dtype).replace('torch.', '')}: {len(seen)} convolution "
          f"shapes, {sum(r[0] for r in seen.values())} calls")
    tot = dict.fromkeys(('f_gf', 'x_gf', 'w_gf', 'f_own', 'fb_own', 'f_best', 'x_best', 'w_best'), 0.0)
    best_ways = {}
    if shapes:
        print(f"  {'n':>2} {'input':<18} {'weight':<16} {'s':>1} {'gx':>2} {'gw':>2} "
              f"{'fwd cl':>7} {'ct':>6} {'mm':>6}  {'dx cl':>6} {'ct':>6} {'mm':>6}  {'dw cl':>6} {'ct':>6} {'mm':>6}  "
              f"{'l3 f':>6} {'l3 f+b':>6}  (ms; best fwd/dx/dw, % of the limit)")
    for key, (n, gx, gw, module, xdtype) in seen.items():
        t = time_shape(key, reps)
        own_f, own_fb = time_own(learn, key, gx, module, xdtype, reps)
        fl = flop(key) / 1e9
        best = {ph: min(v for k, v in t.items() if k.startswith(ph)) for ph in ('fwd', 'dx', 'dw')}
        for ph, need in (('fwd', True), ('dx', gx), ('dw', gw)):
            if need:
                way = min((v, k) for k, v in t.items() if k.startswith(ph))[1]
                best_ways[way] = best_ways.get(way, 0) + n
        tot['f_gf'] += n * fl
        tot['f_own'] += n * own_f
        tot['fb_own'] += n * own_fb
        tot['f_best'] += n * best['fwd']
        if gx:
            tot['x_gf'] += n * fl
            tot['x_best'] += n * best['dx']
        if gw:
            tot['w_gf'] += n * fl
            tot['w_best'] += n * best['dw']
        if shapes:
            ms = {k: f'{1e3*v:6.2f}' for k, v in t.items()}
            print(f"  {n:>2} {'x'.join(map(str, key[0])):<18} {'x'.join(map(str, key[1])):<16} {key[2][0]:>1} "
                  f"{'y' if gx else '-':>2} {'y' if gw else '-':>2} {ms['fwd_cl']:>7} {ms['fwd_ct']:>6} "
                  f"{ms.get('fwd_mm', '-'):>6}  {ms['dx_cl']:>6} {ms['dx_ct']:>6} {ms.get('dx_mm', '-'):>6}  "
                  f"{ms['dw_cl']:>6} {ms['dw_ct']:>6} {ms.get('dw_mm', '-'):>6}  {1e3*own_f:6.2f} {1e3*own_fb:6.2f}  "
                  + '/'.join(f'{100*fl/best[ph]/peak:.0f}' for ph in ('fwd', 'dx', 'dw')) + '%')
    conv_frac, others, kinds = rest_of_step(learn, 8)
    step = min(step, statistics.median(step_times(learn, steps)))   # again after the shapes: the better of the two
    peaks.append(limit(dtype)[0])
    peak = max(peaks)

    def share(gf, sec): return f'{100 * gf / sec / peak:5.0f}%' if sec > 0 else '     -'
    bgf, b_own = tot['x_gf'] + tot['w_gf'], tot['fb_own'] - tot['f_own']
    b_best = tot['x_best'] + tot['w_best']
    c_best, cgf = tot['f_best'] + b_best, tot['f_gf'] + bgf
    rest = step - tot['fb_own']
    print(f"  {'':<36} {'GFLOP':>6} {'l3 s':>7} {'share':>6} {'best s':>7} {'share':>6}")
    for label, gf, own, bst in (('forward convolutions', tot['f_gf'], tot['f_own'], tot['f_best']),
                                ('backward convolutions', bgf, b_own, b_best),
                                ('  input gradients', tot['x_gf'], None, tot['x_best']),
                                ('  weight gradients', tot['w_gf'], None, tot['w_best']),
                                ('all convolutions, each alone', cgf, tot['fb_own'], c_best)):
        o = f"{'':>7} {'':>6}" if own is None else f'{own:>7.3f} {share(gf, own)}'
        print(f'  {label:<36} {gf:>6.1f} {o} {bst:>7.3f} {share(gf, bst)}')
    print(f"  {'the step (median CPU s)':<36} {gflop:>6.1f} {step:>7.3f} {share(gflop, step)}   "
          f"(limit {peak:.0f} GFLOP/s)")
    print(f"  {'the rest: step - convolutions':<36} {'':>6} {rest:>7.3f}   ({100*rest/step:.0f}% of the step; the "
          f"profiler puts {100*(1-conv_frac):.0f}% of its time outside convolutions)")
    print('    the rest by op (profiler shares, scaled to the rest, s): '
          + ', '.join(f'{k.replace("aten::", "")} {f*rest:.3f}' for f, k in others))
    print('    the rest by kind (s): ' + ', '.join(f'{k} {f*rest:.3f}' for k, f in kinds.items()))
    need = gflop / (target * peak)
    print(f"  {100*target:.0f}% of the limit needs a step of {need:.3f} s: the convolutions at their best alone take "
          f"{c_best:.3f} s ({share(gflop, c_best).strip()} with nothing else), leaving {need - c_best:.3f} s for the "
          f"rest (today {rest:.3f} s); with today's rest and the best convolutions: "
          f"{share(gflop, c_best + rest).strip()}")
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
    ap.add_argument('--target', type=float, default=35, help='share of the limit (%%) to set the step against')
    ap.add_argument('--quick', action='store_true', help='smoke run: the classifier unfrozen, 1 rep, 1 step')
    args = ap.parse_args(argv)
    if args.quick: args.tasks, args.phases, args.reps, args.steps = 'cnn', 'unfrozen', 1, 1
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    peak, mm, cv = limit(dtype)
    print(f'{torch.backends.cpu.get_cpu_capability()}, torch {torch.__version__}, {args.threads} thread(s); '
          f'{args.dtype} limit {peak:.0f} GFLOP/s now (matmul {mm:.0f}, conv {cv:.0f}); times are CPU seconds')
    peaks = [peak]
    for task in args.tasks.split(','):
        for phase in args.phases.split(','):
            run(task, phase, dtype, args.reps, args.steps, args.shapes, peaks, args.target / 100)
    print(f'limit: the best of {len(peaks)} measurements through the run, {max(peaks):.0f} GFLOP/s (lowest '
          f'{min(peaks):.0f}: a shared machine); the step: the better of two medians, before and after the shapes')
    os.system('uptime')


if __name__ == '__main__': main()
