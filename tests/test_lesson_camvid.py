"""The CamVid lesson's pieces outside the notebooks: the split by video, the lesson's `size=src_size//2`, the bench smoke run.

The notebooks themselves (nbs/lessons/camvid.ipynb with its learning check, nbs/tasks/camvid.ipynb) run in
tests/test_notebooks.py.
"""
import subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from l3.synth import synth_camvid_tiny, synth_camvid
from l3.tasks.camvid import camvid_src, camvid_valid_names, seq_of, VALID_SEQ

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
