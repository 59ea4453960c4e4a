"Package metadata read from settings.ini (the nbdev template without pkg_resources)."
from configparser import ConfigParser
from pathlib import Path
import setuptools
import shlex

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

def reqs(key): return shlex.split(cfg.get(key, ''))

readme = Path('README.md')
setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=readme.read_text(encoding='utf-8') if readme.exists() else '',
    long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license=cfg['license'], url=cfg['git_url'],
    # l3/static/serve/ (the serve page: HTML, JS, CSS) has no __init__.py: a namespace package that holds data, found
    # as one so that setuptools does not warn that it is "absent from the packages configuration"
    packages=setuptools.find_namespace_packages(include=['l3', 'l3.*'], exclude=['*.__pycache__']),
    package_data={'l3.static.serve': ['*.html', '*.js', '*.css']},
    python_requires='>=' + cfg['min_python'], install_requires=reqs('requirements'),
    extras_require={'dev': reqs('dev_requirements'), 'bench': reqs('bench_requirements')},
    entry_points={'console_scripts': cfg['console_scripts'].split(),
                  'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
    zip_safe=False)
