"""l3.widgets: the widgets' logic, and their wiring driven from code (no frontend): set a control's value or click a
button, check the numbers and labels the widget recomputes."""
import math
import warnings
import numpy as np
import pytest
import torch
import torch.nn as nn
import ipywidgets as W
from hypothesis import assume, given, settings, strategies as st, HealthCheck

from l3.widgets import (loss_slope, fit_code, lr_find_curve, lr_find_explorer, plot_lr_choice, per_class_fbeta,
                        threshold_report, threshold_tuner, plot_class_fbeta, image_iou, class_colors, overlay,
                        segmentation_viewer, segmentation_viewer_from_learner)
from l3.uat import parse_expression, relu_net, relu_parts, relu_interpolant, fit_relu_net, uat_playground, UAT_TARGETS
from l3.metrics import accuracy_thresh, fbeta, best_thresholds, MeanIoU
from l3.learner import Learner
from l3.tensor_data import tensor_data
from l3.augment import IGNORE_ID


@pytest.fixture(autouse=True, scope='module')
def single_thread():
    "The tiny models here train fastest on one thread (more threads spin and wait on a busy machine); restored after."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def _children(w):
    "Every widget inside `w`, depth first."
    yield w
    for c in getattr(w, 'children', ()): yield from _children(c)


# --- lr-finder explorer ---------------------------------------------------------------------------------------------

def test_loss_slope_of_a_line_and_a_valley():
    lrs = np.logspace(-7, 1, 80)
    assert loss_slope(lrs, 2 + 0.3 * np.log10(lrs), 1e-3) == pytest.approx(0.3)
    v = (np.log10(lrs) + 3) ** 2
    assert loss_slope(lrs, v, 1e-5) == pytest.approx(-4, abs=0.05)
    assert loss_slope(lrs, v, 1e-1) == pytest.approx(4, abs=0.05)

def test_loss_slope_bad_input():
    with pytest.raises(ValueError, match='at least 2'): loss_slope([1e-3], [1.], 1e-3)
    with pytest.raises(ValueError, match='increase'): loss_slope([1e-2, 1e-3, 1e-4], [1., 2., 3.], 1e-3)

def test_fit_code():
    assert fit_code(0.01) == 'learn.fit_one_cycle(5, slice(1e-2))'
    assert fit_code(2.5e-4, 8) == 'learn.fit_one_cycle(8, slice(2.5e-4))'
    assert fit_code(1e-6, 5, discriminative=True) == 'learn.fit_one_cycle(5, slice(1e-6, 1e-4))'
    assert fit_code(1e-6, 5, discriminative=True, top=3e-3) == 'learn.fit_one_cycle(5, slice(1e-6, 3e-3))'
    with pytest.raises(ValueError, match='positive'): fit_code(0)
    # the line is valid Python giving back the rate
    lr = eval(fit_code(3.3e-3).split(', ', 1)[1][:-1]).stop
    assert lr == pytest.approx(3.3e-3)

@pytest.fixture(scope='module')
def small_learner():
    torch.manual_seed(0)
    x = torch.randn(512, 2)
    y = (x[:, 1] > x[:, 0] ** 2 - 1).long()
    data = tensor_data(x[:400], y[:400], x[400:], y[400:], bs=32, device='cpu')
    learn = Learner(data, nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2)))
    learn.lr_find(num_it=60)
    return learn

def test_lr_find_explorer_wiring(small_learner):
    learn = small_learner
    sugg = learn.recorder.suggestions
    w = lr_find_explorer(learn)
    assert isinstance(w, W.VBox)
    slider = w.controls['lr']
    assert isinstance(slider, W.FloatLogSlider) and slider in list(_children(w))
    assert w.state['lr'] == pytest.approx(sugg['valley'])
    lrs, losses, _ = lr_find_curve(learn)
    png0 = w.controls['plot'].value
    slider.value = 1e-3
    assert w.state['slope'] == pytest.approx(loss_slope(lrs, losses, 1e-3))
    assert f"{w.state['slope']:+.4f}" in w.controls['info'].value
    assert w.controls['code'].value == 'learn.fit_one_cycle(5, slice(1e-3))'
    assert w.controls['plot'].value != png0 and w.controls['plot'].value[:4] == b'\x89PNG'   # the marker moved
    w.controls['suggest_minimum'].click()
    assert w.state['lr'] == pytest.approx(sugg['minimum']) and slider.value == pytest.approx(sugg['minimum'])
    w.controls['epochs'].value = 2
    w.controls['discriminative'].value = True
    assert w.controls['code'].value == fit_code(sugg['minimum'], 2, discriminative=True)

