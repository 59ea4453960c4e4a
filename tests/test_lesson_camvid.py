"""The CamVid lesson: what its run wrote (the lesson runs once per test session, see conftest.lesson_run), and its
pieces outside the notebook: the split by video (l3.dataset_readers), the lesson's `size=src_size//2`, its metric
and U-Net shapes, the bench smoke run."""
import subprocess
import sys
from pathlib import Path
import numpy as np
import pytest
from l3.synth_scenes import synth_camvid_tiny, synth_camvid
from l3.dataset_readers import camvid_valid_names, seq_of, CAMVID_VALID_SEQ as VALID_SEQ
from l3.vision_data import SegmentationItemList

def camvid_src(path):
    "The lessons' labelled lists: images split by video (`camvid_valid_names`), masks `labels/X_P.png`, the codes."
    codes = np.loadtxt(path/'codes.txt', dtype=str)
    return (SegmentationItemList.from_folder(path/'images').split_by_files(camvid_valid_names(path))
            .label_from_func(lambda x: path/'labels'/f'{x.stem}_P{x.suffix}', classes=codes))

ROOT = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return synth_camvid_tiny(tmp_path_factory.mktemp('c')/'camvid_tiny', n_per_seq=3)

def test_split_by_video_without_valid_txt(tiny):
    "camvid_tiny has no valid.txt: the validation set is the whole Seq05VD video, and no frame of it is trained on."
    src = camvid_src(tiny)
    assert {seq_of(f) for f in src.valid.x.items} == {VALID_SEQ}
    assert VALID_SEQ not in {seq_of(f) for f in src.train.x.items} and len(src.train) + len(src.valid) == 12

def test_valid_txt_wins(tmp_path):
    p = synth_camvid(tmp_path/'camvid', n_per_seq=2)
    assert camvid_valid_names(p) == (p/'valid.txt').read_text().split()

def test_no_valid_sequence_says_what_to_do(tiny, tmp_path):
    (tmp_path/'images').mkdir()
    (tmp_path/'images'/'0001TP_006690.png').write_bytes((tiny/'images'/'0001TP_006690.png').read_bytes())
    with pytest.raises(FileNotFoundError, match=r'no valid\.txt and no Seq05VD frames'): camvid_valid_names(tmp_path)

