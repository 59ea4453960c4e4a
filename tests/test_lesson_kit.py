"""The lesson kit (l3.lesson, nbs/11c_lesson.ipynb) in use: a lesson whose learning check fails runs to its end as a
learner runs it (nbclient, as JupyterLab does) and shows the failed check in its last output, while `l3 lesson`'s
runner records an error naming the check and its figure and the CLI exits non-zero."""
import json
from pathlib import Path
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = 'score >= 0.85 (small mode)'

def lesson_like(path: Path, score: float = 0.42) -> Path:
    "A small lesson-like notebook: parameters, a check in a teaching cell, more teaching after it, the closing cell."
    v4 = nbformat.v4
    src = ['FULL = False\nCHECKS = True\nRUN_DIR = None',
           'from l3.lesson import LessonChecks, finish_lesson\nfrom l3.core import lesson_dir\n'
           "checks = LessonChecks('fixture', enforce=CHECKS)\nRUN_DIR = lesson_dir('fixture', RUN_DIR)",
           f'score = {score}\nchecks({CHECK!r}, score, score >= 0.85)',
           "checks('the loss falls', -0.1, True)\nafter = 'the cell after the failed check ran'\nafter",
           "metrics = {'score': score}\nfinish_lesson(checks, metrics, RUN_DIR)"]
    cells = [v4.new_code_cell(s) for s in src]
    cells[0].metadata['tags'] = ['parameters']
    kernel = {'name': 'python3', 'display_name': 'python3', 'language': 'python'}
    nb = v4.new_notebook(cells=cells, metadata={'kernelspec': kernel})
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path

def _text(out) -> str:
    "An output's text: its stream text, else its text/plain and text/html."
    if out.get('output_type') == 'stream': return out['text']
    return out.get('data', {}).get('text/plain', '') + out.get('data', {}).get('text/html', '')

def test_failed_check_runs_to_the_end_under_nbclient(tmp_path, monkeypatch):
    "As a learner runs it: nothing raises, every cell runs, the failed check is in the last cell's output, in red."
    from nbclient import NotebookClient
    monkeypatch.setenv('L3_RUNS', str(tmp_path/'runs'))       # RUN_DIR = None: lesson_dir writes under L3_RUNS
    monkeypatch.delenv('IN_TEST', raising=False)
    nb = nbformat.read(str(lesson_like(tmp_path/'lesson.ipynb')), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    outs = [[_text(o) for o in c.outputs] for c in nb.cells]
    assert any(f'learning check failed: {CHECK} (figure 0.42); the lesson goes on' in t for t in outs[2])
    assert 'the cell after the failed check ran' in ''.join(outs[3])
    last = ''.join(outs[-1])
    assert CHECK in last and 'FAILED' in last and '#c62828' in last and '1 failed' in last
    m = json.loads((tmp_path/'runs'/'fixture'/'metrics.json').read_text())
    assert m['failed_checks'] == [CHECK] and m['checks'][CHECK] == {'figure': 0.42, 'ok': False} and m['score'] == 0.42

def test_runner_fails_the_run_naming_the_check(tmp_path):
    "`l3 lesson`'s runner: the record's error names the failed check and its figure; run.json holds it."
    from l3.cli import run_lesson
    rec = run_lesson(lesson_like(tmp_path/'lesson.ipynb'), tmp_path/'out')
    assert rec['error'] == f'learning check failed: {CHECK} (figure 0.42)'
    assert json.loads((tmp_path/'out'/'run.json').read_text())['error'] == rec['error']
    assert rec['metrics']['failed_checks'] == [CHECK]
    executed = nbformat.read(str(tmp_path/'out'/'lesson.ipynb'), as_version=4)
    assert 'FAILED' in ''.join(_text(o) for o in executed.cells[-1].outputs)   # the report shows it too

def test_runner_passes_when_checks_pass_or_are_not_enforced(tmp_path):
    from l3.cli import run_lesson
    assert 'error' not in run_lesson(lesson_like(tmp_path/'ok.ipynb', score=0.9), tmp_path/'ok')
    rec = run_lesson(lesson_like(tmp_path/'quiet.ipynb'), tmp_path/'quiet', {'CHECKS': False})
    assert 'error' not in rec and rec['metrics']['failed_checks'] == []
    assert rec['metrics']['checks'][CHECK]['ok'] is False        # recorded all the same

def test_cli_exits_non_zero_on_a_failed_check(tmp_path, monkeypatch, capsys):
    "`l3 lesson NAME`: exit 1, the check and its figure on stderr and in the summary."
    from l3 import cli
    nb = lesson_like(tmp_path/'fixture.ipynb')
    monkeypatch.setattr(cli, 'LESSONS', ['fixture'])
    monkeypatch.setattr(cli, 'lesson_notebook', lambda n: nb)
    assert cli.main(['lesson', 'fixture', '--out', str(tmp_path/'out')]) == 1
    out, err = capsys.readouterr()
    assert f'l3 lesson fixture: learning check failed: {CHECK} (figure 0.42)' in err
    assert f'FAILED: learning check failed: {CHECK} (figure 0.42)' in out

# --- check_folder: the homework's folder, each problem named in plain words ------------------------------------------

def _img(p: Path, h=32, w=48):
    import numpy as np
    from PIL import Image
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(p)

def _mask(p: Path, h=32, w=48, n=3, rgb=False):
    import numpy as np
    from PIL import Image
    p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, n, (h, w, 3) if rgb else (h, w), dtype=np.uint8)).save(p)

