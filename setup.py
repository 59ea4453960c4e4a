"Package metadata read from settings.ini (the nbdev template without pkg_resources)."
from configparser import ConfigParser
import setuptools
import shlex

cfg = ConfigParser(delimiters=['='])
cfg.read('settings.ini', encoding='utf-8')
cfg = cfg['DEFAULT']

def reqs(key): return shlex.split(cfg.get(key, ''))

setuptools.setup(
    name=cfg['lib_name'], version=cfg['version'], description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read() if __import__('os').path.exists('README.md') else '', long_description_content_type='text/markdown',
    author=cfg['author'], author_email=cfg['author_email'], license=cfg['license'], url=cfg['git_url'],
    packages=setuptools.find_packages(include=['l3', 'l3.*']), include_package_data=True,
    package_data={'l3': ['static/*/*']},   # the serve page (l3/static/serve/): HTML, JS, CSS
    python_requires='>=' + cfg['min_python'], install_requires=reqs('requirements'),
    extras_require={'dev': reqs('dev_requirements'), 'bench': reqs('bench_requirements')},
    entry_points={'console_scripts': cfg['console_scripts'].split(),
                  'nbdev': [f'{cfg["lib_path"]}={cfg["lib_path"]}._modidx:d']},
    zip_safe=False)
