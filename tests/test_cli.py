"""The `l3` console script, run as a user would: help at every level, clear errors for bad names; the lesson runner
(options injected into a notebook's `parameters` cell, a failing cell named, figures as PNG, one summary, only rank 0
writing) on small notebooks of its own; and what the real lessons' runs wrote."""
import json, subprocess, sys, shutil
from pathlib import Path
import pytest

def l3(*args, timeout=300, **kw):
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, **kw)

LESSONS = ['data_block_examples', 'planet', 'camvid', 'head_pose', 'imdb', 'universal_approximation', 'deploy']

@pytest.mark.parametrize('args', [[], ['--help'], ['data', '--help'], ['lesson', '--help'], ['bench', '--help']])
def test_help(args):
    r = l3(*args)
    assert r.returncode == 0, r.stderr
    assert 'usage: l3' in r.stdout

def test_unknown_lesson_task_lists_known_ones():
    r = l3('lesson', 'nope')
    assert r.returncode == 2 and 'choose one of' in r.stderr and 'data_block' in r.stderr

def test_unknown_parameter_is_refused_before_any_run():
    r = l3('lesson', 'planet', '-p', 'EPOCS=2')
    assert r.returncode == 2 and "no lesson here has a parameter 'EPOCS'" in r.stderr and '==' not in r.stdout

def test_unknown_bench_lists_known_ones():
    r = l3('bench', 'nope')
    assert r.returncode == 2 and 'no benchmark' in r.stderr

def test_lesson_help_lists_every_task():
    r = l3('lesson', '--help')
    for task in LESSONS + ['data_block', 'all', '--seed', '--param']: assert task in r.stdout, (task, r.stdout)

def test_every_lesson_has_its_parameters_cell():
    "Each lesson's `parameters` cell holds FULL = False and RUN_DIR, and the CLI's options it uses."
    from l3.cli import lesson_notebook, lesson_parameters, LESSONS as known
    assert known == LESSONS and lesson_notebook('data_block') == lesson_notebook('data_block_examples')
    for name in LESSONS:
        _, params = lesson_parameters(json.loads(lesson_notebook(name).read_text()))
        assert params['FULL'] is False and params['RUN_DIR'] is None and params['SEED'] == 42, (name, params)
    for name in ('planet', 'camvid', 'head_pose'):
        _, params = lesson_parameters(json.loads(lesson_notebook(name).read_text()))
        assert {'EPOCHS', 'SIZE', 'BS', 'ARCH', 'DEVICE', 'FP16', 'CHECKS'} <= set(params), (name, params)

# --- the runner on small notebooks of its own -------------------------------------------------------------------------

def _code(src, tags=None, i=[0]):
    i[0] += 1
    return {'cell_type': 'code', 'id': f'c{i[0]}', 'metadata': {'tags': tags} if tags else {}, 'outputs': [],
            'execution_count': None, 'source': src}

def _fake_lessons(tmp_path, monkeypatch, fail=()):
    "Three tiny lessons: a parameters cell, a figure, then the closing cell writing metrics.json (one fails before it)."
    from l3 import cli
    names = ['alpha', 'beta', 'gamma']
    for n in names:
        cells = [_code('FULL = False\nEPOCHS = None\nSIZE = None\nBS = None\nSEED = 42\nRUN_DIR = None', ['parameters']),
                 _code('import matplotlib.pyplot as plt\nplt.plot([1, 2, 3]);'),
                 _code('x = 1\n1/0' if n in fail else 'x = 1'),
                 _code('import os\nfrom pathlib import Path\nfrom l3.core import save_json, main_rank\n'
                       "m = {'score': 0.5, 'epochs': EPOCHS, 'size': SIZE, 'bs': BS, 'full': FULL, 'rank': os.environ.get('RANK')}\n"
                       "if main_rank(): save_json(m, Path(RUN_DIR)/'metrics.json')")]
        (tmp_path/f'{n}.ipynb').write_text(json.dumps({'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': cells}))
    monkeypatch.setattr(cli, 'LESSONS', names)
    monkeypatch.setattr(cli, 'lesson_notebook', lambda n: tmp_path/f'{n}.ipynb')
    return cli, names

def test_lesson_all_runs_every_lesson_writes_its_folder_and_summary(tmp_path, monkeypatch, capsys):
    "`l3 lesson all`: each lesson in order with the options injected, its folder (notebook, PNG, metrics.json, run.json), one summary."
    cli, names = _fake_lessons(tmp_path, monkeypatch, fail={'beta'})
    out = tmp_path/'runs'
    rc = cli.main(['lesson', 'all', '--epochs', '1', '--size', '32', '--bs', '8', '--full', '--out', str(out)])
    assert rc == 1   # a failed lesson fails the run, after the others have run
    captured = capsys.readouterr()
    summary = captured.out[captured.out.rindex('lesson '):]
    assert [l.split()[0] for l in summary.splitlines()[1:]] == names
    for n in names:
        d = out/n
        run = json.loads((d/'run.json').read_text())
        assert run['params'] == {'EPOCHS': 1, 'SIZE': 32, 'BS': 8, 'FULL': True, 'RUN_DIR': str(d)} and run['seconds'] >= 0
        assert run['figures'] == ['cell01-1.png'] and (d/'figures'/'cell01-1.png').read_bytes()[:4] == b'\x89PNG'
        nb = json.loads((d/f'{n}.ipynb').read_text())                       # the executed notebook, a report to open
        assert nb['cells'][1]['metadata']['tags'] == ['injected-parameters'] and 'EPOCHS = 1' in ''.join(nb['cells'][1]['source'])
        if n == 'beta':
            assert not (d/'metrics.json').exists()
            assert run['error'].startswith('cell 2 (`x = 1`) failed') and 'ZeroDivisionError: division by zero' in run['error']
            assert 'FAILED: cell 2' in summary and 'ZeroDivisionError' in captured.err
        else:
            m = json.loads((d/'metrics.json').read_text())
            assert m == {'score': 0.5, 'epochs': 1, 'size': 32, 'bs': 8, 'full': True, 'rank': None} and 'error' not in run
    assert 'score=0.5' in summary