def test_lr_find_explorer_reruns_lr_find_after_a_fit(capsys):
    torch.manual_seed(1)
    x = torch.randn(256, 2)
    y = (x[:, 0] > 0).long()
    learn = Learner(tensor_data(x[:200], y[:200], x[200:], y[200:], bs=16, device='cpu'),
                    nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2)))
    with pytest.raises(ValueError, match='run learn.lr_find'): lr_find_curve(learn, run=False)
    learn.lr_find(num_it=40)
    learn.fit(1, 1e-3)  # the recorder now holds the fit, not the sweep
    with pytest.raises(ValueError, match='lr_find'): lr_find_curve(learn, run=False)
    w = lr_find_explorer(learn)
    assert 'running learn.lr_find()' in capsys.readouterr().out and w.state['lr'] > 0

def test_plot_lr_choice_returns_a_figure(small_learner):
    import matplotlib.pyplot as plt
    lrs, losses, sugg = lr_find_curve(small_learner)
    fig = plot_lr_choice(lrs, losses, 1e-3, sugg)
    assert len(fig.axes[0].lines) >= 5
    plt.close(fig)


# --- threshold tuner ------------------------------------------------------------------------------------------------

@pytest.fixture
def multilabel():
    g = torch.Generator().manual_seed(3)
    targs = (torch.rand(200, 4, generator=g) < torch.tensor([0.6, 0.3, 0.1, 0.5])).float()
    preds = (targs * 2 - 1) * torch.tensor([2., 1., 0.5, 1.5]) + torch.randn(200, 4, generator=g) - 0.5
    return preds, targs, ['a', 'b', 'c', 'd']

def test_per_class_fbeta_against_a_column_count(multilabel):
    preds, targs, _ = multilabel
    pc = per_class_fbeta(preds, targs, 0.3)
    probs = preds.sigmoid()
    for c in range(4):
        p, t = probs[:, c] > 0.3, targs[:, c].bool()
        tp, fp, fn = (p & t).sum().item(), (p & ~t).sum().item(), (~p & t).sum().item()
        prec, rec = tp / max(tp + fp, 1), tp / max(tp + fn, 1)
        assert pc[c].item() == pytest.approx(5 * prec * rec / (4 * prec + rec) if prec + rec else 0, abs=1e-6)

def test_per_class_fbeta_nan_when_nothing_to_score():
    t = torch.zeros(3, 2)
    t[:, 0] = 1
    pc = per_class_fbeta(torch.full((3, 2), -5.), t, 0.5)
    assert pc[0] == 0 and pc[1].isnan()

@pytest.mark.parametrize('th', [0.05, 0.2, 0.5, 0.81])
def test_threshold_report_matches_metrics(multilabel, th):
    preds, targs, _ = multilabel
    r = threshold_report(preds, targs, th)
    assert r['accuracy_thresh'] == accuracy_thresh(preds, targs, th).item()
    assert r['fbeta'] == fbeta(preds, targs, th).item()
    assert r['per_class'].shape == (4,)

def test_threshold_report_per_class_thresholds_and_shapes(multilabel):
    preds, targs, _ = multilabel
    th = torch.tensor([0.1, 0.5, 0.3, 0.9])
    assert threshold_report(preds, targs, th)['fbeta'] == pytest.approx(fbeta(preds, targs, th).item())
    with pytest.raises(ValueError, match='same shape'): threshold_report(preds, targs[:, :3], 0.2)

def test_threshold_tuner_wiring(multilabel):
    preds, targs, classes = multilabel
    w = threshold_tuner(preds, targs, classes)
    assert w.state['report']['fbeta'] == pytest.approx(fbeta(preds, targs, 0.2).item())
    w.controls['thresh'].value = 0.45
    assert w.state['report']['fbeta'] == fbeta(preds, targs, 0.45).item()
    assert w.state['report']['accuracy_thresh'] == accuracy_thresh(preds, targs, 0.45).item()
    html = w.controls['info'].value
    assert f"{fbeta(preds, targs, 0.45).item():.4f}" in html
    assert f"{accuracy_thresh(preds, targs, 0.45).item():.4f}" in html
    best = best_thresholds(preds, targs)
    w.controls['best'].click()
    assert w.controls['thresh'].value == pytest.approx(best['thresh'])
    assert w.state['report']['fbeta'] == pytest.approx(best['score'])