def _check(capsys, path, task, **kw):
    "check_folder's result and what it printed."
    from l3.lesson import check_folder
    data = check_folder(path, task, show=False, size=32, bs=2, **kw)
    return data, capsys.readouterr().out

def _problem(capsys, path, task, *words, **kw):
    data, out = _check(capsys, path, task, **kw)
    assert data is None and f'{path} is not ready for {task} yet' in out and 'The layout' in out, out
    for w in words: assert w in out, (w, out)

def test_check_folder_without_a_folder_shows_the_layout(capsys):
    from l3.lesson import check_folder, LAYOUTS
    for task in LAYOUTS:
        assert check_folder(None, task) is None and LAYOUTS[task] in capsys.readouterr().out
    with pytest.raises(ValueError, match="choose one of single_label, multi_label, segmentation, points"):
        check_folder(None, 'detection')

def test_check_folder_single_label(tmp_path, capsys):
    _problem(capsys, tmp_path/'nope', 'single_label', 'does not exist')
    (tmp_path/'empty').mkdir()
    _problem(capsys, tmp_path/'empty', 'single_label', 'no image files found in')
    for i in range(6): _img(tmp_path/'pets'/'cat'/f'{i}.jpg')
    _problem(capsys, tmp_path/'pets', 'single_label', "every training image has the label 'cat'", 'two classes')
    for i in range(6): _img(tmp_path/'pets'/'dog'/f'{i}.jpg')
    data, out = _check(capsys, tmp_path/'pets', 'single_label')
    assert data.classes == ['cat', 'dog'] and 'Ready' in out and data.one_batch()[0].shape == (2, 3, 32, 32)
    for split in ('train', 'valid'):
        for c in ('a', 'b'): _img(tmp_path/'tv'/split/c/'0.png')
    data, _ = _check(capsys, tmp_path/'tv', 'single_label')
    assert len(data.train_ds) == 2 and len(data.valid_ds) == 2     # train/ and valid/ make the split

def _tiles(path: Path, rows: list[str], n_images=8):
    for i in range(n_images): _img(path/'train'/f'tile_{i}.jpg')
    (path/'labels.csv').write_text('name,tags\n' + ''.join(f'{r}\n' for r in rows))

def test_check_folder_multi_label(tmp_path, capsys):
    p = tmp_path/'tiles'
    _tiles(p, [f'tile_{i},clear primary' if i % 2 else f'tile_{i},haze' for i in range(8)])
    data, _ = _check(capsys, p, 'multi_label')
    assert data.classes == ['clear', 'haze', 'primary'] and data.one_batch()[1].shape == (2, 3)
    _tiles(p, [f'tile_{i},clear' for i in range(10)])                # a CSV naming files that do not exist
    _problem(capsys, p, 'multi_label', '2 of 10 files named in', 'labels.csv do not exist', 'tile_8.jpg')
    _tiles(p, [f'tile_{i},clear' for i in range(8)])
    _problem(capsys, p, 'multi_label', "every training image has the label 'clear'")
    _tiles(p, [f'tile_{i},' if i == 3 else f'tile_{i},a b' for i in range(8)])   # a label that does not parse
    _problem(capsys, p, 'multi_label', "label column 'tags' has NaN (empty) values", 'train/tile_3.jpg')
    (p/'labels.csv').unlink()
    _problem(capsys, p, 'multi_label', 'has no CSV file', 'name,tags')