def test_option_a_lesson_does_not_have_is_not_injected(tmp_path, monkeypatch, capsys):
    cli, _ = _fake_lessons(tmp_path, monkeypatch)
    assert cli.main(['lesson', 'alpha', '--arch', 'resnet34', '--seed', '3', '--out', str(tmp_path/'a')]) == 0
    assert 'ARCH: not a parameter of this lesson' in capsys.readouterr().out
    assert json.loads((tmp_path/'a'/'run.json').read_text())['params'] == {'SEED': 3, 'RUN_DIR': str(tmp_path/'a')}

def test_lesson_under_torchrun_only_rank0_prints_and_writes(tmp_path, monkeypatch, capsys):
    "Every rank executes the lesson (the kernel sees RANK); only rank 0 prints and writes."
    cli, _ = _fake_lessons(tmp_path, monkeypatch)
    monkeypatch.setenv('RANK', '1')
    assert cli.main(['lesson', 'alpha', '--out', str(tmp_path/'r')]) == 0
    assert capsys.readouterr().out == '' and not any((tmp_path/'r').glob('*'))
    monkeypatch.setenv('RANK', '0')
    assert cli.main(['lesson', 'alpha', '--out', str(tmp_path/'r')]) == 0
    assert 'alpha' in capsys.readouterr().out
    assert json.loads((tmp_path/'r'/'metrics.json').read_text())['rank'] == '0' and (tmp_path/'r'/'alpha.ipynb').exists()

# --- what the real lessons wrote (each runs once per session, see conftest.lesson_run) ------------------------------

def test_data_block_run(lesson_run):
    "The data block lesson's run: each block's sizes and label class, the largest-object check recorded and passed."
    rec = lesson_run('data_block_examples')
    assert 'error' not in rec, rec.get('error')
    m = rec['metrics']
    labels = {'mnist': 'CategoryLabel', 'planet': 'MultiCategoryLabel', 'camvid': 'MaskLabel', 'coco': 'BBoxLabel',
              'biwi': 'PointsLabel', 'imdb': 'CategoryLabel'}
    assert set(m) == set(labels) | {'largest_object', 'checks', 'failed_checks'}
    assert {name: m[name]['label'] for name in labels} == labels
    assert m['mnist']['c'] == 2 and m['mnist']['classes'] == ['3', '7'] and m['camvid']['c'] == 32
    assert m['coco']['c'] == 7 and m['coco']['train'] + m['coco']['valid'] == 200
    assert m['biwi']['valid'] > 0 and m['biwi']['c'] == 2 and m['imdb']['classes'] == ['negative', 'positive']
    lo = m['largest_object']                                  # the largest-object check beats the mean box clearly
    assert lo['mean_iou'] > max(1.5*lo['baseline_mean_iou'], lo['baseline_mean_iou'] + 0.05), lo
    assert m['failed_checks'] == [] and list(m['checks']) == ['mean IoU clearly beats the mean box']
    assert m['checks']['mean IoU clearly beats the mean box'] == {'figure': round(lo['mean_iou'], 3), 'ok': True}
    assert len(rec['figures']) >= 7 and all((Path(rec['out'])/'figures'/f).exists() for f in rec['figures'])

def test_imdb_run(lesson_run):
    from l3.learner_export import load_learner
    rec = lesson_run('imdb')
    assert 'error' not in rec, rec.get('error')
    m = rec['metrics']
    assert m['accuracy'] >= 0.8 and m['lm_accuracy'] > 0.25, m
    assert m['failed_checks'] == [] and all(c['ok'] for c in m['checks'].values()), m['checks']
    assert m['lm_epochs'] == 12 and m['vocab'] <= 4000, m   # the small mode's token budget: 12 epochs of the stand-in
    assert m['generated'][0].startswith('I liked this movie because') and rec['figures']
    pred = load_learner(rec['out']).predict('I loved this film. The acting was brilliant.')[0]
    assert pred in ('positive', 'negative')

def test_universal_approximation_run(lesson_run):
    rec = lesson_run('universal_approximation')
    assert 'error' not in rec, rec.get('error')
    m = rec['metrics']
    assert m['failed_checks'] == [] and all(c['ok'] for c in m['checks'].values()), m['checks']
    assert 8 < m['error_ratio_per_doubling'] < 32 and m['mse_linear_layers'] >= m['mse_best_line'] - 1e-4
    assert len(rec['figures']) >= 6

@pytest.mark.slow
def test_lesson_all_tiny_real(tmp_path):
    "The real `l3 lesson all` at the smallest settings, learning checks off (L3_SLOW=1; CI runs each lesson at its own settings)."
    r = l3('lesson', 'all', '--epochs', '1', '--size', '32', '--bs', '8', '-p', 'CHECKS=False', '-p', 'LR_FIND_ITS=10',
           '-p', 'STEPS=50', '--out', str(tmp_path), timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = r.stdout[r.stdout.rindex('lesson '):]
    for task in LESSONS:
        m = json.loads((tmp_path/task/'metrics.json').read_text())
        assert m and 'error' not in json.loads((tmp_path/task/'run.json').read_text()), task
        assert task in summary and list((tmp_path/task/'figures').glob('*.png'))
    assert (tmp_path/'planet'/'submission.csv').exists() and (tmp_path/'planet'/'export.pth').exists()
