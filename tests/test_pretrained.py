"""Pretrained weights found locally and used for real: ImageNet ResNets from torch's hub cache (torchvision's file names)
and WikiText-103 in fastai's `wt103-fwd` layout, both written by the tests (tests/_weights.py); bad files named in
clear errors; nothing tries the network offline.

Never reaches the network: TORCH_HOME points at a temporary folder and L3_OFFLINE=1.
"""
import pickle
import warnings
import pytest
import torch
import torch.nn as nn
import torchvision
from l3.vision import weights_file, pretrained_state_dict, cnn_learner, unet_learner, PretrainedWeightsWarning
from l3.tensor_data import tensor_data
from _weights import write_resnet_weights, write_wt103, fastai_awd_lstm_state, SPECIALS, WORDS

@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    "An empty torch cache, offline, where any download attempt fails the test."
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))
    monkeypatch.setenv('L3_OFFLINE', '1')
    def boom(*a, **k): raise AssertionError('tried the network')
    monkeypatch.setattr(torch.hub, 'load_state_dict_from_url', boom)
    monkeypatch.setattr(torch.hub, 'download_url_to_file', boom)
    return tmp_path/'torch'

def _data(y_kind='multi_category', n_out=17):
    torch.manual_seed(0)
    x = torch.rand(8, 3, 32, 32)
    y = (torch.rand(8, n_out) > 0.7).float() if y_kind == 'multi_category' else torch.randint(0, n_out, (8, 32, 32))
    return tensor_data(x[:6], y[:6], x[6:], y[6:], bs=3, label_cls=y_kind, device='cpu')

def _frozen_body(model, body) -> bool:
    "Every weight of `body` frozen but BatchNorm's (as fastai's freeze does), and something outside it trains."
    body_ids = {id(p) for p in body.parameters()}
    bn = {id(p) for m in body.modules() if isinstance(m, nn.BatchNorm2d) for p in m.parameters()}
    return (all(p.requires_grad == (id(p) in bn) for p in body.parameters())
            and any(p.requires_grad for p in model.parameters() if id(p) not in body_ids))

@pytest.mark.parametrize('arch', ['resnet34', 'resnet50'])
def test_cnn_learner_loads_the_cached_file_and_starts_frozen(torch_home, arch, tmp_path):
    "The file under torchvision's name is loaded as it is, the body frozen: the lesson's first stage trains the head only."
    f, = write_resnet_weights([arch], seed=1)
    assert f.parent == torch_home/'hub'/'checkpoints' and f.name == weights_file(arch).name
    ref = torch.load(f, weights_only=True)
    learn = cnn_learner(_data(), arch, pretrained='require', path=tmp_path)
    assert learn.pretrained
    assert torch.equal(learn.model.body.layer4[0].conv1.weight.detach().contiguous(), ref['layer4.0.conv1.weight'])
    assert _frozen_body(learn.model, learn.model.body)
    before = learn.model.body.layer1[0].conv1.weight.detach().clone()
    learn.fit(1, 1e-3)
    assert torch.equal(learn.model.body.layer1[0].conv1.weight.detach(), before)   # frozen means untouched
    learn.unfreeze()
    assert all(p.requires_grad for p in learn.model.parameters())

def test_unet_learner_loads_the_cached_file_and_starts_frozen(torch_home, tmp_path):
    f, = write_resnet_weights(['resnet34'], seed=2)
    ref = torch.load(f, weights_only=True)
    learn = unet_learner(_data('mask', 4), 'resnet34', pretrained='require', img_size=(32, 32), path=tmp_path)
    conv = next(m for m in learn.model.encoder.modules() if isinstance(m, nn.Conv2d))
    assert learn.pretrained and torch.equal(conv.weight.detach().contiguous(), ref['conv1.weight'])
    assert _frozen_body(learn.model, learn.model.encoder)

