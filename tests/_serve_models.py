"Tiny untrained exported models of every lesson's kind, for the serve tests (seconds to build; the answers are noise)."
import numpy as np
from l3.core import set_seed
from l3.datasets import get_dataset
from l3.dataset_readers import camvid_valid_names, read_biwi_cal, biwi_point
from l3.vision_data import ImageList, SegmentationItemList, PointsItemList
from l3.vision import cnn_learner, unet_learner
from l3.text_data import TextList
from l3.text_models import text_classifier_learner

def mnist_data(size=28):
    p = get_dataset('mnist_tiny')
    lls = ImageList.from_folder(p).split_by_folder().label_from_folder()
    return lls.transform(size=size).databunch(bs=32).normalize()

NAMES = ('mnist', 'planet', 'camvid', 'head_pose', 'imdb')

def build_models(root, names=NAMES) -> dict:
    "{name: folder} for the models `names` (mnist, planet, camvid, head_pose, imdb) exported under `root`."
    set_seed(0)
    out = {n: root/n for n in names}
    for n in names: globals()['_' + n](out[n])
    return out

def _mnist(dest): cnn_learner(mnist_data(), 'resnet18', pretrained=False, path=dest).export()

def _planet(dest):
    pl = get_dataset('planet_tiny')
    d = (ImageList.from_csv(pl, 'labels.csv', folder='train', suffix='.jpg').split_by_rand_pct(0.2, seed=42)
         .label_from_df(label_delim=' ').transform(size=32).databunch(bs=32).normalize())
    learn = cnn_learner(d, 'resnet18', pretrained=False, path=dest)
    learn.pred_thresh = 0.2
    learn.export()

def _camvid(dest):
    cv = get_dataset('camvid_tiny')
    codes = np.loadtxt(cv/'codes.txt', dtype=str)
    d = (SegmentationItemList.from_folder(cv/'images').split_by_files(camvid_valid_names(cv))
         .label_from_func(lambda x: cv/'labels'/f'{x.stem}_P{x.suffix}', classes=codes)
         .transform(size=(32, 48), tfm_y=True).databunch(bs=8).normalize())
    unet_learner(d, 'resnet18', pretrained=False, path=dest).export()

def _head_pose(dest):
    b = get_dataset('biwi_head_pose')
    cal = read_biwi_cal(b/'01'/'rgb.cal')
    d = (PointsItemList.from_folder(b).split_by_valid_func(lambda o: o.parent.name == '13')
         .label_from_func(lambda f: biwi_point(f, cal)).transform(tfm_y=True, size=(30, 40)).databunch(bs=16)
         .normalize())
    cnn_learner(d, 'resnet18', pretrained=False, path=dest, y_range=(-1.1, 1.1)).export()

def _imdb(dest):
    im = get_dataset('imdb_sample')
    d = TextList.from_csv(im, 'texts.csv', cols='text').split_from_df(col=2).label_from_df(cols=0).databunch(bs=16)
    text_classifier_learner(d, path=dest).export()

def sample_inputs() -> dict:
    "One real input per model: image bytes, or a text."
    mn, pl, cv, b = (get_dataset(n) for n in ('mnist_tiny', 'planet_tiny', 'camvid_tiny', 'biwi_head_pose'))
    first = lambda p, pat: sorted(p.glob(pat))[0].read_bytes()
    return {'mnist': first(mn/'valid'/'3', '*.png'), 'planet': first(pl/'train', '*.jpg'),
            'camvid': first(cv/'images', '*.png'),
            'head_pose': first(b/'13', '*_rgb.jpg'), 'imdb': 'This film was a wonderful surprise, I loved it.'}
