"""The universal approximation lesson (nbs/lessons/universal_approximation.ipynb): the facts its cells used to assert,
tested here on torch and l3.uat themselves; what its run wrote (the lesson runs once per test session, see
conftest.lesson_run); and that its SEED drives every fit (issue 30: `--seed` used to change nothing)."""
import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from l3.uat import relu_net, relu_parts, relu_interpolant, fit_relu_net, parse_expression, uat_playground

TARGET = parse_expression('sin(3*x) + x**2 / 2')     # the lesson's curve on [-2, 2]

def test_linear_layer_is_a_matmul_and_relu_is_max():
    torch.manual_seed(0)
    lin, x = nn.Linear(3, 2), torch.randn(5, 3)
    assert torch.allclose(lin(x), x @ lin.weight.T + lin.bias, atol=1e-6)
    t = torch.linspace(-3, 3, 7)
    relu = torch.maximum(t, torch.zeros_like(t))
    assert torch.equal(relu, torch.relu(t)) and torch.equal(relu, t.clamp(min=0))

def test_convolution_is_a_matmul_of_patches():
    torch.manual_seed(0)
    img, conv = torch.randn(1, 3, 8, 8), nn.Conv2d(3, 4, 3, padding=1)
    as_matmul = (conv.weight.view(4, -1) @ F.unfold(img, 3, padding=1) + conv.bias[:, None]).view(1, 4, 8, 8)
    with torch.no_grad(): assert torch.allclose(conv(img), as_matmul, atol=1e-5)

def test_linear_layers_fold_into_one():
    torch.manual_seed(0)
    layers = [nn.Linear(3, 8), nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 1)]
    W, b = torch.eye(3), torch.zeros(3)
    with torch.no_grad():
        for l in layers: W, b = l.weight @ W, l.weight @ b + l.bias
        x = torch.randn(100, 3)
        assert torch.allclose(nn.Sequential(*layers)(x), x @ W.T + b, atol=1e-5)

def test_relu_parts_sum_to_the_output():
    torch.manual_seed(3)
    net, xs = relu_net(3), torch.linspace(-2, 2, 200)
    with torch.no_grad(): out = net(xs[:, None])[:, 0].numpy()
    assert np.allclose(relu_parts(net, xs).sum(0) + net[2].bias.item(), out, atol=1e-5)

def test_relu_interpolant_exact_at_knots_straight_between():
    knots = torch.linspace(-2, 2, 9)
    hand = relu_interpolant(knots, TARGET(knots))
    between = (knots[1:] + knots[:-1]) / 2
    with torch.no_grad():
        assert torch.allclose(hand(knots[:, None])[:, 0], TARGET(knots), atol=1e-5)
        assert torch.allclose(hand(between[:, None])[:, 0], (TARGET(knots[1:]) + TARGET(knots[:-1])) / 2, atol=1e-5)

def test_hand_built_error_falls_16x_per_doubling():
    "From 4 units on every doubling helps, by orders of magnitude in all, about 2**4 per doubling (h² per knot gap)."
    x = torch.linspace(-2, 2, 1001)
    def mse(k):
        kn = torch.linspace(-2, 2, k + 1)
        hand = relu_interpolant(kn, TARGET(kn))
        with torch.no_grad(): return ((hand(x[:, None])[:, 0] - TARGET(x)) ** 2).mean().item()
    errs = [mse(k) for k in [1, 2, 4, 8, 16, 32, 64]]
    assert all(b < a for a, b in zip(errs[2:], errs[3:])) and errs[-1] < errs[2] / 1000
    assert 8 < errs[-2] / errs[-1] < 32