def test_check_folder_segmentation(tmp_path, capsys):
    p = tmp_path/'streets'
    for i in range(6): _img(p/'images'/f's{i}.jpg')
    for i in range(1, 6): _mask(p/'labels'/f's{i}_P.png')
    _problem(capsys, p, 'segmentation', 'has no codes.txt')
    (p/'codes.txt').write_text('Road\nCar\nVoid\n')
    _problem(capsys, p, 'segmentation', 'mask files do not exist', 's0_P.jpg', 'for image')   # a mask missing
    _mask(p/'labels'/'s0_P.png', rgb=True)
    _problem(capsys, p, 'segmentation', 'is a colour (RGB) image')
    _mask(p/'labels'/'s0_P.png', n=5)
    _problem(capsys, p, 'segmentation', 'but the codes list 3 classes')
    _mask(p/'labels'/'s0_P.png', h=30)
    _problem(capsys, p, 'segmentation', 'masks must have the image\'s size')
    _mask(p/'labels'/'s0_P.png')
    data, out = _check(capsys, p, 'segmentation')
    assert data.classes == ['Road', 'Car', 'Void'] and data.one_batch()[1].shape == (2, 32, 32), out

def test_check_folder_points(tmp_path, capsys):
    p = tmp_path/'faces'
    for i in range(6):
        _img(p/f'f{i}.jpg')
        (p/f'f{i}.txt').write_text('10 20\n')
    data, _ = _check(capsys, p, 'points')
    assert data.one_batch()[1].shape == (2, 1, 2)
    (p/'f2.txt').write_text('ten twenty\n')
    _problem(capsys, p, 'points', 'f2.txt does not hold pairs of numbers', '`row col`')
    (p/'f2.txt').unlink()
    _problem(capsys, p, 'points', 'f2.txt does not exist', 'write the point of f2.jpg')
    (p/'f2.txt').write_text('100 20\n')
    _problem(capsys, p, 'points', 'lies outside the image of size (32, 48)')
    (p/'f2.jpg').write_bytes(b'not an image')
    (p/'f2.txt').write_text('10 20\n')
    _problem(capsys, p, 'points', 'f2.jpg', 'corrupt or not an image')

# --- the question files of the lessons ----------------------------------------------------------------------------

QUESTIONS = ROOT/'nbs'/'lessons'/'questions'

def lesson_headings(nb_path: Path) -> list[str]:
    "The `## ` headings of a notebook's markdown cells, as written after `## `."
    nb = json.loads(nb_path.read_text(encoding='utf-8'))
    return [line[3:].strip() for c in nb['cells'] if c['cell_type'] == 'markdown'
            for line in ''.join(c['source']).splitlines() if line.startswith('## ')]

def test_every_question_file_belongs_to_a_lesson():
    from l3.cli import LESSONS
    stray = sorted(p.name for p in QUESTIONS.glob('*.md') if p.stem not in LESSONS) if QUESTIONS.is_dir() else []
    assert not stray, f'question files named after no lesson (nbs/lessons/NAME.md): {stray}'

@pytest.mark.parametrize('lesson', __import__('l3.cli', fromlist=['LESSONS']).LESSONS)
def test_question_file(lesson):
    "Each lesson's questionnaire parses, has 8-15 questions, and each `section:` is a `## ` heading of the lesson."
    from l3.lesson import parse_questions, questionnaire
    f = QUESTIONS/f'{lesson}.md'
    assert f.exists(), f'{f.relative_to(ROOT)} is missing: every lesson ends with its questionnaire'
    _, qs = parse_questions(f)
    assert 8 <= len(qs) <= 15, f'{f.relative_to(ROOT)}: {len(qs)} questions; a lesson has 8 to 15'
    headings = lesson_headings(ROOT/'nbs'/'lessons'/f'{lesson}.ipynb')
    wrong = [f"line {q['line']}: {q['section']!r}" for q in qs if q['section'] not in headings]
    assert not wrong, f'{f.relative_to(ROOT)}: sections that are not `## ` headings of the lesson:\n' + \
        '\n'.join(wrong) + '\nits headings: ' + ' | '.join(headings)
    assert len(questionnaire(lesson).boxes) == len(qs)

def test_lesson_headings_reads_level_two_only(tmp_path):
    nb = {'cells': [{'cell_type': 'markdown', 'source': ['# Title\n', '## First part \n', 'text\n', '### Sub\n']},
                    {'cell_type': 'code', 'source': ['## not a heading']}]}
    (tmp_path/'x.ipynb').write_text(json.dumps(nb))
    assert lesson_headings(tmp_path/'x.ipynb') == ['First part']

def test_readme_lists_every_lesson_in_course_order():
    "The README's lesson table (from nbs/index.ipynb) names every lesson of `l3 lesson all`, in its order."
    import re
    from l3.cli import LESSONS
    table = re.findall(r'^\| `nbs/lessons/(\w+)\.ipynb` \|', (ROOT/'README.md').read_text(encoding='utf-8'), re.M)
    assert table == LESSONS, f'README lists {table}; the course order (l3.cli.LESSONS) is {LESSONS}'