def test_threshold_tuner_per_class_mode(multilabel):
    preds, targs, classes = multilabel
    w = threshold_tuner(preds, targs, classes, thresh=0.3)
    assert w.controls['cls'].disabled
    w.controls['mode'].value = 'per class'
    assert not w.controls['cls'].disabled and w.state['thresh'] == pytest.approx([0.3] * 4)
    w.controls['cls'].value = 1
    w.controls['thresh'].value = 0.7
    assert w.state['thresh'] == pytest.approx([0.3, 0.7, 0.3, 0.3])
    assert w.state['report']['fbeta'] == pytest.approx(fbeta(preds, targs, torch.tensor([0.3, 0.7, 0.3, 0.3])).item())
    w.controls['cls'].value = 2                                  # picking a class shows its threshold, changes nothing
    assert w.controls['thresh'].value == pytest.approx(0.3) and w.state['thresh'][1] == pytest.approx(0.7)
    best = best_thresholds(preds, targs)
    w.controls['best'].click()
    assert torch.tensor(w.state['thresh']).float() == pytest.approx(best['per_class'])
    assert w.controls['thresh'].value == pytest.approx(float(best['per_class'][2]))
    assert w.state['report']['fbeta'] == pytest.approx(best['per_class_score'])
    w.controls['mode'].value = 'global'                          # back to the one global threshold
    assert isinstance(w.state['thresh'], float)

def test_threshold_tuner_probabilities(multilabel):
    preds, targs, classes = multilabel
    with pytest.warns(UserWarning, match='sigmoid=False'): threshold_tuner(preds.sigmoid(), targs, classes)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        w = threshold_tuner(preds.sigmoid(), targs, classes, sigmoid=False)
    w.controls['thresh'].value = 0.4
    assert w.state['report']['fbeta'] == pytest.approx(fbeta(preds, targs, 0.4).item())
    with pytest.raises(ValueError, match='3 class names'): threshold_tuner(preds, targs, classes[:3])

def test_plot_class_fbeta():
    import matplotlib.pyplot as plt
    fig = plot_class_fbeta(torch.tensor([0.5, float('nan'), 1.]), ['a', 'b', 'c'], 0.2)
    assert len(fig.axes[0].patches) == 4
    plt.close(fig)  # 3 bars + the hatched placeholder
    fig = plot_class_fbeta(torch.tensor([0.5, 0.7]), ['a', 'b'], [0.1, 0.3], overall=0.6, selected=1)
    assert fig.axes[0].lines[0].get_ydata()[0] == 0.6 and [t.get_text() for t in fig.axes[0].texts] == ['0.10', '0.30']
    plt.close(fig)


# --- segmentation viewer --------------------------------------------------------------------------------------------

def test_image_iou_matches_mean_iou_metric():
    g = torch.Generator().manual_seed(0)
    mask = torch.randint(0, 5, (12, 10), generator=g)
    pred = torch.randint(0, 5, (12, 10), generator=g)
    m = MeanIoU()
    m.accumulate(nn.functional.one_hot(pred, 6).permute(2, 0, 1)[None].float(), mask[None])
    assert torch.allclose(image_iou(pred, mask, 6), m.per_class, equal_nan=True)
    mv = MeanIoU(void_id=4)
    mv.accumulate(nn.functional.one_hot(pred, 6).permute(2, 0, 1)[None].float(), mask[None])
    iou = image_iou(pred, mask, 6, void_id=4)
    assert torch.allclose(iou[:4], mv.per_class[:4]) and iou[4].isnan() and iou[5].isnan()

def test_image_iou_ignores_and_errors():
    mask = torch.tensor([[0, 1], [IGNORE_ID, 1]])
    pred = torch.tensor([[0, 1], [0, 0]])
    assert image_iou(pred, mask, 2).tolist() == [0.5, 0.5]       # the ignored pixel (predicted 0) does not count
    with pytest.raises(ValueError, match='class id 7'): image_iou(pred, torch.tensor([[7, 0], [0, 0]]), 2)
    with pytest.raises(ValueError, match='differ'): image_iou(pred, mask[:1], 2)