def test_sigmoid_bump_and_slopes():
    xs = torch.linspace(-2, 2, 200)
    steep = lambda c: torch.sigmoid(20 * (xs - c))
    bump = steep(-0.5) - steep(0.5)
    assert bump[len(xs) // 2] > 0.99 and bump[0] < 0.01
    v = torch.linspace(-6, 6, 5, requires_grad=True)
    g_sig = torch.autograd.grad(torch.sigmoid(v).sum(), v)[0]
    g_relu = torch.autograd.grad(torch.relu(v).sum(), v)[0]
    assert g_sig.max() == 0.25 and g_sig[0] < 0.01 and g_relu.tolist() == [0, 0, 0, 1, 1]

def test_units_in_two_inputs_are_folds():
    "Each unit of a fitted 2-input net is zero exactly where its w·(x, y) + b <= 0: one side of a line."
    g = torch.linspace(-1.5, 1.5, 30)
    X2 = torch.cartesian_prod(g, g)
    net2, _ = fit_relu_net(lambda p: torch.sin(2 * p[:, 0]) * torch.cos(2 * p[:, 1]), 16, steps=30, x=X2, seed=0)
    with torch.no_grad(): pre = net2[0](X2).T
    for p, a in zip(relu_parts(net2, X2), pre):
        assert ((p == 0) == (a.numpy() <= 0)).all() or net2[2].weight.abs().min() == 0

def test_resnet34_is_matmuls_and_relus():
    from torchvision.models import resnet34
    kinds = Counter(type(m).__name__ for m in resnet34(weights=None).modules() if not list(m.children()))
    assert kinds['Conv2d'] == 36 and kinds['Linear'] == 1 and kinds['ReLU'] > 0
    assert set(kinds) <= {'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d', 'AdaptiveAvgPool2d', 'Linear'}

def test_playground_by_hand():
    "The lesson's suggestions: the sawtooth's jumps cannot be matched (4 units: worse than 8), abs(x) is exact."
    pg = uat_playground(n_units=8)
    pg.controls['expression'].value = 'x % 1'
    saw8 = pg.state['mse']
    pg.controls['units'].value = 4                   # knots at -2, -1, 0, 1, 2 all land where x % 1 = 0: a flat line
    assert pg.state['error'] is None and pg.state['mse'] > saw8 > 0.01
    pg.controls['expression'].value = 'abs(x)'       # a single kink at 0, which is a knot: exact
    assert pg.state['mse'] < 1e-10

def test_run_checks_and_figures(lesson_run):
    "What the session's run recorded: every check passed, the deep linear net at the best line, the five lines learned."
    m = lesson_run('universal_approximation')['metrics']
    assert m['failed_checks'] == [] and all(c['ok'] for c in m['checks'].values()), m['checks']
    assert len(m['checks']) == 7 and m['seed'] == 42 and m['steps'] == 500
    assert m['mse_best_line'] - 1e-4 <= m['mse_linear_layers'] <= m['mse_best_line'] + 0.01
    first, last = m['five_lines_loss']
    assert last < first / 10

GD_FIGURES = ['mse_linear_layers', 'mse_8_relus_gd', 'mse_64_relus_gd', 'mse_16_sigmoids', 'mse_16_relus',
              'mse_2d_64_relus', 'five_lines_loss']

def test_seed_drives_every_fit(tmp_path):
    "`l3 lesson universal_approximation --seed S`: the same S repeats every trained figure, another S changes each one."
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    def run(seed, name):
        cmd = [exe, 'lesson', 'universal_approximation', '--seed', str(seed), '-p', 'STEPS=30', '-p', 'CHECKS=False',
               '--out', str(tmp_path/name)]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        return json.loads((tmp_path/name/'metrics.json').read_text())
    a, again, b = run(1, 'a'), run(1, 'again'), run(2, 'b')
    assert a['seed'] == 1 and b['seed'] == 2
    assert {k: a[k] for k in GD_FIGURES} == {k: again[k] for k in GD_FIGURES}
    assert all(a[k] != b[k] for k in GD_FIGURES), {k: (a[k], b[k]) for k in GD_FIGURES}
    assert a['mse_8_relus_by_hand'] == b['mse_8_relus_by_hand']          # built by hand: no randomness in it
