"""l3.vision: ResNet bodies and weights, the head, cnn_learner, DynamicUnet / unet_learner, model_summary.

Never reaches the network: torch's cache (TORCH_HOME) points at a temporary folder and L3_OFFLINE=1.
"""
import re
import warnings
import pytest
import torch
import torch.nn as nn
import torchvision
from l3.vision import (arch_name, weights_file, pretrained_state_dict, PretrainedWeightsWarning, adapt_first_conv,
                       resnet_body, create_head, cnn_model, cnn_groups, unet_model, unet_groups, DynamicUnet,
                       model_summary, cnn_learner, unet_learner, SigmoidRange)
from l3.tensor_data import tensor_data, TensorData
from l3.databunch import DeviceDataLoader
from l3.learner_export import load_learner


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    "An empty torch cache, offline."
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    monkeypatch.setenv('L3_OFFLINE', '1')
    return tmp_path/'torch'

def _fake_weights(arch='resnet18', seed=0):
    "A randomly initialised torchvision model saved under the file name torchvision would download."
    torch.manual_seed(seed)
    ref = getattr(torchvision.models, arch)(weights=None)
    f = weights_file(arch)
    f.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ref.state_dict(), f)
    return ref


# --- bodies and weights ---------------------------------------------------------------------------------------------

def test_arch_names():
    assert arch_name(torchvision.models.resnet50) == 'resnet50' and arch_name('resnet18') == 'resnet18'
    with pytest.raises(ValueError, match='densenet121'): arch_name('densenet121')

@pytest.mark.parametrize('arch,nf', [('resnet18', 512), ('resnet34', 512), ('resnet50', 2048)])
def test_cnn_output_shapes(arch, nf):
    m = cnn_model(arch, n_out=7, pretrained=False).eval()
    with torch.no_grad():
        assert m.body(torch.rand(2, 3, 64, 64)).shape == (2, nf, 2, 2)
        assert m(torch.rand(2, 3, 48, 80)).shape == (2, 7)
    g = cnn_groups(m)
    assert len(g) == 3 and list(g[0]._modules)[-1] == 'layer2' and list(g[1]._modules) == ['layer3', 'layer4']

def test_head_structure():
    h = create_head(512, 17)
    assert [type(l).__name__ for l in h] == ['ConcatPool', 'Flatten', 'BatchNorm1d', 'Dropout', 'Linear', 'ReLU',
                                             'BatchNorm1d', 'Dropout', 'Linear']
    assert [l.p for l in h if isinstance(l, nn.Dropout)] == [0.25, 0.5]
    assert [l.in_features for l in h if isinstance(l, nn.Linear)] == [1024, 512]
    x = torch.zeros(1, 512, 3, 3)
    x[0, 0, 1, 1] = 9.  # concat pool: max then mean of each channel
    assert torch.allclose(h[1](h[0](x))[0, [0, 512]], torch.tensor([9., 1.]))
    pts = create_head(512, 4, y_range=(-1.1, 1.1)).eval()
    assert isinstance(pts[-1], SigmoidRange) and pts(torch.randn(2, 512, 2, 2)*1e3).abs().max() <= 1.1
    with pytest.raises(ValueError, match='ps has 3 values'): create_head(512, 2, ps=[0.1, 0.2, 0.3])

def test_n_in_4_keeps_rgb_weights(torch_home):
    ref = _fake_weights('resnet18')
    b = resnet_body('resnet18', pretrained='require', n_in=4)
    w = b.conv1.weight
    assert w.shape == (64, 4, 7, 7) and torch.equal(w[:, :3], ref.conv1.weight) and (w[:, 3] == 0).all()
    assert torch.equal(b.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)
    m = cnn_model('resnet18', 2, n_in=4).eval()
    assert m(torch.rand(1, 4, 32, 32)).shape == (1, 2)

def test_n_in_1_sums_rgb():
    c = nn.Conv2d(3, 4, 3, bias=False)
    x = torch.rand(1, 1, 6, 6)
    assert torch.allclose(adapt_first_conv(c, 1)(x), c(x.expand(-1, 3, -1, -1)), atol=1e-5)

def test_pretrained_from_local_cache(torch_home):
    ref = _fake_weights('resnet18', seed=3)
    m = cnn_model(torchvision.models.resnet18, 5)   # pretrained=True: found in the cache, no download
    assert m.l3_pretrained and torch.equal(m.body.layer4[1].conv2.weight, ref.layer4[1].conv2.weight)

