"The `l3` console script, run as a user would: help at every level, clear errors for bad names."
import subprocess, sys, shutil
from pathlib import Path
import pytest

def l3(*args, timeout=300, **kw):
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, **kw)

@pytest.mark.parametrize('args', [[], ['--help'], ['data', '--help'], ['lesson', '--help'], ['bench', '--help']])
def test_help(args):
    r = l3(*args)
    assert r.returncode == 0, r.stderr
    assert 'usage: l3' in r.stdout

def test_unknown_lesson_task_lists_known_ones():
    r = l3('lesson', 'nope')
    assert r.returncode == 2 and 'choose one of' in r.stderr and 'data_block' in r.stderr

def test_unknown_bench_lists_known_ones():
    r = l3('bench', 'nope')
    assert r.returncode == 2 and 'no benchmark' in r.stderr

def test_lesson_help_lists_every_task():
    r = l3('lesson', '--help')
    for task in ('data_block', 'planet', 'camvid', 'head_pose', 'imdb', 'all'): assert task in r.stdout, (task, r.stdout)

def _fake_tasks(monkeypatch, calls, fail=()):
    "Stand-in task functions (the real ones are run by their notebooks in nbs/tasks/): record the call, return metrics."
    from l3 import cli
    def task_fn(name):
        def run(out, **opts):
            calls.append((name, out, opts))
            if name in fail: raise RuntimeError(f'{name} broke')
            return {'score': 0.5, 'stages': {'stage-1': {'valid_loss': 1.0}}}
        return run
    monkeypatch.setattr(cli, 'task_fn', task_fn)
    return cli

def test_lesson_all_runs_every_task_writes_metrics_and_summary(tmp_path, monkeypatch, capsys):
    "`l3 lesson all`: each task in course order with the options given, its own folder and metrics.json, one summary."
    import json
    calls = []
    cli = _fake_tasks(monkeypatch, calls, fail={'camvid'})
    rc = cli.main(['lesson', 'all', '--epochs', '1', '--size', '32', '--bs', '8', '--out', str(tmp_path)])
    assert rc == 1   # a failed task fails the run, after the others have run
    assert [c[0] for c in calls] == list(cli.TASKS) == ['data_block', 'planet', 'camvid', 'head_pose', 'imdb']
    assert all(c[1] == tmp_path/c[0] and c[2]['epochs'] == 1 and c[2]['size'] == 32 and c[2]['bs'] == 8 for c in calls)
    out = capsys.readouterr().out
    summary = out[out.rindex('task '):]
    for task in cli.TASKS:
        m = json.loads((tmp_path/task/'metrics.json').read_text())
        assert task in summary and m['seconds'] >= 0
        if task == 'camvid': assert m['error'] == 'RuntimeError: camvid broke' and 'camvid broke' in summary
        else: assert m['metrics']['score'] == 0.5 and 'error' not in m
    assert 'score=0.5' in summary

def test_lesson_under_torchrun_only_rank0_prints_and_writes(tmp_path, monkeypatch, capsys):
    calls = []
    cli = _fake_tasks(monkeypatch, calls)
    monkeypatch.setenv('RANK', '1')
    assert cli.main(['lesson', 'planet', '--out', str(tmp_path)]) == 0 and calls
    assert capsys.readouterr().out == '' and not (tmp_path/'metrics.json').exists()
    monkeypatch.setenv('RANK', '0')
    assert cli.main(['lesson', 'planet', '--out', str(tmp_path)]) == 0
    assert 'planet' in capsys.readouterr().out and (tmp_path/'metrics.json').exists()

@pytest.mark.slow
def test_lesson_all_tiny_real(tmp_path):
    "The real `l3 lesson all` at the smallest settings (L3_SLOW=1; each task's `run` is also tested by its notebook)."
    import json
    r = l3('lesson', 'all', '--epochs', '1', '--size', '32', '--bs', '8', '--out', str(tmp_path), timeout=1800)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = r.stdout[r.stdout.rindex('task '):]
    for task in ('data_block', 'planet', 'camvid', 'head_pose', 'imdb'):
        m = json.loads((tmp_path/task/'metrics.json').read_text())
        assert 'error' not in m and m['metrics'], (task, m)
        assert task in summary
    assert list(tmp_path.glob('planet/*.png')) and (tmp_path/'planet'/'submission.csv').exists()
