"""Installer for mlops-nb: reads the nbdev 2 settings in settings.ini (one source of truth for metadata and pins)."""
from configparser import ConfigParser
import setuptools


config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

licenses = {'apache2': ('Apache Software License 2.0', 'OSI Approved :: Apache Software License')}
statuses = ['1 - Planning', '2 - Pre-Alpha', '3 - Alpha', '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive']
lic = licenses[cfg['license']]
requirements = cfg.get('requirements', '').split()
dev_requirements = cfg.get('dev_requirements', '').split()
console_scripts = cfg.get('console_scripts', '').split()

setuptools.setup(
    name=cfg['lib_name'],
    version=cfg['version'],
    license=lic[0],
    classifiers=[
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'License :: ' + lic[1],
        'Natural Language :: ' + cfg['language'].title(),
        'Programming Language :: Python :: 3.11',
    ],
    url=cfg['git_url'],
    packages=setuptools.find_packages(include=['mlops_nb', 'mlops_nb.*']),
    include_package_data=True,
    package_data={'mlops_nb': ['toolkit/*.yaml', 'toolkit/stages/*.ipynb']},  # the reference pipeline, for new projects
    # ploomber's Jupyter server extension breaks JupyterLab 4 (every file request answers 500): this file, installed
    # beside ploomber's own ploomber.json and read after it (Jupyter reads the folder in sorted order), turns it off
    data_files=[('etc/jupyter/jupyter_server_config.d',
                 ['jupyter-config/jupyter_server_config.d/ploomber_disabled_by_mlops_nb.json'])],
    install_requires=requirements,
    extras_require={'dev': dev_requirements},
    python_requires='>=' + cfg['min_python'],
    description=cfg['description'],
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    author=cfg['author'],
    author_email=cfg['author_email'],
    keywords=cfg['keywords'],
    zip_safe=False,
    entry_points={'console_scripts': console_scripts, 'nbdev': [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"]},
)