def test_offline_warns_once_and_uses_random_init(torch_home):
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        m = cnn_model('resnet18', 2)
    msgs = [w for w in ws if issubclass(w.category, PretrainedWeightsWarning)]
    assert len(msgs) == 1 and '\n' not in str(msgs[0].message) and str(weights_file('resnet18')) in str(msgs[0].message)
    assert not m.l3_pretrained

def test_require_errors(torch_home):
    with pytest.raises(RuntimeError, match='resnet34'): resnet_body('resnet34', pretrained='require')

def test_broken_weights_file(torch_home):
    f = weights_file('resnet18')
    f.parent.mkdir(parents=True)
    f.write_bytes(b'not a checkpoint')
    with pytest.raises(RuntimeError, match=str(f.name)): resnet_body('resnet18', pretrained='require')
    # a file there is meant to be used: no fallback
    with pytest.raises(RuntimeError, match='broken'): resnet_body('resnet18')

def test_wrong_weights_file_names_it(torch_home):
    f = weights_file('resnet18')
    f.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet34(weights=None).state_dict(), f)
    with pytest.raises(RuntimeError, match='does not fit resnet18'): resnet_body('resnet18')

def test_never_downloads_when_offline(torch_home, monkeypatch):
    def boom(*a, **k): raise AssertionError('tried to download')
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', boom)
    with pytest.warns(PretrainedWeightsWarning, match='offline'): assert pretrained_state_dict('resnet50') is None


# --- U-Net ----------------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def unet34():
    return unet_model('resnet34', n_classes=32, img_size=(96, 128), pretrained=False).eval()

@pytest.mark.parametrize('hw', [(96, 128), (100, 150), (360, 480)])
def test_unet_odd_sizes(unet34, hw):
    with torch.no_grad(): assert unet34(torch.rand(1, 3, *hw)).shape == (1, 32, *hw)

def test_unet_structure(unet34):
    assert isinstance(unet34, DynamicUnet) and unet34.skip_idxs == [2, 4, 5, 6]
    assert len(unet34.blocks) == 4 and unet34.final.out_channels == 32 and unet34.final.in_channels == 96 + 3
    g = unet_groups(unet34)
    assert len(g) == 3
    n = lambda ms: sum(p.numel() for m in ms for p in m.parameters())
    assert n(g) == n([unet34])

def test_unet_resnet50_and_options():
    u = unet_model('resnet50', 2, (64, 64), pretrained=False, blur=True, self_attention=True, y_range=(0, 1)).eval()
    with torch.no_grad(): y = u(torch.rand(1, 3, 70, 90))
    assert y.shape == (1, 2, 70, 90) and y.min() >= 0 and y.max() <= 1


# --- learners -------------------------------------------------------------------------------------------------------

@pytest.fixture
def cls_data():
    torch.manual_seed(0)
    x, y = torch.rand(10, 3, 32, 32), torch.randint(0, 3, (10,))
    return tensor_data(x[:8], y[:8], x[8:], y[8:], bs=4, classes=['a', 'b', 'c'], device='cpu')

@pytest.fixture
def seg_data():
    torch.manual_seed(0)
    x, m = torch.rand(6, 3, 40, 56), torch.randint(0, 4, (6, 40, 56))
    ds = lambda a, b: torch.utils.data.TensorDataset(a, b)
    return TensorData(DeviceDataLoader(ds(x[:4], m[:4]), 'cpu', batch_size=2, shuffle=True),
                      DeviceDataLoader(ds(x[4:], m[4:]), 'cpu', batch_size=2), c=4, classes=list('abcd'),
                      label_cls='mask')

def _trainable(model): return {n for n, p in model.named_parameters() if p.requires_grad}

def test_cnn_learner_freeze_unfreeze(cls_data, torch_home):
    _fake_weights('resnet18')
    learn = cnn_learner(cls_data, 'resnet18')
    assert learn.pretrained and len(learn.layer_groups) == 3 and learn.model.head[-1].out_features == 3
    for n, m in learn.model.named_modules():     # frozen: head + BatchNorm only
        for p in m.parameters(recurse=False):
            assert p.requires_grad == (n.startswith('head') or isinstance(m, nn.BatchNorm2d)), n
    learn.unfreeze()
    assert len(_trainable(learn.model)) == len(list(learn.model.parameters()))
    learn.fit(1, slice(1e-4, 1e-3))
    lrs = sorted({g['lr'] for g in learn.opt.param_groups})
    assert len(lrs) == 3

