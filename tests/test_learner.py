"""Faults and bad input for l3.learner and l3.metrics: interrupts, NaN, wrong checkpoints, failed saves, bad shapes."""
import json
from functools import partial
import pytest
import torch
import torch.nn as nn
import l3.callbacks as C
from l3.callbacks import Callback, GradientClipping
from l3.learner import Learner, lr_range
from l3.tensor_data import tensor_data
from l3.schedules import LRFinder
from l3.learner_export import load_learner, register_model, SaveModelCallback, EarlyStoppingCallback
from l3.labels import BCEWithLogitsFlat, CrossEntropyFlat
from l3.metrics import AvgMetric, accuracy, accuracy_thresh, fbeta, mse, rmse, masked_accuracy, MeanIoU, best_thresholds


def blobs(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    return torch.tensor([[0., 2.], [2., -1.], [-2., -1.]])[y] + torch.randn(n, 2, generator=g) * 0.6, y

def toy_data(bs=32, path='.'):
    return tensor_data(*blobs(256, 0), *blobs(128, 1), bs=bs, classes=['a', 'b', 'c'], device='cpu', path=path)

def mlp(n_in=2, n_out=3, nh=32):
    return nn.Sequential(nn.Linear(n_in, nh), nn.BatchNorm1d(nh), nn.ReLU(), nn.Linear(nh, n_out))

@pytest.fixture
def learn(tmp_path):
    torch.manual_seed(0)
    return Learner(toy_data(path=tmp_path), mlp(), metrics=accuracy)


class InterruptAt(Callback):
    "Raise KeyboardInterrupt (as Ctrl-C would) at a given epoch and batch, at `event`."
    def __init__(self, epoch, batch, event='before_batch'):
        self.epoch, self.batch = epoch, batch
        setattr(self, event, self.interrupt)
    def interrupt(self):
        if self.learn.training and self.learn.epoch == self.epoch and self.learn.iter == self.batch:
            raise KeyboardInterrupt()


def test_keyboard_interrupt_mid_epoch_leaves_usable_learner(learn, capsys):
    with pytest.raises(KeyboardInterrupt):
        learn.fit(3, 1e-2, callbacks=[InterruptAt(1, 3)])
    assert 'interrupted at epoch 2, batch 4' in capsys.readouterr().out
    r = learn.recorder
    assert len(r.history) == 1 and len(r.losses) == 8 + 3            # the history so far is kept
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())
    assert not any(isinstance(c, InterruptAt) for c in learn.cbs)     # the fit's callbacks were removed
    assert learn.progress.bar is None                                  # bars closed
    learn.fit(2, 1e-2)                                                 # and it trains again
    assert len(learn.recorder.history) == 2 and learn.recorder.history[-1]['accuracy'] > 0.9
    assert learn.predict(torch.tensor([0., 2.]))[0] == 'a'


def test_interrupt_between_backward_and_step(learn):
    with pytest.raises(KeyboardInterrupt):
        learn.fit(1, 1e-2, callbacks=[InterruptAt(0, 2, 'after_backward')])
    learn.fit(1, 1e-2)                        # stale gradients of the interrupted step are cleared first
    assert learn.recorder.history[-1]['accuracy'] > 0.8


def test_interrupted_lr_find_restores_weights(learn):
    learn.fit(1, 1e-3)
    w0 = {k: v.clone() for k, v in learn.model.state_dict().items()}
    with pytest.raises(KeyboardInterrupt):
        learn.fit(5, 1e-3, callbacks=[LRFinder(num_it=40), InterruptAt(1, 2)])
    assert all(torch.equal(w0[k], v) for k, v in learn.model.state_dict().items())
    assert not learn.lr_finding


def test_nan_loss_stops_with_epoch_and_batch(learn):
    class Poison(Callback):
        def after_pred(self):
            if self.learn.training and (self.learn.epoch, self.learn.iter) == (1, 4):
                self.learn.pred = self.learn.pred + float('nan')
    with pytest.warns(RuntimeWarning, match=r'epoch 2, batch 5'):
        learn.fit(4, 1e-2, callbacks=[Poison()])
    assert len(learn.recorder.history) == 1
    assert all(torch.isfinite(p).all() for p in learn.model.parameters())    # the NaN step was not taken


