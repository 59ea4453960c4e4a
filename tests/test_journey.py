"""The batch's journey that 03_data_block teaches ("A batch's journey") is the one that runs.

One real training batch of the planet lesson's configuration (an `ImageList` from a CSV, multi-label, `cnn_learner`
with its default speed-ups, `fit_one_cycle`) is traced with `sys.setprofile` from the moment the loop starts reading
the training loader to the moment the loss is computed. A *step* is a function of l3 that the batch enters from
another module, or from outside l3 (torch's `DataLoader` calling `__getitem__`/`collate`, a module's `forward`), or
one of the learner's own steps (`callbacks.STEPS`: `predict_batch`, `get_loss`); what a step calls in its own module
is part of it. The test fails when the steps the section lists and the steps that
ran differ, or come in another order. Steps the section marks "only where ..." may be absent (e.g. mixed precision,
which the factories switch on only where it pays).
"""
import json
import re
import sys
from functools import partial
from pathlib import Path
import pytest
import torchvision
import l3
from l3.synth import synth_planet_tiny
from l3.vision_data import ImageList, imagenet_stats
from l3.augment import get_transforms
from l3.metrics import accuracy_thresh, fbeta
from l3.vision import cnn_learner
from l3.callbacks import Callback, CancelFit, STEPS

ROOT, L3 = Path(__file__).resolve().parents[1], Path(l3.__file__).resolve().parent
STEP = re.compile(r'^\s*\d+\.\s+`(\w+)\.([\w.]+)`(.*)$')

def section_steps() -> list[tuple[str, bool]]:
    "The steps 03_data_block's journey section lists, in order: ('module.qualname', optional)."
    nb = json.loads((ROOT/'nbs'/'03_data_block.ipynb').read_text(encoding='utf-8'))
    cells = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    sec = next(s for s in cells if s.startswith("## A batch's journey"))
    return [(f'{m.group(1)}.{m.group(2)}', 'only where' in m.group(3)) for m in map(STEP.match, sec.splitlines()) if m]

def _module(code) -> str|None:
    "The l3 module a code object belongs to, None outside l3."
    f = Path(code.co_filename)
    return f.stem if f.parent == L3 else None

LOOP_STEPS = {f'learner.Learner.{s}' for s in STEPS}

class _Trace:
    "A profile function that records, in order, the steps of l3 entered from another module (or torch), and the loop's."
    def __init__(self): self.steps, self.calls = [], set()
    def __call__(self, frame, event, arg):
        if event != 'call' or (m := _module(frame.f_code)) is None: return
        name = f"{m}.{frame.f_code.co_qualname.split('.<locals>')[0]}"   # a closure is part of its function
        self.calls.add(name)
        entered = (_module(frame.f_back.f_code) if frame.f_back else None) != m or name in LOOP_STEPS
        if entered and name not in self.steps: self.steps.append(name)

class _Start(Callback):
    "Starts the trace last of all callbacks, just before the loop reads the training loader."
    order = 10**6
    def __init__(self, trace): self.trace = trace
    def before_train(self): sys.setprofile(self.trace)

class _Stop(Callback):
    "Stops it first of all callbacks once the loss of the first batch is computed, and ends the fit."
    order = -10**6
    def after_loss(self):
        sys.setprofile(None)
        raise CancelFit('one batch traced')

@pytest.fixture(scope='module')
def traced(tmp_path_factory):
    "The steps (and every l3 function) one training batch of the planet lesson's configuration passes."
    path = synth_planet_tiny(tmp_path_factory.mktemp('planet'), n=40, size=32)
    tfms = get_transforms(flip_vert=True, max_lighting=0.1, max_zoom=1.05, max_warp=0.)
    data = (ImageList.from_csv(path, 'labels.csv', folder='train', suffix='.jpg')
            .split_by_rand_pct(0.2, seed=42)
            .label_from_df(label_delim=' ')
            .transform(tfms, size=32)
            .databunch(bs=8)
            .normalize(imagenet_stats))
    metrics = [partial(accuracy_thresh, thresh=0.2), partial(fbeta, thresh=0.2)]
    learn = cnn_learner(data, torchvision.models.resnet18, metrics=metrics, pretrained=False)
    trace = _Trace()
    learn.add_cb(_Start(trace))
    learn.add_cb(_Stop())
    try: learn.fit_one_cycle(1, 1e-3)
    finally: sys.setprofile(None)
    return trace

def test_the_section_names_the_steps_that_run(traced):
    listed = section_steps()
    names = [n for n, _ in listed]
    required = {n for n, opt in listed if not opt}
    ran = traced.steps
    missing, unlisted = sorted(required - set(ran)), [s for s in ran if s not in names]
    assert not missing and not unlisted, (f"03_data_block's journey and the code disagree: listed but not run "
                                          f'{missing}; run but not listed {unlisted}')
    assert [n for n in names if n in ran] == ran, f'the steps ran in another order: {ran}'
    mods = {n.split('.')[0] for n in ran}
    print(f'journey: {len(ran)} steps in {len(mods)} modules ({", ".join(sorted(mods))}); '
          f'{len(traced.calls)} functions of l3 in all')

def test_the_section_is_read():
    "No test that cannot fail: the section must list steps the parser finds."
    assert len(section_steps()) >= 5