def test_overlay():
    img = torch.rand(3, 4, 5)
    mask = torch.randint(0, 3, (4, 5))
    assert np.allclose(overlay(img, mask, 0.), img.permute(1, 2, 0).numpy(), atol=1e-6)
    full = overlay(img, mask, 1.)
    assert np.allclose(full, class_colors(3)[mask.numpy()])
    h = overlay(img, mask, 1., highlight=2)
    on = (mask == 2).numpy()
    assert np.allclose(h[on], [1, 0.9, 0])
    assert np.allclose(h[~on], (img.mean(0).numpy()[~on] * 0.6)[:, None].repeat(3, 1), atol=1e-6)
    assert overlay((img * 255).byte(), mask).shape == (4, 5, 3)            # uint8 images too
    assert overlay(img.permute(1, 2, 0).numpy(), mask).shape == (4, 5, 3)  # and H x W x C arrays
    with pytest.raises(ValueError, match='does not fit'): overlay(img, mask[:3])
    with pytest.raises(ValueError, match='alpha'): overlay(img, mask, 1.5)

@pytest.fixture
def seg_batch():
    g = torch.Generator().manual_seed(1)
    masks = torch.randint(0, 4, (5, 8, 8), generator=g)
    preds = torch.where(torch.rand(5, 8, 8, generator=g) < 0.7, masks, torch.randint(0, 4, (5, 8, 8), generator=g))
    return torch.rand(5, 3, 8, 8, generator=g), masks, preds, ['sky', 'road', 'car', 'Void']

def test_segmentation_viewer_wiring(seg_batch):
    imgs, masks, preds, codes = seg_batch
    w = segmentation_viewer(imgs, masks, preds, codes, void_id=3)
    assert torch.allclose(w.state['iou'], image_iou(preds[0], masks[0], 4, void_id=3), equal_nan=True)
    png0 = w.controls['plot'].value
    w.controls['index'].value = 3
    exp = image_iou(preds[3], masks[3], 4, void_id=3)
    assert torch.allclose(w.state['iou'], exp, equal_nan=True) and w.controls['plot'].value != png0
    assert f"{float(exp[~exp.isnan()].mean()):.3f}" in w.controls['info'].value
    assert f'{float(exp[1]):.3f}' in w.controls['table'].value
    w.controls['cls'].value = 2
    assert w.state['highlight'] == 2 and 'car</b> IoU' in w.controls['info'].value
    row = [r for r in w.controls['table'].value.split('<tr') if '<td>car</td>' in r][0]
    assert 'font-weight:bold' in row
    w.controls['cls'].value = -1
    assert w.state['highlight'] is None
    keep = masks[3] != 3
    assert w.state['pixel_accuracy'] == pytest.approx((preds[3][keep] == masks[3][keep]).float().mean().item())