def test_lr_find_stops_on_divergence(learn):
    sugg = learn.lr_find(start_lr=1e-5, end_lr=1e6, num_it=100)
    assert len(learn.recorder.lrs) < 100 and learn.recorder.lrs[-1] < 1e6
    assert all(v > 0 for v in sugg.values())


def test_load_other_architecture_names_keys(learn, tmp_path):
    learn.fit(1, 1e-2)
    learn.save('m')
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 3), nn.Linear(3, 3))
    other = Learner(toy_data(path=tmp_path), model)
    with pytest.raises(ValueError) as e: other.load('m')
    msg = str(e.value)
    assert 'm.pth' in msg and 'missing keys: 2.weight, 2.bias' in msg
    assert 'unexpected keys' in msg and '1.running_mean' in msg
    assert '0.weight: (32, 2) in the file, (8, 2) in the model' in msg


def test_failed_save_keeps_previous_checkpoint(learn, tmp_path, monkeypatch):
    learn.fit(1, 1e-2)
    f = learn.save('ckpt')
    good = f.read_bytes()
    acc = learn.validate()[1]
    learn.fit(1, 0.5)
    def broken_save(obj, dest, *a, **k):
        with open(dest, 'wb') as fh: fh.write(b'half a checkpoint')
        raise OSError('disk full')
    monkeypatch.setattr(torch, 'save', broken_save)
    with pytest.raises(OSError): learn.save('ckpt')
    monkeypatch.undo()
    assert f.read_bytes() == good and not [p for p in f.parent.iterdir() if p.name != 'ckpt.pth']   # no temp litter
    assert learn.load('ckpt').validate()[1] == acc


def test_checkpoint_and_export_load_weights_only(learn, tmp_path):
    learn.fit(1, 1e-2)
    f = learn.save('w')
    assert set(torch.load(f, weights_only=True)) == {'model', 'opt'}
    with pytest.raises(ValueError, match='model_desc'): learn.export()
    register_model('test_mlp', mlp)
    learn.model_desc = {'kind': 'test_mlp', 'kwargs': {'nh': 32}}
    e = learn.export('exp.pth')
    raw = torch.load(e, weights_only=True)
    assert json.loads(raw['meta'])['model']['kind'] == 'test_mlp'
    inf = load_learner(tmp_path, 'exp.pth')
    x = torch.tensor([2., -1.])
    assert inf.predict(x)[0] == learn.predict(x)[0] == 'b'
    learn.model_desc = {'kind': 'nobody_registered_this'}
    learn.export('bad.pth')
    with pytest.raises(KeyError, match='test_mlp'): load_learner(tmp_path, 'bad.pth')
    with pytest.raises(FileNotFoundError): load_learner(tmp_path, 'missing.pth')


def test_metrics_wrong_target_shape_say_so():
    p = torch.randn(4, 3)
    cases = [(accuracy, torch.zeros(4, 3)), (accuracy_thresh, torch.zeros(4)), (fbeta, torch.zeros(4)),
             (mse, torch.zeros(4, 2)), (rmse, torch.zeros(3, 3)), (partial(fbeta, thresh=0.5), torch.zeros(4, 2))]
    for f, t in cases:
        with pytest.raises(ValueError) as e: f(p, t)
        assert str(tuple(t.shape)) in str(e.value) and '(4, 3)' in str(e.value)
    seg = torch.randn(2, 5, 8, 8)
    for m in (masked_accuracy(4), MeanIoU()):
        with pytest.raises(ValueError, match=r'\(2, 8, 8\)'): m(seg, torch.zeros(2, 8, 7, dtype=torch.long))
    with pytest.raises(ValueError, match='outside 0..4'): MeanIoU()(seg, torch.full((2, 8, 8), 7))
    with pytest.raises(ValueError): best_thresholds(p, torch.zeros(4))


