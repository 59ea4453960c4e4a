"""tools/check_sync.sh checks what is committed and never touches the working copy.

A learner runs a lesson in Jupyter and saves it (outputs, execution counts, kernel metadata); `make test` must then
pass and leave that file byte-identical. A commit whose notebooks are not exported or not clean must fail, naming
the file and the command that fixes it. Each test works in a small git repository made from this one (settings.ini,
the tools, the index, the core notebook and one lesson, exported and cleaned, committed): `make_repo` below, also
used by tests/test_jupyterlab.py.
"""
import hashlib, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent                      # nbdev_export, nbdev_clean, nbdev_test live beside python
LESSON = 'nbs/lessons/universal_approximation.ipynb'
FILES = ['settings.ini', 'tools/check_sync.sh', 'tools/make_readme.py', 'nbs/index.ipynb', 'nbs/00_core.ipynb', LESSON]
pytestmark = pytest.mark.skipif(shutil.which('git') is None, reason='git is not installed')

def env():
    "The environment `make test` gives the check: the venv's tools first on PATH; no user git hooks or signing."
    return {**{k: v for k, v in os.environ.items() if k != 'IN_TEST'}, 'PATH': f'{BIN}{os.pathsep}{os.environ.get("PATH", "")}', 'GIT_CONFIG_NOSYSTEM': '1',
            'GIT_AUTHOR_NAME': 'l3 test', 'GIT_AUTHOR_EMAIL': 'test@example.org',
            'GIT_COMMITTER_NAME': 'l3 test', 'GIT_COMMITTER_EMAIL': 'test@example.org'}

def sh(cmd, cwd, check=True):
    r = subprocess.run(cmd, cwd=cwd, env=env(), shell=True, capture_output=True, text=True, timeout=300)
    if check: assert r.returncode == 0, f'{cmd} failed in {cwd}:\n{r.stdout}\n{r.stderr}'
    return r

def commit(repo, msg='change'):
    sh(f'git -c core.hooksPath=/dev/null -c commit.gpgsign=false commit -q -a -m "{msg}"', repo)

def make_repo(dest: Path) -> Path:
    "A git repository holding FILES from this checkout, exported, cleaned, README regenerated, committed."
    for f in FILES:
        (dest/f).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(ROOT/f, dest/f)
    sh('nbdev_export && nbdev_clean && python tools/make_readme.py', dest)
    sh('git init -q && git add -A && git -c core.hooksPath=/dev/null -c commit.gpgsign=false commit -q -m base', dest)
    return dest

def save_as_jupyter(path: Path):
    "Write `path` back the way Jupyter saves a run notebook: outputs, execution counts, kernel and cell metadata."
    nb = json.loads(path.read_text(encoding='utf-8'))
    n = 0
    for c in nb['cells']:
        if c['cell_type'] != 'code': continue
        n += 1
        c['execution_count'] = n
        c['metadata'] = {'execution': {'iopub.status.busy': '2026-12-01T09:00:00.000001Z'}, 'scrolled': True}
        c['outputs'] = [{'name': 'stdout', 'output_type': 'stream', 'text': [f'cell {n} ran\n']},
                        {'data': {'text/plain': ['<Figure size 600x300 with 1 Axes>'], 'image/png': 'iVBORw0KGgo=\n'},
                         'execution_count': n, 'metadata': {}, 'output_type': 'execute_result'}]
    nb['metadata'] = {'kernelspec': {'display_name': 'Python 3 (ipykernel)', 'language': 'python', 'name': 'python3'},
                      'language_info': {'name': 'python', 'version': '3.11.2', 'file_extension': '.py'}}
    path.write_text(json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + '\n', encoding='utf-8')

OUTPUTS = {'.git', 'runs', '_build', 'data'}   # not the learner's files: git's own, and what running the lessons writes