def test_segmentation_viewer_inputs(seg_batch):
    imgs, masks, preds, codes = seg_batch
    logits = nn.functional.one_hot(preds, 4).permute(0, 3, 1, 2).float()
    w = segmentation_viewer(imgs, masks[:, None], logits, codes)                    # B x 1 x H x W masks, raw outputs
    assert torch.allclose(w.state['iou'], image_iou(preds[0], masks[0], 4), equal_nan=True)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.2, 0.2]
    normed = (imgs - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    w2 = segmentation_viewer(normed, masks, preds, codes, stats=(mean, std))
    assert w2.state['mean_iou'] == pytest.approx(w.state['mean_iou'])
    with pytest.raises(ValueError, match='same B, H, W'): segmentation_viewer(imgs, masks[:4], preds, codes)

def test_segmentation_viewer_from_learner():
    torch.manual_seed(0)
    codes = ['a', 'b', 'Void']
    x = torch.rand(20, 3, 8, 8)
    y = (x[:, 0] > 0.5).long()
    y[:, :1] = 2
    data = tensor_data(x[:12], y[:12], x[12:], y[12:], bs=4, label_cls='mask', classes=codes, device='cpu')
    data.c = 3
    learn = Learner(data, nn.Conv2d(3, 3, 1))
    learn.model.train()
    w = segmentation_viewer_from_learner(learn, n=6)
    assert learn.model.training                                                     # its mode is restored
    # Void found by name
    assert w.controls['index'].max == 5 and len(w.state['iou']) == 3 and w.state['iou'][2].isnan()
    with torch.no_grad(): p = learn.model(x[12:13]).argmax(1)[0]
    assert torch.allclose(w.state['iou'], image_iou(p, y[12], 3, void_id=2), equal_nan=True)


# --- universal approximation ----------------------------------------------------------------------------------------

X = torch.linspace(-2, 2, 41)

@pytest.mark.parametrize('text,fn', [
    ('sin(3*x) + x**2', lambda x: torch.sin(3 * x) + x ** 2), ('abs(x)', torch.abs), ('exp(-x**2)', lambda x: torch.exp(-x ** 2)),
    ('where(x > 0, x, 0)', torch.relu), ('relu(x) - relu(x - 1)', lambda x: x.relu() - (x - 1).relu()),
    ('maximum(x, 0.5 * x)', lambda x: torch.maximum(x, x / 2)), ('-x % 1', lambda x: torch.remainder(-x, 1)),
    ('9' * 299, lambda x: torch.full_like(x, float('inf'))), ('where(-1 <= x < 1, 1, 0)', lambda x: ((x >= -1) & (x < 1)).float()), ('pi', lambda x: torch.full_like(x, math.pi)),
    ('  tanh(x)/2 + e  ', lambda x: torch.tanh(x) / 2 + math.e)])
def test_parse_expression_computes(text, fn):
    f = parse_expression(text)
    assert torch.allclose(f(X), fn(X)) and f(X).dtype == torch.float32 and f(X).shape == X.shape

@pytest.mark.parametrize('text,says', [
    ("__import__('os')", "'__import__'"), ("__import__('os').system('touch /tmp/l3_pwned')", 'attribute access'),
    ('x.__class__', 'attribute access'), ('().__class__.__bases__[0]', 'indexing'), ('sin.__globals__', 'attribute access'),
    ('open("/etc/passwd")', "'open'"), ('eval("1")', "'eval'"), ('y + 1', "'y'"), ('x[0]', 'indexing'),
    ('lambda: 1', 'lambda'), ('[x]', 'List'), ('x if x else 1', 'IfExp'), ('x and 1', "'and'/'or'"), ('"abc"', "'abc'"),
    ('True', 'True'), ('1j', '1j'), ('sin(x, x)', 'takes 1 argument'), ('where(x)', 'takes 3 arguments'),
    ('sin(*[x])', 'keyword or *'), ('sin(x=x)', 'keyword or *'), ('x @ x', 'MatMult'), ('x << 1', 'LShift'), ('not x', 'Not'),
    ('x is 1', 'Is'), ('(x := 1)', 'NamedExpr'), ('sin(x', 'not a valid formula'), ('', 'empty'), ('x' * 301, 'at most 300'),
    ('import os', 'not a valid formula'), ('x; 1', 'not a valid formula')])
def test_parse_expression_refuses(text, says):
    with pytest.raises(ValueError) as e: parse_expression(text)
    assert says in str(e.value)
    assert 'use x, numbers' in str(e.value) or says in ('empty', 'at most 300', 'too large', 'takes 1 argument', 'takes 3 arguments')

def test_parse_expression_never_imports(monkeypatch, tmp_path):
    "A malicious formula is refused before anything runs: no import, no file written."
    import builtins
    target = tmp_path / 'pwned'
    real_import = builtins.__import__
    calls = []
    def spy(name, *a, **k):
        if name == 'os': calls.append(name)
        return real_import(name, *a, **k)
    monkeypatch.setattr(builtins, '__import__', spy)
    with pytest.raises(ValueError): parse_expression(f"__import__('os').system('touch {target}')")
    assert not calls and not target.exists()

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60))
def test_parse_expression_any_text(text):
    "Arbitrary text gives a function of x or a ValueError with a message; nothing else can happen."
    try: f = parse_expression(text)
    except ValueError as e: assert str(e)
    else:
        out = f(X)
        assert out.shape == X.shape and out.dtype == torch.float32

