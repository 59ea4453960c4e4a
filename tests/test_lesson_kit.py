"""The lesson kit (l3.lesson, nbs/11c_lesson.ipynb) in use: a lesson whose learning check fails runs to its end as a
learner runs it (nbclient, as JupyterLab does) and shows the failed check in its last output, while `l3 lesson`'s
runner records an error naming the check and its figure and the CLI exits non-zero."""
import json
from pathlib import Path
import nbformat

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