@pytest.mark.parametrize('content', [b'', b'not a checkpoint', 'half'])
def test_corrupt_file_is_an_error_naming_it(torch_home, content):
    f = weights_file('resnet34')
    f.parent.mkdir(parents=True)
    if content == 'half':   # a download cut in the middle
        torch.save(torchvision.models.resnet34(weights=None).state_dict(), f)
        f.write_bytes(f.read_bytes()[:1000])
    else: f.write_bytes(content)
    for how in (True, 'require'):
        with pytest.raises(RuntimeError, match='broken') as e: cnn_learner(_data(), 'resnet34', pretrained=how)
        assert str(f) in str(e.value) and 'delete it' in str(e.value)

def test_a_pickle_of_something_else_is_refused(torch_home):
    f = weights_file('resnet18')
    f.parent.mkdir(parents=True)
    torch.save([torch.zeros(1)], f)
    with pytest.raises(RuntimeError, match='not a state dict'): pretrained_state_dict('resnet18')

def test_wrong_architecture_file_names_it(torch_home):
    f = weights_file('resnet34')
    f.parent.mkdir(parents=True)
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), f)   # resnet18's weights under resnet34's name
    with pytest.raises(RuntimeError, match='does not fit resnet34') as e: unet_learner(_data('mask', 4), 'resnet34', img_size=(32, 32))
    assert str(f) in str(e.value)

def test_missing_file_offline_says_where_to_put_it(torch_home):
    "Offline and no file: no download is tried; `require` is an error with the path and URL, the default a one-line warning."
    f = weights_file('resnet50')
    with pytest.raises(RuntimeError) as e: cnn_learner(_data(), 'resnet50', pretrained='require')
    msg = str(e.value)
    assert str(f) in msg and 'https://download.pytorch.org/models/resnet50-0676ba61.pth' in msg and 'offline' in msg
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        assert not cnn_learner(_data(), 'resnet50').pretrained
    assert [str(f) in str(w.message) for w in ws if issubclass(w.category, PretrainedWeightsWarning)] == [True]


# --- WikiText-103 in fastai's wt103-fwd layout ----------------------------------------------------------------------

WT_SMALL = dict(emb_sz=8, n_hid=12, n_layers=3)

def _lm_data(tmp_path):
    import pandas as pd
    from l3.text_data import TextList
    df = pd.DataFrame({'text': ['the movie was great , i loved this film'] * 4 + ['this imdb review : a zorkatik film'] * 4})
    return TextList.from_df(df, tmp_path, cols='text').split_by_rand_pct(0.25, seed=0).label_for_lm().databunch(bs=2, device='cpu')

@pytest.mark.parametrize('wrap', [False, True])
def test_wt103_loads_into_language_model_learner(tmp_path, monkeypatch, wrap):
    """`language_model_learner(pretrained=True)` finds wt103-fwd/ (L3_WT103), maps each embedding row of the data's vocab
    to the same token's row in itos_wt103.pkl (new tokens get the mean row), loads the LSTMs and starts frozen."""
    from l3.text_models import language_model_learner, AWD_LSTM
    wt = write_wt103(tmp_path/'wt103-fwd', wrap=wrap, **WT_SMALL)
    monkeypatch.setenv('L3_WT103', str(wt))
    data = _lm_data(tmp_path)
    learn = language_model_learner(data, AWD_LSTM, config=WT_SMALL, path=tmp_path)
    sd, itos = fastai_awd_lstm_state(len(SPECIALS + WORDS), **WT_SMALL), SPECIALS + WORDS
    emb, vocab = learn.model[0].encoder.weight.detach(), data.vocab.itos
    assert learn.pretrained
    for i, t in enumerate(vocab):
        want = sd['0.encoder.weight'][itos.index(t)] if t in itos else sd['0.encoder.weight'].mean(0)
        assert torch.allclose(emb[i], want), t
    assert 'zorkatik' in vocab and 'movie' in vocab                            # one new token, one known one
    assert torch.allclose(learn.model[1].decoder.bias.detach()[vocab.index('movie')], sd['1.decoder.bias'][itos.index('movie')])
    rnn = learn.model[0].rnns[1].module
    assert torch.equal(rnn.weight_hh_l0.detach(), sd['0.rnns.1.weight_hh_l0_raw'])
    assert torch.equal(rnn.weight_ih_l0.detach(), sd['0.rnns.1.module.weight_ih_l0'])
    trainable = [p for p in learn.model.parameters() if p.requires_grad]
    assert trainable and all(any(p is q for q in learn.model[0].encoder.parameters()) or p is learn.model[1].decoder.bias
                             for p in trainable)                             # frozen: the embeddings/decoder only
    learn.fit(1, 1e-3)