_alphabet = st.sampled_from(list('x0123456789.+-*/%()<>=, ') + ['sin', 'where', 'abs', 'pi', '**', '__import__', "'os'",
                                                                   '.system', '[0]', 'lambda', ':', 'exp', 'y'])
@settings(max_examples=300, deadline=None)
@given(st.lists(_alphabet, max_size=25).map(''.join))
def test_parse_expression_token_soup(text):
    "Sequences of formula-like tokens: accepted formulas compute, the rest are refused with a ValueError."
    try: f = parse_expression(text)
    except ValueError as e: assert str(e)
    else:
        assert not any(t in text for t in ('__import__', '.system', 'lambda', "'os'", '[0]', 'y'))
        assert f(X).shape == X.shape

_atoms = st.sampled_from(['x', '1', '2.5', 'pi', '0.5'])
_exprs = st.recursive(_atoms, lambda e: st.one_of(
    st.tuples(e, st.sampled_from(['+', '-', '*', '/', '**', '%']), e).map(lambda t: f'({t[0]} {t[1]} {t[2]})'),
    st.tuples(st.sampled_from(['sin', 'cos', 'abs', 'exp', 'tanh', 'relu', 'sqrt', 'log']), e).map(lambda t: f'{t[0]}({t[1]})'),
    st.tuples(e, e, e).map(lambda t: f'where({t[0]} > {t[1]}, {t[1]}, {t[2]})')), max_leaves=12)

@settings(max_examples=200, deadline=None)
@given(_exprs)
def test_parse_expression_well_formed_always_accepted(text):
    "Every formula built from the whitelist is accepted and computes (nan/inf allowed) on any x."
    assume(len(text) <= 300)                                   # longer ones are refused by design
    f = parse_expression(text)
    assert f(X).shape == X.shape

def test_relu_parts_sum_to_the_net():
    torch.manual_seed(0)
    m = relu_net(7)
    parts = relu_parts(m, X)
    with torch.no_grad(): out = m(X[:, None])[:, 0].numpy()
    assert parts.shape == (7, 41) and np.allclose(parts.sum(0) + m[2].bias.item(), out, atol=1e-5)
    assert (np.sign(parts) * np.sign(m[2].weight.detach().numpy()[0])[:, None] >= 0).all()    # each part is a hinge
    with pytest.raises(ValueError, match='act'): relu_net(3, act='gelu')
    with pytest.raises(ValueError, match='at least 1'): relu_net(0)

@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=12))
def test_relu_interpolant_exact_at_knots(ys):
    xs = torch.linspace(-2, 2, len(ys))
    m = relu_interpolant(xs, ys)
    with torch.no_grad(): out = m(xs[:, None])[:, 0]
    assert torch.allclose(out, torch.tensor(ys, dtype=torch.float), atol=1e-4)
    mid = (xs[1:] + xs[:-1]) / 2
    with torch.no_grad(): assert torch.allclose(m(mid[:, None])[:, 0], torch.tensor(np.interp(mid, xs, ys), dtype=torch.float), atol=1e-4)

def test_relu_interpolant_errors():
    with pytest.raises(ValueError, match='increasing'): relu_interpolant([0., 0., 1.], [1., 2., 3.])
    with pytest.raises(ValueError, match='>= 2 points'): relu_interpolant([0.], [1.])

def test_fit_relu_net_learns_and_reports():
    f = parse_expression('abs(x) - 1')
    seen = []
    m, losses = fit_relu_net(f, 8, steps=200, on_step=lambda i, model, l: seen.append((i, len(l))), every=40)
    assert losses[-1] < 0.01 * losses[0] and seen == [(i, i) for i in (40, 80, 120, 160, 200)]
    assert fit_relu_net(f, 8, steps=200)[1] == losses                                 # seeded: repeatable
    assert fit_relu_net(f, 8, steps=200, seed=1)[1] != losses

def test_fit_relu_net_2d_and_other_activations():
    g = torch.Generator().manual_seed(0)
    xy = torch.rand(300, 2, generator=g) * 4 - 2
    m, losses = fit_relu_net(lambda p: torch.sin(p[:, 0]) * torch.cos(p[:, 1]), 30, steps=300, x=xy)
    assert m[0].in_features == 2 and losses[-1] < 0.3 * losses[0]
    m, losses = fit_relu_net(torch.sin, 10, steps=200, act='sigmoid')
    assert isinstance(m[1], nn.Sigmoid) and losses[-1] < losses[0]