def digest(repo: Path) -> dict:
    "sha1 of every file of the working copy (outside .git and the lessons' output folders)."
    return {str(p.relative_to(repo)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(repo.rglob('*')) if p.is_file() and not OUTPUTS & set(p.relative_to(repo).parts)}

def check(repo):
    return sh('bash tools/check_sync.sh', repo, check=False)

@pytest.fixture(scope='module')
def template(tmp_path_factory): return make_repo(tmp_path_factory.mktemp('l3repo'))

@pytest.fixture
def repo(template, tmp_path):
    dest = tmp_path/'repo'; shutil.copytree(template, dest, symlinks=True); return dest

def test_clean_commit_passes(repo):
    r = check(repo)
    assert r.returncode == 0, r.stderr
    assert 'in sync' in r.stdout and 'not part of this check' not in r.stdout

def test_saved_lesson_is_not_touched_and_passes(repo):
    save_as_jupyter(repo/LESSON)
    before, status = digest(repo), sh('git status --porcelain', repo).stdout
    r = check(repo)
    assert r.returncode == 0, f'a saved lesson made the check fail:\n{r.stdout}\n{r.stderr}'
    assert digest(repo) == before, 'the check rewrote a file of the working copy'
    assert sh('git status --porcelain', repo).stdout == status == f' M {LESSON}\n'
    assert '1 changed file(s)' in r.stdout and 'saved outputs are fine' in r.stdout, r.stdout
    assert '"execution_count": 1' in (repo/LESSON).read_text(encoding='utf-8')

def test_committed_unexported_change_fails_naming_the_file(repo):
    nb = json.loads((repo/'nbs/00_core.ipynb').read_text(encoding='utf-8'))
    cell = next(c for c in nb['cells'] if c['cell_type'] == 'code' and ''.join(c['source']).startswith('#| export'))
    cell['source'] = [*cell['source'], '\n', 'def not_exported_yet(): return 1\n']
    (repo/'nbs/00_core.ipynb').write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    commit(repo, 'an export cell changed, nbdev_export not run')
    save_as_jupyter(repo/LESSON)                       # a saved lesson beside it is still left alone
    before = digest(repo)
    r = check(repo)
    assert r.returncode == 1, r.stdout
    assert 'l3/core.py (exported from nbs/00_core.ipynb)' in r.stderr and 'nbdev_export && nbdev_clean' in r.stderr and 'commit' in r.stderr, r.stderr
    assert LESSON not in r.stderr, 'the uncommitted saved lesson was reported'
    assert digest(repo) == before, 'the failing check rewrote a file of the working copy'
    sh(f'git checkout -- {LESSON} && nbdev_export && nbdev_clean', repo); commit(repo, 'exported')  # the fix it names
    assert check(repo).returncode == 0

def test_committed_unclean_notebook_fails_naming_it(repo):
    save_as_jupyter(repo/LESSON); commit(repo, 'lesson committed with outputs and metadata')
    before = digest(repo)
    r = check(repo)
    assert r.returncode == 1 and LESSON in r.stderr and 'nbdev_export && nbdev_clean' in r.stderr, r.stderr
    assert digest(repo) == before

def test_committed_stale_readme_fails(repo):
    nb = json.loads((repo/'nbs/index.ipynb').read_text(encoding='utf-8'))
    nb['cells'][0]['source'] = [*nb['cells'][0]['source'], '\n\nA new sentence.']
    (repo/'nbs/index.ipynb').write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    commit(repo, 'index changed, README not regenerated')
    r = check(repo)
    assert r.returncode == 1 and 'README.md' in r.stderr and 'python tools/make_readme.py' in r.stderr, r.stderr

def test_without_git_it_says_so_and_passes(repo):
    shutil.rmtree(repo/'.git')
    save_as_jupyter(repo/LESSON); before = digest(repo)
    r = check(repo)
    assert r.returncode == 0 and 'skipped' in r.stdout and 'not a git checkout' in r.stdout, r.stdout + r.stderr
    assert digest(repo) == before