def test_cnn_learner_export_roundtrip(cls_data, tmp_path):
    learn = cnn_learner(cls_data, 'resnet18', pretrained=False, lin_ftrs=[64], ps=0.2, path=tmp_path)
    assert not learn.pretrained and len(_trainable(learn.model)) == len(list(learn.model.parameters()))
    learn.export('m.pth')
    l2 = load_learner(tmp_path, 'm.pth')
    x = torch.rand(2, 3, 32, 32)
    learn.model.eval()
    with torch.no_grad(): assert torch.allclose(learn.model(x), l2.model(x), atol=1e-5)

def test_losses_from_target_kind():
    "Multi-label -> BCE with logits (no sigmoid in the model); points -> flattened MSE, optional y_range on the head."
    torch.manual_seed(0)
    x = torch.rand(6, 3, 32, 32)
    tags = (torch.rand(6, 5) > 0.5).float()
    learn = cnn_learner(tensor_data(x[:4], tags[:4], x[4:], tags[4:], bs=2, label_cls='multi_category', device='cpu'),
                        'resnet18', pretrained=False)
    assert type(learn.loss_func).__name__ == 'BCEWithLogitsFlat' and learn.model.head[-1].out_features == 5
    pts = torch.rand(6, 1, 2)*2 - 1
    learn = cnn_learner(tensor_data(x[:4], pts[:4], x[4:], pts[4:], bs=2, label_cls='points', device='cpu'),
                        'resnet18', pretrained=False, y_range=(-1.1, 1.1))
    assert type(learn.loss_func).__name__ == 'MSELossFlat' and isinstance(learn.model.head[-1], SigmoidRange)
    learn.fit(1, 1e-3)
    with torch.no_grad(): out = learn.model.eval()(x)
    assert out.shape == (6, 2) and out.abs().max() <= 1.1

def test_fast_path_defaults(cls_data):
    from l3.cpu import bf16_pays
    learn = cnn_learner(cls_data, 'resnet18', pretrained=False)
    assert learn.channels_last and learn.model.body.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    assert learn.amp_dtype == (torch.bfloat16 if bf16_pays() else None)
    assert cnn_learner(cls_data, 'resnet18', pretrained=False, mixed_precision=False).amp_dtype is None
    plain = cnn_learner(cls_data, 'resnet18', pretrained=False, channels_last=False)    # the layout is speed_up's alone
    assert not plain.channels_last and all(p.is_contiguous() for p in plain.model.parameters())

def test_unet_learner_groups_freeze_summary(seg_data, torch_home):
    _fake_weights('resnet18')
    learn = unet_learner(seg_data, 'resnet18', img_size=(40, 56))
    assert learn.pretrained and len(learn.layer_groups) == 3 and learn.wd == 1e-2
    frozen = set(n for n, _ in learn.model.named_parameters()) - _trainable(learn.model)
    enc_non_bn = {n for n, m in learn.model.encoder.named_modules() if not isinstance(m, nn.BatchNorm2d)
                  for pn, _ in m.named_parameters(recurse=False) for n in [f'encoder.{n}.{pn}']}
    assert frozen == enc_non_bn
    learn.unfreeze()
    assert not set(n for n, _ in learn.model.named_parameters()) - _trainable(learn.model)
    learn.fit(1, 1e-3)
    s = learn.summary(print_out=False)
    # speed_up makes each convolution l3.fast's MapSizeConv2d (the kernel chosen by the size of its map)
    assert 'Layer (type)' in s and re.search(r'middle\.2\.0 \(MapSizeConv2d\)', s)
    assert '[1, 4, 40, 56]' in s and 'Total params' in s

def test_model_summary_counts():
    m = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4*8*8, 2))
    m[0].weight.requires_grad_(False)
    s = model_summary(m, input_shape=(1, 3, 8, 8), print_out=False)
    assert '0 (Conv2d)' in s and '[1, 4, 8, 8]' in s and '[1, 2]' in s
    assert 'Total params: 626' in s and 'Non-trainable params: 108' in s


def test_bench_train_step_smoke():
    "bench/train_step.py --quick runs (l3 side only here) and prints its table; timings are never asserted."
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    p = subprocess.run([sys.executable, str(root/'bench'/'train_step.py'), '--quick', '--no-fastai', '--tasks', 'cnn'],
                       capture_output=True, text=True, cwd=root, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'measuring l3 only' in p.stdout and 'l3-fp32' in p.stdout and 'failed' not in p.stdout
