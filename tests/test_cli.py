"The `l3` console script, run as a user would: help at every level, clear errors for bad names."
import subprocess, sys, shutil
from pathlib import Path
import pytest

def l3(*args, **kw):
    exe = shutil.which('l3') or str(Path(sys.executable).parent/'l3')
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=300, **kw)

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