def test_wt103_raw_weight_wins_over_the_dropped_copy(tmp_path):
    "fastai's file holds both `weight_hh_l0_raw` (the weights) and `module.weight_hh_l0` (a dropped copy): the raw one loads."
    from l3.text import Vocab, SPECIAL_TOKENS
    from l3.text_models import load_pretrained, get_language_model
    wt = write_wt103(tmp_path/'wt', **WT_SMALL)
    sd = torch.load(wt/'lstm_fwd.pth', weights_only=True)
    # as if saved in training
    sd['0.rnns.0.module.weight_hh_l0'] = torch.zeros_like(sd['0.rnns.0.module.weight_hh_l0'])
    torch.save(sd, wt/'lstm_fwd.pth')
    m = get_language_model(len(SPECIAL_TOKENS + WORDS), config=WT_SMALL)   # our specials (fastai's has xxeos too)
    load_pretrained(m, wt/'lstm_fwd.pth', Vocab(SPECIAL_TOKENS + WORDS), wt/'itos_wt103.pkl')
    assert torch.equal(m[0].rnns[0].module.weight_hh_l0.detach(), sd['0.rnns.0.weight_hh_l0_raw'])

def test_wt103_size_mismatch_is_clear(tmp_path, monkeypatch):
    from l3.text_models import language_model_learner, AWD_LSTM
    monkeypatch.setenv('L3_WT103', str(write_wt103(tmp_path/'wt103-fwd', **WT_SMALL)))
    with pytest.raises(ValueError, match='lstm_fwd.pth') as e:
        language_model_learner(_lm_data(tmp_path), AWD_LSTM, config=dict(emb_sz=8, n_hid=16, n_layers=3), path=tmp_path)
    assert 'n_hid' in str(e.value) and '(48, 8)' in str(e.value) and '(64, 8)' in str(e.value)

def test_wt103_full_size_layout_loads(tmp_path, monkeypatch):
    "The published shape: emb_sz 400, 1152 hidden units, 3 layers (the lesson's full-mode model) loads from the layout."
    from l3.text_models import language_model_learner, AWD_LSTM
    monkeypatch.setenv('L3_WT103', str(write_wt103(tmp_path/'wt103-fwd')))
    learn = language_model_learner(_lm_data(tmp_path), AWD_LSTM, path=tmp_path)
    assert learn.pretrained and learn.model[0].rnns[1].module.weight_hh_l0.shape == (4 * 1152, 1152)

class _Evil:
    def __reduce__(self): return (print, ('this ran while unpickling',))

@pytest.mark.parametrize('obj,msg', [([_Evil()], 'refusing to load'), ({'a': 'b'}, 'list of tokens'), (['a', 3], 'list of tokens'),
                                     (__import__('collections').OrderedDict(a=1), 'refusing to load')])
def test_itos_pickle_holds_only_strings(tmp_path, obj, msg, capsys):
    "itos_wt103.pkl is read with an unpickler that builds no objects: anything but a list of strings is refused."
    from l3.text_models import read_itos
    f = tmp_path/'itos_wt103.pkl'
    with open(f, 'wb') as fh: pickle.dump(obj, fh)
    with pytest.raises(Exception, match=msg): read_itos(f)
    assert 'this ran' not in capsys.readouterr().out
    with open(f, 'wb') as fh: pickle.dump(['xxunk', 'the'], fh)
    assert read_itos(f) == ['xxunk', 'the']