def test_numpy_size_pair(tiny):
    "The lesson's `size=src_size//2` (a numpy array) works and is stored as a tuple of ints."
    from l3.vision_data import open_mask
    from l3.augment import get_transforms
    src = camvid_src(tiny)
    src_size = np.array(open_mask(src.train.y[0]).shape)
    data = src.transform(get_transforms(), size=src_size//2, tfm_y=True).databunch(bs=2, num_workers=0)
    assert data.size == (48, 64) and all(type(s) is int for s in data.size)
    xb, yb = data.one_batch()
    assert xb.shape == (2, 3, 48, 64) and yb.shape == (2, 48, 64)

def test_camvid_run(lesson_run):
    """The lesson's own run (metrics.json): its learning checks, the split by video, the frozen share, the precision
    comparison, the confusion rows consistent with acc_camvid, its figures, the go-big model loadable."""
    from l3.learner_export import load_learner
    from l3.core import data_path
    rec = lesson_run('camvid')
    assert 'error' not in rec, rec.get('error')
    m, out = rec['metrics'], Path(rec['out'])
    assert m['acc_camvid'] >= 0.8 and m['acc_camvid_half_size'] >= 0.8, m
    assert m['checks'] and all(c['ok'] for c in m['checks'].values()) and not m['failed_checks'], m['checks']
    assert m['videos']['valid'] == [VALID_SEQ] and VALID_SEQ not in m['videos']['train']   # a whole video held out
    assert m['copy_nearest_acc']['random_split'] > m['copy_nearest_acc']['held_out']
    assert m['trainable_share_stage1'] == 1      # offline: random weights, nothing frozen
    assert 0 < m['mean_iou'] <= 1 and 'Void' not in m['per_class_iou'] and m['size_big'] == [96, 128]
    mp = m['mixed_precision']
    assert mp['activation_mb_mixed'] < 0.8 * mp['activation_mb_fp32'] and abs(mp['acc_fp32'] - mp['acc_mixed']) < 0.02
    conf = m['confusion']                        # the per-class confusion view agrees with the metric
    assert abs(conf['accuracy'] - m['acc_camvid']) < 1e-3 and conf['worst']
    assert all(abs(sum(row) - 1) < 1e-4 for row in conf['worst'].values())
    assert len(rec['figures']) >= 8 and (out/'models'/'stage-2-big.pth').exists()
    inf = load_learner(out)
    codes = np.loadtxt(data_path()/'camvid_tiny'/'codes.txt', dtype=str)
    assert list(inf.data.classes) == list(map(str, codes))
    mask, _ = inf.predict(sorted((data_path()/'camvid_tiny'/'images').iterdir())[0])
    assert tuple(mask.shape) == (96, 128)

def test_lesson_metric_is_masked_accuracy(tiny):
    "The lecture's acc_camvid (a mean over one batch, Void masked) and l3's masked_accuracy agree on a batch."
    import torch
    from l3.augment import get_transforms
    from l3.metrics import masked_accuracy
    src = camvid_src(tiny)
    void_code = list(np.loadtxt(tiny/'codes.txt', dtype=str)).index('Void')
    def acc_camvid(input, target):
        target = target.squeeze(1)
        mask = target != void_code
        return (input.argmax(dim=1)[mask] == target[mask]).float().mean()
    data = src.transform(get_transforms(), size=(48, 64), tfm_y=True).databunch(bs=3, num_workers=0)
    xb, yb = data.one_batch('valid')
    torch.manual_seed(0)
    fake = torch.randn(len(yb), data.c, *yb.shape[-2:])
    fake.scatter_(1, yb[:, None].long().clamp(max=data.c - 1), 3.)   # a "prediction" that is mostly right
    ours = masked_accuracy(void_code, name='acc_camvid')(fake, yb).item()
    assert abs(acc_camvid(fake, yb).item() - ours) < 1e-6 and 0.5 < ours < 1

def test_lesson_unet_shapes(tiny):
    """The lesson's DataBunch and U-Net at half size: 32 classes, batches (bs, 3, 48, 64) and masks (bs, 48, 64), a
    score per class per pixel, three layer groups."""
    from l3.augment import get_transforms
    from l3.vision import unet_learner
    src = camvid_src(tiny)
    data = src.transform(get_transforms(), size=(48, 64), tfm_y=True).databunch(bs=2, num_workers=0)
    xb, yb = data.one_batch()
    assert data.c == 32 and xb.shape == (2, 3, 48, 64) and yb.shape == (2, 48, 64)
    learn = unet_learner(data, 'resnet18', pretrained=False)
    s = learn.summary(print_out=False)
    assert '[1, 32, 48, 64]' in s and len(learn.layer_groups) == 3

def test_bench_segmentation_smoke():
    "bench/segmentation.py --quick runs (l3 side only here) and prints its table; timings are never asserted."
    p = subprocess.run([sys.executable, str(ROOT/'bench'/'segmentation.py'), '--quick', '--no-fastai'],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    assert 'measuring l3 only' in p.stdout and 'acc_camvid' in p.stdout and 'l3 ' in p.stdout

def test_bench_segmentation_libs_checked():
    "--libs names the runs to make; a name it does not know stops the bench before any data or training, naming it."
    p = subprocess.run([sys.executable, str(ROOT/'bench'/'segmentation.py'), '--libs', 'l3,fastia'],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 2 and "'fastia'" in p.stderr and 'choose from l3, l3-fp32, fastai' in p.stderr
    assert 'CamVid' not in p.stdout