def test_wrong_targets_for_loss_fail_clearly(tmp_path):
    d = toy_data(path=tmp_path)
    no_label = type('D', (), {'y_kind': 'mystery', 'device': 'cpu'})()
    with pytest.raises(ValueError, match='no default loss'): Learner(no_label, mlp())
    learn = Learner(d, mlp(), loss_func=BCEWithLogitsFlat())
    with pytest.raises(ValueError, match='BCEWithLogitsFlat'): learn.fit(1)
    assert learn.fit_error is not None
    learn.loss_func = CrossEntropyFlat()
    learn.fit(1)  # and recovers once fixed


def test_bad_arguments():
    with pytest.raises(ValueError, match='3 layer groups'): lr_range([1e-3, 1e-2], 3)
    with pytest.raises(ValueError): lr_range(slice(1e-3, None), 2)
    learn = Learner(toy_data(), mlp())
    with pytest.raises(ValueError, match='at least one epoch'): learn.fit(0)
    with pytest.raises(ValueError, match='start_lr'): learn.lr_find(start_lr=1, end_lr=0.1)
    with pytest.raises(ValueError, match='valid_loss'): learn.fit(1, callbacks=[EarlyStoppingCallback('f2')])
    with pytest.warns(UserWarning, match='single layer group'): learn.freeze()


def test_gradient_clipping_bounds_the_norm(learn):
    norms = []
    class Check(Callback):
        order = 5
        def after_backward(self):
            grads = [p.grad for p in self.learn.model.parameters() if p.grad is not None]
            norms.append(torch.sqrt(sum((g ** 2).sum() for g in grads)).item())
    learn.fit(1, 1e-2, callbacks=[GradientClipping(0.05), Check()])
    assert norms and max(norms) <= 0.05 + 1e-5


def test_new_data_progressive(learn):
    learn.fit(1, 1e-2)
    learn.data = toy_data(bs=64)
    learn.fit(1, 1e-2)
    assert len(learn.recorder.losses) == 4


def test_metrics_accumulate_over_set_and_names(learn):
    learn.metrics = [accuracy, masked_accuracy(name='acc_x')]
    # masked accuracy on B x C predictions doesn't fit: it says which shape it wanted
    with pytest.raises(ValueError, match='B x H x W'): learn.fit(1)
    learn.metrics = [accuracy, AvgMetric(accuracy, name='acc2')]
    learn.fit(1, 1e-2)
    h = learn.recorder.history[-1]
    assert learn.recorder.names == ['epoch', 'train_loss', 'valid_loss', 'accuracy', 'acc2', 'time']
    assert h['acc2'] == h['accuracy']


def test_save_best_and_early_stopping_monitor_metric(learn):
    learn.fit(4, 3e-3, callbacks=[SaveModelCallback('accuracy', name='best')])
    best = max(h['accuracy'] for h in learn.recorder.history)
    assert abs(learn.validate()[1] - best) < 1e-6 and (learn.path / 'models' / 'best.pth').exists()


def test_epoch_table_html_in_jupyter_and_text_in_terminal(learn, monkeypatch, capsys):
    monkeypatch.setenv('L3_QUIET', '0')
    learn.fit(2, 1e-2)
    out = capsys.readouterr().out
    assert out.count('valid_loss') == 1
    assert len([l for l in out.splitlines() if l.strip().startswith(('1 ', '2 '))]) == 2
    shown = []
    monkeypatch.setattr(C, '_in_jupyter', lambda: True)
    import IPython.display as D
    class Handle:
        def update(self, obj): shown.append(obj.data)
    monkeypatch.setattr(D, 'display', lambda obj, display_id=None: shown.append(obj.data) or Handle())
    learn.fit(2, 1e-2)
    assert len(shown) == 2 and shown[-1].count('<tr>') == 3 and '<th>accuracy</th>' in shown[-1]


def test_lr_suggest_bench_quick_runs():
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    res = subprocess.run([sys.executable, str(root / 'bench' / 'lr_suggest.py'), '--quick'], capture_output=True,
                         text=True,
                         timeout=300, cwd=root)
    assert res.returncode == 0, res.stderr[-2000:]
    assert 'share of the best' in res.stdout and 'valley' in res.stdout