def test_fit_relu_net_restores_the_thread_count():
    seen, before = [], torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        fit_relu_net(torch.sin, 3, steps=2, on_step=lambda i, m, l: seen.append(torch.get_num_threads()))
        assert torch.get_num_threads() == 2 and seen == [1]
    finally: torch.set_num_threads(before)

def test_fit_relu_net_bad_target():
    with pytest.raises(ValueError, match='not finite at x='): fit_relu_net(parse_expression('log(x)'), 4, steps=5)
    with pytest.raises(ValueError, match='gave 3 values'): fit_relu_net(lambda x: torch.zeros(3), 4, steps=5)

def test_uat_playground_wiring():
    w = uat_playground(n_units=4, steps=100)
    assert w.state['how'] == 'by hand' and w.state['model'][0].out_features == 4
    w.controls['units'].value = 12
    k = torch.linspace(-2, 2, 13)
    with torch.no_grad(): assert torch.allclose(w.state['model'](k[:, None])[:, 0], torch.sin(3 * k), atol=1e-5)
    hand12 = w.state['mse']
    w.controls['units'].value = 3
    assert w.state['mse'] > hand12                                  # fewer pieces, worse fit
    w.controls['units'].value = 16
    frames = []
    w.controls['plot'].observe(lambda ch: frames.append(1), 'value')
    w.controls['fit'].click()
    # redrawn at 50, 100
    assert w.state['how'] == 'gradient descent' and len(w.state['losses']) == 100 and len(frames) == 2
    assert w.state['mse'] == w.state['losses'][-1] < w.state['losses'][0]
    assert 'step 100/100' in w.controls['status'].value
    w.controls['target'].value = UAT_TARGETS['bump']
    assert w.controls['expression'].value == 'exp(-3*x**2)' and w.state['how'] == 'by hand'
    w.controls['expression'].value = 'x**2 + sin(x)'
    assert w.state['error'] is None and 'mean squared error' in w.controls['status'].value

def test_uat_playground_bad_formula_keeps_the_plot():
    w = uat_playground()
    png = w.controls['plot'].value
    w.controls['expression'].value = "__import__('os').getcwd()"
    assert 'attribute access' in w.controls['status'].value and 'color:#c00' in w.controls['status'].value
    assert w.controls['plot'].value == png and w.state['error']
    w.controls['fit'].click()                                      # fit does nothing with a bad formula
    assert w.state['how'] == 'by hand'
    w.controls['expression'].value = 'log(x)'
    assert 'not finite' in w.controls['status'].value


# --- static snapshot (docs, nbconvert) --------------------------------------------------------------------------------

def test_widgets_show_a_static_snapshot(multilabel):
    from l3.widgets import snapshot_html, Panel
    preds, targs, classes = multilabel
    w = threshold_tuner(preds, targs, classes)
    w.controls['thresh'].value = 0.3
    assert isinstance(w, Panel)
    b = w._repr_mimebundle_()
    assert 'application/vnd.jupyter.widget-view+json' in b                        # live where widgets run
    h = b['text/html']
    assert h == snapshot_html(w) and 'data:image/png;base64,' in h and 'thresh <code>0.3</code>' in h
    assert 'mode <code>global</code>' in h and f"{fbeta(preds, targs, 0.3).item():.4f}" in h
    assert len(b['text/plain']) < 100 and 'threshold tuner' in b['text/plain']

def test_snapshot_escapes_user_text():
    w = uat_playground()
    w.controls['expression'].value = '<img src=x onerror=alert(1)>'
    h = w._repr_mimebundle_()['text/html']
    assert '<img src=x' not in h and '&lt;img src=x' in h

def test_train_mse_any_small_model():
    from l3.uat import train_mse
    torch.manual_seed(0)
    x = torch.linspace(-1, 1, 50)
    m = nn.Linear(1, 1)
    losses = train_mse(m, x, 3 * x - 1, steps=300, lr=0.1)
    assert losses[-1] < 1e-4 and m.weight.item() == pytest.approx(3, abs=0.02)
    assert m.bias.item() == pytest.approx(-1, abs=0.02)
