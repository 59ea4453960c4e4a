"""Pretrained-weight files for the tests, written locally in the layouts the real ones have (never downloaded).

- ImageNet ResNets: a randomly initialised torchvision model's state dict, saved where torchvision's weights API caches
  the real file (`torch.hub.get_dir()/checkpoints/<file name of the IMAGENET1K_V1 url>`, i.e. under `$TORCH_HOME`).
- WikiText-103 (`wt103-fwd/`): `lstm_fwd.pth`, a state dict with fastai's AWD-LSTM key names, and `itos_wt103.pkl`, the
  pickled list of its tokens. The keys follow fastai's documented module structure (fastai/text/models/awd_lstm.py):
  `SequentialRNN(AWD_LSTM, LinearDecoder)`; the encoder's `nn.Embedding` is `encoder` and is shared by
  `encoder_dp` (`EmbeddingDropout.emb`); each LSTM is wrapped in `WeightDropout`, which keeps the raw hidden-to-hidden
  weight as its own parameter `weight_hh_l0_raw` and the wrapped LSTM as `module`; the decoder is `decoder` (tied to
  the embedding) with a bias. Layer l reads `emb_sz` (l = 0) or `n_hid` features and outputs `n_hid` (`emb_sz` for
  the last layer).
"""
import pickle
from pathlib import Path
import torch, torchvision

def write_resnet_weights(archs, seed: int = 0) -> list[Path]:
    "Random ImageNet-shaped weights for each of `archs` at the path torchvision's weights API reads (TORCH_HOME)."
    from l3.vision import weights_file
    out = []
    for arch in archs:
        f = weights_file(arch)
        if not f.is_file():
            torch.manual_seed(seed)
            f.parent.mkdir(parents=True, exist_ok=True)
            torch.save(getattr(torchvision.models, arch)(weights=None).state_dict(), f)
        out.append(f)
    return out

SPECIALS = ['xxunk', 'xxpad', 'xxbos', 'xxeos', 'xxfld', 'xxmaj', 'xxup', 'xxrep', 'xxwrep']   # fastai v1's itos starts so
WORDS = ['the', '.', ',', 'a', 'and', 'of', 'to', 'is', 'it', 'in', 'i', 'this', 'that', 'movie', 'film', 'was', 'great',
         'terrible', 'acting', 'plot', 'story', 'music', 'wonderful', 'boring', 'loved', 'hated', 'world', 'war', 'city']

def fastai_awd_lstm_state(vocab_sz: int, emb_sz: int = 400, n_hid: int = 1152, n_layers: int = 3, seed: int = 0) -> dict:
    "A random state dict with the keys and shapes of fastai's AWD-LSTM language model (see the module's docstring)."
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: (torch.rand(*s, generator=g) - 0.5) * 0.2
    emb = r(vocab_sz, emb_sz)
    sd = {'0.encoder.weight': emb, '0.encoder_dp.emb.weight': emb.clone()}
    for l in range(n_layers):
        n_in, n_out = emb_sz if l == 0 else n_hid, n_hid if l != n_layers - 1 else emb_sz
        hh = r(4 * n_out, n_out)
        sd[f'0.rnns.{l}.weight_hh_l0_raw'] = hh
        sd[f'0.rnns.{l}.module.weight_ih_l0'] = r(4 * n_out, n_in)
        sd[f'0.rnns.{l}.module.weight_hh_l0'] = hh.clone()   # the dropped copy (at save time: the raw one, eval mode)
        sd[f'0.rnns.{l}.module.bias_ih_l0'] = r(4 * n_out)
        sd[f'0.rnns.{l}.module.bias_hh_l0'] = r(4 * n_out)
    sd['1.decoder.weight'], sd['1.decoder.bias'] = emb.clone(), r(vocab_sz)
    return sd

def write_wt103(dest, emb_sz: int = 400, n_hid: int = 1152, n_layers: int = 3, itos=None, wrap: bool = False) -> Path:
    "`dest/lstm_fwd.pth` + `dest/itos_wt103.pkl` in fastai's wt103-fwd layout (`wrap`: the state under 'model', as `learn.save`)."
    dest = Path(dest); dest.mkdir(parents=True, exist_ok=True)
    itos = list(itos) if itos is not None else SPECIALS + WORDS
    sd = fastai_awd_lstm_state(len(itos), emb_sz, n_hid, n_layers)
    torch.save({'model': sd, 'opt': None} if wrap else sd, dest/'lstm_fwd.pth')
    with open(dest/'itos_wt103.pkl', 'wb') as f: pickle.dump(itos, f)
    return dest
